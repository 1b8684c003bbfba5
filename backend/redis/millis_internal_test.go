package redis

import (
	"math"
	"testing"
	"time"
)

// millis rounds up to whole milliseconds without overflowing for the largest
// durations (a TTL of math.MaxInt64 used to wrap negative: Redis then
// refused it as an invalid expire time).
func TestMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Microsecond, 2},
		{time.Hour, 3_600_000},
		{math.MaxInt64, math.MaxInt64/int64(time.Millisecond) + 1},
	} {
		if got := millis(c.d); got != c.want {
			t.Errorf("millis(%d) = %d, want %d", c.d, got, c.want)
		}
	}
}
