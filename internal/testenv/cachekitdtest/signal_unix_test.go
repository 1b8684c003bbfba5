//go:build unix

package cachekitdtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/internal/testenv/cachekitdtest"
)

func TestPauseResume(t *testing.T) {
	t.Parallel()
	d := cachekitdtest.Start(t, cachekitdtest.Config{})
	b := client(t, d, func(o *cachekitio.Options) { o.Timeout = 300 * time.Millisecond })
	roundTrip(t, b, "harness:pause")
	d.Pause()
	if _, _, err := b.Get(context.Background(), "harness:pause"); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("Get from a paused server: %v, want a timeout", err)
	}
	d.Resume()
	b2 := client(t, d, nil)
	roundTrip(t, b2, "harness:pause")
}
