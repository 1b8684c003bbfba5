package dynamodb_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/backendtest"
	"github.com/cachekit-go/cachekit/backend/dynamodb"
	"github.com/cachekit-go/cachekit/internal/clock"
)

func TestConformance(t *testing.T) {
	b := newBackend(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend { return b },
		// Keys of the large-value check are far shorter than 256 bytes.
		backendtest.WithMaxValueSize(b.MaxValueSize(strings.Repeat("k", 256))),
		backendtest.WithMaxKeyLength(dynamodb.MaxKeySize),
		// The ttl attribute holds whole epoch seconds.
		backendtest.WithTTLResolution(time.Second),
	)
}

// putRaw writes an item directly through the SDK, bypassing the backend.
func putRaw(t *testing.T, b *dynamodb.Backend, client *awsddb.Client, key string, value types.AttributeValue, ttl string) {
	t.Helper()
	o := b.Options()
	item := map[string]types.AttributeValue{o.KeyAttribute: &types.AttributeValueMemberS{Value: key}}
	if value != nil {
		item[o.ValueAttribute] = value
	}
	if ttl != "" {
		item[o.TTLAttribute] = &types.AttributeValueMemberN{Value: ttl}
	}
	_, err := client.PutItem(context.Background(), &awsddb.PutItemInput{TableName: aws.String(o.Table), Item: item})
	if err != nil {
		t.Fatalf("raw PutItem: %v", err)
	}
}

// rawItem reads the item physically stored under key, expired or not.
func rawItem(t *testing.T, b *dynamodb.Backend, client *awsddb.Client, key string) map[string]types.AttributeValue {
	t.Helper()
	o := b.Options()
	out, err := client.GetItem(context.Background(), &awsddb.GetItemInput{
		TableName:      aws.String(o.Table),
		Key:            map[string]types.AttributeValue{o.KeyAttribute: &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("raw GetItem: %v", err)
	}
	return out.Item
}

func TestExpiredBeforeDeletionIsMiss(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	client, _ := sharedTable(t)
	ctx := context.Background()
	past := time.Now().Add(-10 * time.Second).Unix()

	tests := []struct {
		name string
		ttl  string
	}{
		{"whole seconds", strconv.FormatInt(past, 10)},
		{"fraction written by another tool", strconv.FormatInt(past, 10) + ".5"},
		{"exponent written by another tool", strconv.FormatFloat(float64(past), 'e', -1, 64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := testKey(t, "expired")
			putRaw(t, b, client, key, &types.AttributeValueMemberB{Value: []byte("stale")}, tc.ttl)

			if v, ok, err := b.Get(ctx, key); err != nil || ok || v != nil {
				t.Errorf("Get = %q, %v, %v; want miss", v, ok, err)
			}
			if ok, err := b.Exists(ctx, key); err != nil || ok {
				t.Errorf("Exists = %v, %v; want false", ok, err)
			}
			if d, ok, err := b.TTL(ctx, key); err != nil || ok || d != 0 {
				t.Errorf("TTL = %v, %v, %v; want not found", d, ok, err)
			}
			if ok, err := b.RefreshTTL(ctx, key, time.Hour); err != nil || ok {
				t.Errorf("RefreshTTL = %v, %v; want false (expired items cannot be revived)", ok, err)
			}
			if ok, err := b.Delete(ctx, key); err != nil || ok {
				t.Errorf("Delete = %v, %v; want false", ok, err)
			}
			// Still physically there: the misses came from the ttl check,
			// not from a deletion.
			if rawItem(t, b, client, key) == nil {
				t.Fatal("expired item vanished from the table; the test proves nothing")
			}
			if err := b.Set(ctx, key, []byte("fresh"), 0); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := b.Get(ctx, key); err != nil || !ok || string(v) != "fresh" {
				t.Errorf("Get after Set = %q, %v, %v; want fresh", v, ok, err)
			}
		})
	}
}

func TestExpiryFollowsClock(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	clk := clock.NewFake(time.Now())
	dynamodb.SetClock(b, clk.Now)
	ctx := context.Background()
	key := testKey(t, "k")

	if err := b.Set(ctx, key, []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	d, ok, err := b.TTL(ctx, key)
	if err != nil || !ok || d != 90*time.Second {
		t.Fatalf("TTL = %v, %v, %v; want 90s (whole seconds, expiry rounded up)", d, ok, err)
	}
	clk.Advance(89*time.Second + 500*time.Millisecond)
	if d, ok, err := b.TTL(ctx, key); err != nil || !ok || d <= 0 || d > time.Second {
		t.Fatalf("TTL in the last second = %v, %v, %v; want exact, in (0, 1s]", d, ok, err)
	}
	clk.Advance(-89*time.Second - 500*time.Millisecond)
	clk.Advance(89 * time.Second)
	if _, ok, err := b.Get(ctx, key); err != nil || !ok {
		t.Fatalf("Get before expiry = %v, %v; want hit", ok, err)
	}
	clk.Advance(2 * time.Second)
	if _, ok, err := b.Get(ctx, key); err != nil || ok {
		t.Fatalf("Get after expiry = %v, %v; want miss", ok, err)
	}
	if ok, err := b.Exists(ctx, key); err != nil || ok {
		t.Fatalf("Exists after expiry = %v, %v; want false", ok, err)
	}
}

func TestTTLInspector(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		key := testKey(t, "missing")
		if d, ok, err := b.TTL(ctx, key); err != nil || ok || d != 0 {
			t.Errorf("TTL = %v, %v, %v; want 0, false, nil", d, ok, err)
		}
		if ok, err := b.RefreshTTL(ctx, key, time.Minute); err != nil || ok {
			t.Errorf("RefreshTTL = %v, %v; want false", ok, err)
		}
		if ok, _ := b.Exists(ctx, key); ok {
			t.Error("RefreshTTL created a missing key")
		}
	})
	t.Run("no expiry, then refresh, then remove expiry", func(t *testing.T) {
		t.Parallel()
		key := testKey(t, "persist")
		if err := b.Set(ctx, key, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if d, ok, err := b.TTL(ctx, key); err != nil || !ok || d != 0 {
			t.Fatalf("TTL = %v, %v, %v; want 0, true (no expiry)", d, ok, err)
		}
		if ok, err := b.RefreshTTL(ctx, key, time.Hour); err != nil || !ok {
			t.Fatalf("RefreshTTL = %v, %v", ok, err)
		}
		if d, ok, err := b.TTL(ctx, key); err != nil || !ok || d < 59*time.Minute || d > time.Hour+time.Second {
			t.Fatalf("TTL after refresh = %v, %v, %v; want about 1h", d, ok, err)
		}
		if ok, err := b.RefreshTTL(ctx, key, 0); err != nil || !ok {
			t.Fatalf("RefreshTTL(0) = %v, %v", ok, err)
		}
		if d, ok, err := b.TTL(ctx, key); err != nil || !ok || d != 0 {
			t.Fatalf("TTL after RefreshTTL(0) = %v, %v, %v; want no expiry", d, ok, err)
		}
		if v, ok, err := b.Get(ctx, key); err != nil || !ok || string(v) != "v" {
			t.Fatalf("RefreshTTL changed the value: %q, %v, %v", v, ok, err)
		}
	})
	t.Run("negative", func(t *testing.T) {
		t.Parallel()
		key := testKey(t, "neg")
		if _, err := b.RefreshTTL(ctx, key, -time.Second); !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("RefreshTTL(-1s) err = %v; want Permanent", err)
		}
		if err := b.Set(ctx, key, []byte("v"), -time.Second); !errors.Is(err, backend.ErrPermanent) {
			t.Errorf("Set(-1s) err = %v; want Permanent", err)
		}
	})
}

func TestLock(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	clk := clock.NewFake(time.Now())
	dynamodb.SetClock(b, clk.Now)
	ctx := context.Background()
	key := testKey(t, "res")

	id1, ok, err := b.AcquireLock(ctx, key, 10*time.Second)
	if err != nil || !ok || id1 == "" {
		t.Fatalf("first AcquireLock = %q, %v, %v", id1, ok, err)
	}
	if id, ok, err := b.AcquireLock(ctx, key, 10*time.Second); err != nil || ok || id != "" {
		t.Fatalf("contested AcquireLock = %q, %v, %v; want \"\", false, nil", id, ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, "not-the-holder"); err != nil || ok {
		t.Fatalf("ReleaseLock(wrong id) = %v, %v; want false", ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, ""); err != nil || ok {
		t.Fatalf("ReleaseLock(empty id) = %v, %v; want false", ok, err)
	}
	// The lock is an item under "<key>:lock" holding the id, like the
	// reference SDKs' Redis locks; the key itself is untouched.
	if v, ok, err := b.Get(ctx, key+dynamodb.LockSuffix); err != nil || !ok || string(v) != id1 {
		t.Fatalf("lock item = %q, %v, %v; want the lock id", v, ok, err)
	}
	if ok, _ := b.Exists(ctx, key); ok {
		t.Fatal("locking created the cache entry itself")
	}
	if ok, err := b.ReleaseLock(ctx, key, id1); err != nil || !ok {
		t.Fatalf("ReleaseLock(holder) = %v, %v; want true", ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id1); err != nil || ok {
		t.Fatalf("second ReleaseLock = %v, %v; want false", ok, err)
	}

	// An expired lock is free for the next caller, and its former holder
	// can no longer release it.
	id2, ok, err := b.AcquireLock(ctx, key, 5*time.Second)
	if err != nil || !ok {
		t.Fatalf("AcquireLock after release = %v, %v", ok, err)
	}
	clk.Advance(7 * time.Second)
	if ok, err := b.ReleaseLock(ctx, key, id2); err != nil || ok {
		t.Fatalf("ReleaseLock of expired lock = %v, %v; want false", ok, err)
	}
	id3, ok, err := b.AcquireLock(ctx, key, 5*time.Second)
	if err != nil || !ok || id3 == id2 {
		t.Fatalf("AcquireLock over expired lock = %q, %v, %v; want a new id", id3, ok, err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id2); err != nil || ok {
		t.Fatalf("old holder released the new lock: %v, %v", ok, err)
	}

	if _, _, err := b.AcquireLock(ctx, key, 0); !errors.Is(err, backend.ErrPermanent) {
		t.Fatalf("AcquireLock(hold 0) err = %v; want Permanent", err)
	}
}

func TestLockConcurrentExactlyOneWins(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	key := testKey(t, "race")

	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, ok, err := b.AcquireLock(ctx, key, 30*time.Second)
			if err != nil {
				t.Errorf("AcquireLock: %v", err)
				return
			}
			if ok {
				mu.Lock()
				wins = append(wins, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d of %d concurrent AcquireLock calls won; want exactly 1", len(wins), n)
	}
	if ok, err := b.ReleaseLock(ctx, key, wins[0]); err != nil || !ok {
		t.Fatalf("winner could not release: %v, %v", ok, err)
	}
}

func TestItemSizeLimit(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	key := testKey(t, "big")
	max := b.MaxValueSize(key)
	if max <= 0 || max >= dynamodb.MaxItemSize {
		t.Fatalf("MaxValueSize = %d", max)
	}

	t.Run("largest accepted value round-trips", func(t *testing.T) {
		v := bytes.Repeat([]byte{0xAB}, max)
		if err := b.Set(ctx, key, v, time.Hour); err != nil {
			t.Fatalf("Set(%d bytes): %v", len(v), err)
		}
		got, ok, err := b.Get(ctx, key)
		if err != nil || !ok || !bytes.Equal(got, v) {
			t.Fatalf("Get = %d bytes, %v, %v", len(got), ok, err)
		}
	})
	for _, size := range []int{max + 1, dynamodb.MaxItemSize, 1 << 20} {
		t.Run("refused "+strconv.Itoa(size), func(t *testing.T) {
			err := b.Set(ctx, key+"x", make([]byte, size), 0)
			var be *backend.Error
			if !errors.As(err, &be) || be.Kind != backend.Permanent || be.Op != "set" || be.Backend != dynamodb.Name {
				t.Fatalf("err = %#v; want a Permanent *backend.Error for set", err)
			}
			if !errors.Is(err, dynamodb.ErrItemTooLarge) {
				t.Fatalf("err = %v; want ErrItemTooLarge", err)
			}
			if ok, _ := b.Exists(ctx, key+"x"); ok {
				t.Fatal("refused value was stored")
			}
		})
	}
}

func TestInvalidKey(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	for _, key := range []string{"", strings.Repeat("k", dynamodb.MaxKeySize+1)} {
		ops := map[string]func() error{
			"get":    func() error { _, _, err := b.Get(ctx, key); return err },
			"set":    func() error { return b.Set(ctx, key, []byte("v"), 0) },
			"delete": func() error { _, err := b.Delete(ctx, key); return err },
			"exists": func() error { _, err := b.Exists(ctx, key); return err },
			"ttl":    func() error { _, _, err := b.TTL(ctx, key); return err },
			"lock":   func() error { _, _, err := b.AcquireLock(ctx, key+strings.Repeat("x", 2048), time.Second); return err },
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, dynamodb.ErrInvalidKey) || !errors.Is(err, backend.ErrPermanent) {
				t.Errorf("%s(key of %d bytes) err = %v; want Permanent ErrInvalidKey", name, len(key), err)
			}
		}
	}
}

func TestEmptyAndNilValues(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	ctx := context.Background()
	for name, v := range map[string][]byte{"nil": nil, "empty": {}} {
		key := testKey(t, name)
		if err := b.Set(ctx, key, v, 0); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
		got, ok, err := b.Get(ctx, key)
		if err != nil || !ok || got == nil || len(got) != 0 {
			t.Fatalf("Get(%s) = %v, %v, %v; want empty non-nil hit", name, got, ok, err)
		}
	}
}

func TestForeignItem(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	client, _ := sharedTable(t)
	ctx := context.Background()

	t.Run("value of the wrong type", func(t *testing.T) {
		key := testKey(t, "str")
		putRaw(t, b, client, key, &types.AttributeValueMemberS{Value: "text"}, "")
		if _, _, err := b.Get(ctx, key); !errors.Is(err, dynamodb.ErrBadItem) || !errors.Is(err, backend.ErrPermanent) {
			t.Fatalf("Get err = %v; want Permanent ErrBadItem", err)
		}
		if ok, err := b.Exists(ctx, key); err != nil || !ok {
			t.Fatalf("Exists = %v, %v; the item exists", ok, err)
		}
	})
	t.Run("no value attribute", func(t *testing.T) {
		key := testKey(t, "none")
		putRaw(t, b, client, key, nil, "")
		if _, _, err := b.Get(ctx, key); !errors.Is(err, dynamodb.ErrBadItem) {
			t.Fatalf("Get err = %v; want ErrBadItem", err)
		}
	})
	t.Run("ttl far in the future", func(t *testing.T) {
		key := testKey(t, "future")
		putRaw(t, b, client, key, &types.AttributeValueMemberB{Value: []byte("v")}, "1e30")
		if v, ok, err := b.Get(ctx, key); err != nil || !ok || string(v) != "v" {
			t.Fatalf("Get = %q, %v, %v; want hit", v, ok, err)
		}
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	client, opts := sharedTable(t)
	ctx := context.Background()

	tests := []struct {
		name string
		opts dynamodb.Options
		want error
		kind backend.Kind
	}{
		{"missing table", dynamodb.Options{Table: uniqueName("absent-")}, nil, backend.Permanent},
		{"wrong key attribute", dynamodb.Options{Table: opts.Table, KeyAttribute: "pk"}, dynamodb.ErrTableMismatch, 0},
		{"bad table name", dynamodb.Options{Table: "a/b"}, dynamodb.ErrInvalidOptions, 0},
		{"duplicate attribute", dynamodb.Options{ValueAttribute: "ttl"}, dynamodb.ErrInvalidOptions, 0},
		{"negative timeout", dynamodb.Options{Timeout: -1}, dynamodb.ErrInvalidOptions, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := dynamodb.New(ctx, client, tc.opts)
			if err == nil || b != nil {
				t.Fatalf("New = %v, %v; want error", b, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
			if tc.kind != 0 && backend.KindOf(err) != tc.kind {
				t.Fatalf("err = %v (kind %v); want kind %v", err, backend.KindOf(err), tc.kind)
			}
		})
	}
	// Options.Timeout bounds the table check; a check that times out is
	// skipped (DynamoDB not answering must not stop a service from
	// starting), and the operations then time out on their own.
	t.Run("table check timed out", func(t *testing.T) {
		t.Parallel()
		b, err := dynamodb.New(ctx, client, dynamodb.Options{Table: opts.Table, Timeout: time.Nanosecond})
		if err != nil {
			t.Fatalf("New with a check that timed out: %v, want success", err)
		}
		if _, _, err := b.Get(ctx, "k"); backend.KindOf(err) != backend.Timeout {
			t.Fatalf("Get with Timeout 1ns: %v, want a Timeout error", err)
		}
	})

	t.Run("skip table check", func(t *testing.T) {
		t.Parallel()
		b, err := dynamodb.New(ctx, client, dynamodb.Options{Table: uniqueName("absent-"), SkipTableCheck: true})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		_, _, err = b.Get(ctx, "k")
		if backend.KindOf(err) != backend.Permanent {
			t.Fatalf("Get on a missing table: %v; want Permanent", err)
		}
	})
	t.Run("nil client", func(t *testing.T) {
		t.Parallel()
		if _, err := dynamodb.New(ctx, nil, dynamodb.Options{}); !errors.Is(err, dynamodb.ErrInvalidOptions) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCustomNames(t *testing.T) {
	t.Parallel()
	client := newClient(t, staticCredentials)
	ctx := context.Background()
	opts := dynamodb.Options{
		Table:        uniqueName("custom-"),
		KeyAttribute: "pk", ValueAttribute: "data", TTLAttribute: "expires_at",
		EventuallyConsistentReads: true,
	}
	if err := dynamodb.CreateTable(ctx, client, opts); err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.CreateTable(ctx, client, opts); err != nil {
		t.Fatalf("second CreateTable (idempotent): %v", err)
	}
	b, err := dynamodb.New(ctx, client, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.Get(ctx, "k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
	item := rawItem(t, b, client, "k")
	if _, ok := item["data"].(*types.AttributeValueMemberB); !ok {
		t.Fatalf("item %v has no Binary attribute data", item)
	}
	if n, ok := item["expires_at"].(*types.AttributeValueMemberN); !ok {
		t.Fatalf("item %v has no Number attribute expires_at", item)
	} else if sec, err := strconv.ParseInt(n.Value, 10, 64); err != nil || sec < time.Now().Unix()+59 || sec > time.Now().Unix()+61 {
		t.Fatalf("expires_at = %q; want epoch seconds about a minute ahead", n.Value)
	}
	if _, ok, err := b.AcquireLock(ctx, "k", time.Second); err != nil || !ok {
		t.Fatalf("AcquireLock = %v, %v", ok, err)
	}
	if err := dynamodb.CreateTable(ctx, client, dynamodb.Options{Table: opts.Table, KeyAttribute: "other"}); !errors.Is(err, dynamodb.ErrTableMismatch) {
		t.Fatalf("CreateTable with another key schema: %v; want ErrTableMismatch", err)
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	client, opts := sharedTable(t)
	ctx := context.Background()

	b := newBackend(t)
	ok, details := b.HealthCheck(ctx)
	if !ok {
		t.Fatalf("HealthCheck = false, %v", details)
	}
	if details[backend.DetailBackendType] != "dynamodb" || details["table"] != opts.Table || details["table_status"] != "ACTIVE" {
		t.Fatalf("details = %v", details)
	}
	if ms, isFloat := details[backend.DetailLatencyMS].(float64); !isFloat || ms < 0 {
		t.Fatalf("latency_ms = %#v", details[backend.DetailLatencyMS])
	}

	missing, err := dynamodb.New(ctx, client, dynamodb.Options{Table: uniqueName("gone-"), SkipTableCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	ok, details = missing.HealthCheck(ctx)
	if ok || details[backend.DetailError] == nil || details[backend.DetailBackendType] != "dynamodb" {
		t.Fatalf("HealthCheck of a missing table = %v, %v; want unhealthy with error", ok, details)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	b := newBackend(t)
	key := testKey(t, "k")

	fast := b.WithTimeout(time.Nanosecond)
	if _, _, err := fast.Get(context.Background(), key); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("Get with 1ns timeout err = %v; want Timeout", err)
	}
	// The receiver is unchanged.
	if _, _, err := b.Get(context.Background(), key); err != nil {
		t.Fatalf("original backend after WithTimeout: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Set(ctx, key, []byte("v"), 0)
	if !errors.Is(err, context.Canceled) || backend.IsTransient(err) {
		t.Fatalf("Set with canceled ctx err = %v; want context.Canceled, not transient", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := b.Exists(ctx, key); !errors.Is(err, backend.ErrTimeout) {
		t.Fatalf("Exists past deadline err = %v; want Timeout", err)
	}
}

func TestAuthenticationErrors(t *testing.T) {
	t.Parallel()
	_, opts := sharedTable(t)
	ctx := context.Background()
	const secret = "s3cr3t-AKIA-do-not-print"

	tests := []struct {
		name  string
		creds aws.CredentialsProvider
	}{
		{"provider fails", aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("cannot read " + secret)
		})},
		// Anonymous credentials send no signature; the server rejects the
		// request with MissingAuthenticationToken.
		{"unsigned request", aws.AnonymousCredentials{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient(t, tc.creds)
			b, err := dynamodb.New(ctx, client, dynamodb.Options{Table: opts.Table, SkipTableCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = b.Get(ctx, "k")
			if !errors.Is(err, backend.ErrAuthentication) {
				t.Fatalf("err = %v; want Authentication", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Authorization") {
				t.Fatalf("error message leaks credentials: %v", err)
			}
			if ok, details := b.HealthCheck(ctx); ok || strings.Contains(details[backend.DetailError].(string), secret) {
				t.Fatalf("HealthCheck = %v, %v", ok, details)
			}
		})
	}
}

// TestNewWithoutServer: New succeeds while nothing answers at the endpoint
// (the table check is skipped with a warning), and operations fail with
// Transient errors.
func TestNewWithoutServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	client := awsddb.New(awsddb.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: staticCredentials})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	b, err := dynamodb.New(ctx, client, dynamodb.Options{Table: "cachekit-absent"})
	t.Logf("New with DynamoDB down: %v after %v", err, time.Since(start))
	if err != nil {
		t.Fatalf("New with DynamoDB down: %v, want success", err)
	}
	if _, _, err := b.Get(ctx, "k"); !backend.IsTransient(err) {
		t.Fatalf("Get with DynamoDB down: %v, want a transient error", err)
	}
}
