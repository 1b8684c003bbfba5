package codec

import (
	"fmt"
	"time"

	"github.com/cachekit-go/cachekit/protocol/internal/encode"
)

// Date is a calendar date without a clock time or zone: the Go side of
// Python's datetime.date. It is written as the sentinel
// {"__date__": true, "value": "YYYY-MM-DD"} and Decode returns it for that
// sentinel, so a date a Python service cached comes back as a date and is
// written back as one (never as a midnight datetime).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String returns d as Python's date.isoformat() prints it: "2025-11-14".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// IsValid reports whether d is a real date Python can hold (years 1..9999).
func (d Date) IsValid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Day() == d.Day
}

// In returns midnight of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// CivilSentinel returns the sentinel key and isoformat value d is written
// as; it marks Date for the encoder.
func (d Date) CivilSentinel() (key, value string, err error) {
	if !d.IsValid() {
		return "", "", fmt.Errorf("%w: invalid date %d-%d-%d", ErrTimeRange, d.Year, int(d.Month), d.Day)
	}
	return "__date__", d.String(), nil
}

// TimeOfDay is a clock time without a date: the Go side of Python's
// datetime.time, at Python's microsecond resolution. A Python time can carry
// a UTC offset ("10:30:00+02:00"): HasOffset says whether it does and
// OffsetSeconds holds it (seconds east of UTC). It is written as the
// sentinel {"__time__": true, "value": "<isoformat>"}, and Decode returns it
// for that sentinel.
type TimeOfDay struct {
	Hour, Minute, Second, Microsecond int
	HasOffset                         bool
	OffsetSeconds                     int
}

// TimeOfDayOf returns the clock time of t (truncated to the microsecond)
// with t's UTC offset.
func TimeOfDayOf(t time.Time) TimeOfDay {
	_, off := t.Zone()
	return TimeOfDay{t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1000, true, off}
}

// IsValid reports whether every field is in range (offsets within a day).
func (t TimeOfDay) IsValid() bool {
	return t.Hour >= 0 && t.Hour < 24 && t.Minute >= 0 && t.Minute < 60 && t.Second >= 0 && t.Second < 60 &&
		t.Microsecond >= 0 && t.Microsecond < 1e6 &&
		(!t.HasOffset || (t.OffsetSeconds > -86400 && t.OffsetSeconds < 86400)) &&
		(t.HasOffset || t.OffsetSeconds == 0)
}

// String returns t as Python's time.isoformat() prints it: "10:30:00",
// ".ffffff" only when the microseconds are not zero, then the offset
// ("+02:00") when t has one.
func (t TimeOfDay) String() string {
	s := fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
	if t.Microsecond != 0 {
		s += fmt.Sprintf(".%06d", t.Microsecond)
	}
	if !t.HasOffset {
		return s
	}
	off, sign := t.OffsetSeconds, '+'
	if off < 0 {
		off, sign = -off, '-'
	}
	s += fmt.Sprintf("%c%02d:%02d", sign, off/3600, off%3600/60)
	if off%60 != 0 {
		s += fmt.Sprintf(":%02d", off%60)
	}
	return s
}

// CivilSentinel returns the sentinel key and isoformat value t is written
// as; it marks TimeOfDay for the encoder.
func (t TimeOfDay) CivilSentinel() (key, value string, err error) {
	if !t.IsValid() {
		return "", "", fmt.Errorf("%w: invalid time of day %+v", ErrTimeRange, t)
	}
	return "__time__", t.String(), nil
}

var (
	_ encode.Civil = Date{}
	_ encode.Civil = TimeOfDay{}
)

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	y, mo, d, ok := parseDate(s)
	if !ok {
		return Date{}, fmt.Errorf("%w: date %q", ErrInvalidTime, s)
	}
	dt := Date{y, time.Month(mo), d}
	if !dt.IsValid() {
		return Date{}, fmt.Errorf("%w: date %q", ErrInvalidTime, s)
	}
	return dt, nil
}

// ParseTimeOfDay parses "HH:MM[:SS[.ffffff]]" with an optional UTC offset,
// as Python's time.isoformat() writes it (digits beyond microseconds are
// truncated, as Python does).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	h, mi, sec, nsec, loc, naive, ok := parseClock(s)
	if !ok {
		return TimeOfDay{}, fmt.Errorf("%w: time %q", ErrInvalidTime, s)
	}
	t := TimeOfDay{Hour: h, Minute: mi, Second: sec, Microsecond: nsec / 1000}
	if !naive {
		_, off := time.Date(1, 1, 1, 0, 0, 0, 0, loc).Zone()
		t.HasOffset, t.OffsetSeconds = true, off
	}
	return t, nil
}
