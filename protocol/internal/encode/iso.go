package encode

import (
	"fmt"
	"time"
)

func checkTime(t time.Time) error {
	if y := t.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: year %d", ErrTimeRange, y)
	}
	if _, off := t.Zone(); off <= -86400 || off >= 86400 {
		return fmt.Errorf("%w: UTC offset of %d s", ErrTimeRange, off)
	}
	return nil
}

// AppendISO appends t exactly as Python's aware datetime.isoformat() prints it:
// "YYYY-MM-DDTHH:MM:SS", then ".ffffff" only when the microseconds are not
// zero, then the UTC offset of t's zone as +HH:MM (+HH:MM:SS when the offset
// has seconds). Nanoseconds below a microsecond are truncated (Python's
// datetime has microsecond resolution). Years outside 1..9999 and offsets of
// a day or more fail with ErrTimeRange.
func AppendISO(b []byte, t time.Time) ([]byte, error) {
	if err := checkTime(t); err != nil {
		return b, err
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = appendDigits(b, us, 6)
	}
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = appendDigits(b, off/3600, 2)
	b = append(b, ':')
	b = appendDigits(b, off%3600/60, 2)
	if off%60 != 0 {
		b = append(b, ':')
		b = appendDigits(b, off%60, 2)
	}
	return b, nil
}

// appendDigits appends non-negative v zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v > 0 || width > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	return append(b, buf[i:]...)
}
