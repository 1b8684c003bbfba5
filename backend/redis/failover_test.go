package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// TestSentinelFailover forces a Sentinel failover and checks that the backend
// follows the new master. It is not parallel: the other Sentinel tests start
// only after it, against the settled new master.
func TestSentinelFailover(t *testing.T) {
	opts := sentinelOptions(t)
	b := open(t, opts)
	sentinel, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: opts.Addrs[:1], ForceSingleClient: true, DisableCache: true})
	if err != nil {
		t.Fatalf("connecting to the Sentinel: %v", err)
	}
	defer sentinel.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	masterAddr := func() string {
		addr, err := sentinel.Do(ctx, sentinel.B().Arbitrary("SENTINEL", "GET-MASTER-ADDR-BY-NAME").Args(opts.MasterName).Build()).AsStrSlice()
		if err != nil || len(addr) != 2 {
			t.Fatalf("SENTINEL GET-MASTER-ADDR-BY-NAME = %v, %v", addr, err)
		}
		return strings.Join(addr, ":")
	}
	key := "failover:" + randText()
	if err := b.Set(ctx, key, []byte("before"), time.Minute); err != nil {
		t.Fatalf("Set before the failover: %v", err)
	}
	before := masterAddr()
	// SENTINEL FAILOVER answers at once and may then abort (no replica good
	// enough yet, e.g. right after start-up or a previous failover): ask
	// again until the master has moved.
	for moved := false; !moved; {
		err := sentinel.Do(ctx, sentinel.B().Arbitrary("SENTINEL", "FAILOVER").Args(opts.MasterName).Build()).Error()
		if err != nil {
			t.Logf("SENTINEL FAILOVER: %v (retrying)", err)
		}
		for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait) && !moved; {
			time.Sleep(100 * time.Millisecond)
			moved = masterAddr() != before
		}
	}
	// Writes fail (READONLY, connection reset) while the client switches,
	// always with a retryable kind, and then succeed on the new master. A
	// write the OLD master accepted just before its demotion is lost when it
	// resyncs from the new one (Redis replicates asynchronously), so success
	// means: the value is on the new master, read through a direct
	// connection to it, and the backend reads it back.
	newMaster := masterAddr()
	direct, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{newMaster}, ForceSingleClient: true, DisableCache: true})
	if err != nil {
		t.Fatalf("connecting to the new master %s: %v", newMaster, err)
	}
	defer direct.Close()
	for attempt := 0; ; attempt++ {
		want := "after-" + randText()
		err := b.Set(ctx, key, []byte(want), time.Minute)
		if err == nil {
			onMaster, _ := direct.Do(ctx, direct.B().Get().Key(key).Build()).ToString()
			v, found, gerr := b.Get(ctx, key)
			if onMaster == want && gerr == nil && found && string(v) == want {
				break
			}
			t.Logf("attempt %d: master has %q, backend read %q %v %v (retrying)", attempt, onMaster, v, found, gerr)
		} else if !backend.IsTransient(err) {
			t.Fatalf("error during the failover is not transient: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the backend never reached the new master %s: %v", newMaster, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("master moved from %s to %s", before, masterAddr())
}
