package codec

import (
	"errors"
	"time"

	"github.com/cachekit-go/cachekit/protocol/internal/encode"
)

// ErrInvalidTime reports text that is not an isoformat date, time or datetime.
var ErrInvalidTime = errors.New("codec: invalid isoformat time")

// FormatTime returns t as Python's aware datetime.isoformat() prints it, the
// form the datetime sentinel carries: "2025-11-14T10:30:00+00:00", with
// ".ffffff" only when the microseconds are not zero.
func FormatTime(t time.Time) (string, error) {
	b, err := encode.AppendISO(nil, t)
	return string(b), err
}

// ParseTime parses a datetime as Python's isoformat() writes it:
// "YYYY-MM-DD", "T" (or a space), "HH:MM[:SS[.f...]]" and an optional offset
// "Z", "+HH:MM[:SS[.ffffff]]" or "+HHMM". A value without offset (a Python
// naive datetime) is returned in UTC; naive reports that it had none.
// Fractional digits beyond microseconds are truncated, as Python does.
func ParseTime(s string) (t time.Time, naive bool, err error) {
	if len(s) < 11 || (s[10] != 'T' && s[10] != ' ') {
		return time.Time{}, false, ErrInvalidTime
	}
	y, mo, d, ok := parseDate(s[:10])
	if !ok {
		return time.Time{}, false, ErrInvalidTime
	}
	h, mi, sec, nsec, loc, naive, ok := parseClock(s[11:])
	if !ok {
		return time.Time{}, false, ErrInvalidTime
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, nsec, loc)
	if t.Day() != d { // time.Date normalizes Feb 30 into March
		return time.Time{}, false, ErrInvalidTime
	}
	return t, naive, nil
}

func num(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func parseDate(s string) (y, mo, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := num(s[:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return y, mo, d, true
}

// parseClock parses "HH:MM[:SS[.f{1,9}]][offset]".
func parseClock(s string) (h, mi, sec, nsec int, loc *time.Location, naive, ok bool) {
	if len(s) < 5 || s[2] != ':' {
		return
	}
	var ok1, ok2 bool
	h, ok1 = num(s[:2])
	mi, ok2 = num(s[3:5])
	if !ok1 || !ok2 || h > 23 || mi > 59 {
		return
	}
	s = s[5:]
	if len(s) >= 3 && s[0] == ':' {
		if sec, ok1 = num(s[1:3]); !ok1 || sec > 59 {
			return
		}
		s = s[3:]
		if len(s) > 1 && s[0] == '.' {
			i := 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			digits := s[1:i]
			if len(digits) == 0 || len(digits) > 9 {
				return
			}
			if len(digits) > 6 { // Python keeps microseconds and truncates the rest
				digits = digits[:6]
			}
			nsec, _ = num(digits)
			for range 9 - len(digits) {
				nsec *= 10
			}
			s = s[i:]
		}
	}
	loc, naive, ok = parseOffset(s)
	return
}

func parseOffset(s string) (loc *time.Location, naive, ok bool) {
	switch {
	case s == "":
		return time.UTC, true, true
	case s == "Z":
		return time.UTC, false, true
	case s[0] != '+' && s[0] != '-':
		return nil, false, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	var hh, mm, ss int
	var ok1, ok2, ok3 bool
	switch {
	case len(s) == 4:
		hh, ok1 = num(s[:2])
		mm, ok2 = num(s[2:])
		ok3 = true
	case len(s) >= 5 && s[2] == ':':
		hh, ok1 = num(s[:2])
		mm, ok2 = num(s[3:5])
		ok3 = true
		rest := s[5:]
		if rest != "" {
			if len(rest) < 3 || rest[0] != ':' {
				return nil, false, false
			}
			ss, ok3 = num(rest[1:3])
			rest = rest[3:]
			if rest != "" { // fractional offset seconds: only ".ffffff", ignored below a second
				if len(rest) != 7 || rest[0] != '.' {
					return nil, false, false
				}
				_, ok3 = num(rest[1:])
			}
		}
	}
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return nil, false, false
	}
	off := sign * (hh*3600 + mm*60 + ss)
	if off == 0 {
		return time.UTC, false, true
	}
	return time.FixedZone("", off), false, true
}
