package redis

import (
	"context"
	"testing"
	"time"
)

// The backend adds its own timeout only when the caller's context does not
// already end within it (the cache bounds every call with a shorter budget).
func TestDeadlineWithin(t *testing.T) {
	if deadlineWithin(context.Background(), time.Second) {
		t.Fatal("no deadline counted as one")
	}
	soon, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if !deadlineWithin(soon, time.Second) {
		t.Fatal("a deadline 100ms away is not within 1s")
	}
	late, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	if deadlineWithin(late, time.Second) {
		t.Fatal("a deadline an hour away counted as within 1s")
	}
}
