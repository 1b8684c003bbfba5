package cachekit

import (
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/cachekitio"
	"github.com/cachekit-go/cachekit/backend/file"
	"github.com/cachekit-go/cachekit/backend/memcached"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/backend/redis"
)

// Each backend of this module asks for its documented read budget
// (backend.ReadBudgeter); a backend that does not (here one of the user's
// own, wrapping a memory backend) gets DefaultReadBudget.
func TestDefaultReadBudgetPerBackend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		b    backend.Backend
		want time.Duration
	}{
		{"redis", (*redis.Backend)(nil), DefaultLocalReadBudget},
		{"memcached", (*memcached.Backend)(nil), DefaultLocalReadBudget},
		{"memory", (*memory.Backend)(nil), DefaultLocalReadBudget},
		{"file", (*file.Backend)(nil), DefaultLocalReadBudget},
		{"cachekitio", (*cachekitio.Backend)(nil), DefaultHTTPReadBudget},
		{"user's own", struct{ backend.Backend }{memory.New(memory.Options{})}, DefaultReadBudget},
	} {
		if got := defaultReadBudget(tc.b); got != tc.want {
			t.Errorf("%s: default read budget %v, want %v", tc.name, got, tc.want)
		}
	}
}
