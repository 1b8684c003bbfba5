package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/dynamodb"
)

// countingScans is the SDK client with a counter of Scan calls (the real
// server answers them).
type countingScans struct {
	*awsddb.Client
	scans atomic.Int32
}

func (c *countingScans) Scan(ctx context.Context, in *awsddb.ScanInput, optFns ...func(*awsddb.Options)) (*awsddb.ScanOutput, error) {
	c.scans.Add(1)
	return c.Client.Scan(ctx, in, optFns...)
}

// TestDeletePrefixPages fills more than one 1 MB Scan page under the prefix
// and checks that every page is walked.
func TestDeletePrefixPages(t *testing.T) {
	t.Parallel()
	client, opts := sharedTable(t)
	cc := &countingScans{Client: client}
	b, err := dynamodb.New(context.Background(), cc, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prefix := testKey(t, "p:")
	value := make([]byte, 30<<10)
	const n = 40 // 1.2 MB
	for i := range n {
		if err := b.Set(ctx, prefix+strconv.Itoa(i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := b.DeletePrefix(ctx, prefix)
	if err != nil || removed != n {
		t.Fatalf("DeletePrefix = (%d, %v), want (%d, nil)", removed, err, n)
	}
	if s := cc.scans.Load(); s < 2 {
		t.Errorf("%d Scan calls for more than 1 MB of items, want at least 2 pages", s)
	}
	for i := range n {
		if item := rawItem(t, b, client, prefix+strconv.Itoa(i)); item != nil {
			t.Fatalf("item %d survived", i)
		}
	}
}

// TestDeletePrefixExpired checks that expired items still stored are
// removed but not counted.
func TestDeletePrefixExpired(t *testing.T) {
	t.Parallel()
	client, _ := sharedTable(t)
	b := newBackend(t)
	ctx := context.Background()
	prefix := testKey(t, "p:")
	for i, ttl := range []time.Duration{time.Minute, time.Minute, time.Hour, 0} {
		if err := b.Set(ctx, fmt.Sprintf("%s%d", prefix, i), []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	// Ten minutes later the two one-minute entries have expired, but the
	// server (which never sweeps) still holds them.
	dynamodb.SetClock(b, func() time.Time { return time.Now().Add(10 * time.Minute) })
	removed, err := b.DeletePrefix(ctx, prefix)
	if err != nil || removed != 2 {
		t.Fatalf("DeletePrefix = (%d, %v), want (2, nil): only unexpired entries count", removed, err)
	}
	for i := range 4 {
		if item := rawItem(t, b, client, fmt.Sprintf("%s%d", prefix, i)); item != nil {
			t.Errorf("item %d survived", i)
		}
	}
}

// noScan hides the Scan and BatchWriteItem methods of the SDK client.
type noScan struct{ dynamodb.Client }

func TestDeletePrefixNeedsScanClient(t *testing.T) {
	t.Parallel()
	client, opts := sharedTable(t)
	b, err := dynamodb.New(context.Background(), noScan{client}, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.DeletePrefix(context.Background(), "p:")
	if !errors.Is(err, errors.ErrUnsupported) || backend.KindOf(err) != backend.Permanent {
		t.Fatalf("DeletePrefix through a client without Scan = %v, want a permanent error matching errors.ErrUnsupported", err)
	}
}
