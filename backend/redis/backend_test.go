package redis_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/redis"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connectError returns the error of connecting (err from New) or, when the
// connection is made lazily, of the first command; it fails when both worked.
func connectError(t *testing.T, b *redis.Backend, err error) error {
	t.Helper()
	if err == nil {
		defer b.Close()
		_, _, err = b.Get(testCtx(t), "k")
	}
	if err == nil {
		t.Fatal("connecting and the first command both succeeded, want an error")
	}
	t.Logf("error: %v", err)
	return err
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	aclURL := testenv.Require(t, "CACHEKIT_TEST_REDIS_ACL_URL")
	u, err := url.Parse(aclURL)
	if err != nil {
		t.Fatalf("CACHEKIT_TEST_REDIS_ACL_URL: %v", err)
	}
	realPass, _ := u.User.Password()
	const wrongPass = "wrong-Pa55word"
	tests := []struct{ name, url string }{
		{"wrong password", "redis://" + u.User.Username() + ":" + wrongPass + "@" + u.Host},
		{"unknown user", "redis://nobody:" + wrongPass + "@" + u.Host},
		{"no credentials", "redis://" + u.Host}, // the default user is off: NOAUTH
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := redis.NewFromURL(tc.url)
			err = connectError(t, b, err)
			if kind := backend.KindOf(err); kind != backend.Authentication {
				t.Errorf("kind %v, want authentication: %v", kind, err)
			}
			if !errors.Is(err, backend.ErrAuthentication) || backend.IsTransient(err) {
				t.Errorf("errors.Is(ErrAuthentication) = false or transient: %v", err)
			}
			for _, p := range []string{wrongPass, realPass} {
				if strings.Contains(err.Error(), p) {
					t.Errorf("error %q reveals a password", err)
				}
			}
		})
	}
}

func TestUnreachableServerIsTransient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	b, err := redis.New(redis.Options{Addrs: []string{addr}, Password: secret, DialTimeout: time.Second})
	err = connectError(t, b, err)
	if kind := backend.KindOf(err); kind != backend.Transient {
		t.Errorf("kind %v, want transient: %v", kind, err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q reveals the password", err)
	}
}

func TestWrongTypeIsPermanent(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	ctx := testCtx(t)
	key := "wrongtype:" + randText()
	if err := b.Client().Do(ctx, b.Client().B().Lpush().Key(key).Element("x").Build()).Error(); err != nil {
		t.Fatalf("LPUSH: %v", err)
	}
	defer b.Delete(context.Background(), key)
	_, _, err := b.Get(ctx, key)
	var be *backend.Error
	if !errors.As(err, &be) || be.Kind != backend.Permanent || be.Op != "get" || be.Key != key || be.Backend != "redis" {
		t.Fatalf("Get of a list = %#v, want a permanent *backend.Error for op get and the key", err)
	}
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		t.Errorf("the cause %v is not the server's reply", err)
	}
}

func TestHealthDetails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode string
		opts func(t testing.TB) redis.Options
	}{
		{"standalone", standaloneOptions},
		{"cluster", clusterOptions},
		{"sentinel", sentinelOptions},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			b := open(t, tc.opts(t))
			ok, d := b.HealthCheck(testCtx(t))
			if !ok || d[backend.DetailBackendType] != "redis" || d[redis.DetailMode] != tc.mode {
				t.Fatalf("HealthCheck = %v, %v; want healthy redis in mode %s", ok, d, tc.mode)
			}
			if _, isFloat := d[backend.DetailLatencyMS].(float64); !isFloat {
				t.Errorf("latency_ms is %T", d[backend.DetailLatencyMS])
			}
		})
	}
}

func TestHealthCancelled(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	// A health check that cannot run reports unhealthy with an error detail.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, d := b.HealthCheck(ctx)
	if ok || d[backend.DetailError] == nil || d[backend.DetailBackendType] != "redis" {
		t.Fatalf("HealthCheck with a cancelled context = %v, %v; want unhealthy with an error", ok, d)
	}
}

func TestNewFromClient(t *testing.T) {
	t.Parallel()
	addr := testenv.Require(t, "CACHEKIT_TEST_REDIS_ADDR")
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("rueidis.NewClient: %v", err)
	}
	defer client.Close()
	prefix := "fromclient:" + randText() + ":"
	b := redis.NewFromClient(client, redis.Options{KeyPrefix: prefix})
	ctx := testCtx(t)
	if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// The prefix is applied on the wire.
	got, err := client.Do(ctx, client.B().Get().Key(prefix+"k").Build()).ToString()
	if err != nil || got != "v" {
		t.Fatalf("GET %sk = %q, %v", prefix, got, err)
	}
	// Close leaves a client it did not create open.
	b.Close()
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("client closed by Backend.Close: %v", err)
	}
	if _, err := b.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func TestCloseOwnedClient(t *testing.T) {
	t.Parallel()
	b, err := redis.New(standaloneOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	copyWithTimeout := b.WithTimeout(time.Second)
	b.Close()
	_, _, err = copyWithTimeout.Get(testCtx(t), "k")
	if err == nil || backend.KindOf(err) != backend.Transient {
		t.Fatalf("Get after Close = %v, want a transient error", err)
	}
}

func TestExtendLock(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	ctx := testCtx(t)
	key := "extend:" + randText()
	id, ok, err := b.AcquireLock(ctx, key, time.Second)
	if err != nil || !ok {
		t.Fatalf("AcquireLock = %v, %v", ok, err)
	}
	if ok, err := b.ExtendLock(ctx, key, "not-"+id, time.Hour); err != nil || ok {
		t.Fatalf("ExtendLock with a wrong id = %v, %v; want false", ok, err)
	}
	if ok, err := b.ExtendLock(ctx, key, id, time.Hour); err != nil || !ok {
		t.Fatalf("ExtendLock = %v, %v; want true", ok, err)
	}
	pttl, err := b.Client().Do(ctx, b.Client().B().Pttl().Key("{"+key+"}:lock").Build()).AsInt64()
	if err != nil || pttl < int64(59*time.Minute/time.Millisecond) {
		t.Fatalf("PTTL of the extended lock = %d ms, %v; want about an hour", pttl, err)
	}
	if _, err := b.ExtendLock(ctx, key, id, 0); backend.KindOf(err) != backend.Permanent {
		t.Errorf("ExtendLock with hold 0 = %v, want a permanent error", err)
	}
	if ok, err := b.ReleaseLock(ctx, key, id); err != nil || !ok {
		t.Fatalf("ReleaseLock = %v, %v", ok, err)
	}
	if ok, err := b.ExtendLock(ctx, key, id, time.Hour); err != nil || ok {
		t.Fatalf("ExtendLock after release = %v, %v; want false", ok, err)
	}
}

func TestLockHoldMustBePositive(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	for _, hold := range []time.Duration{0, -time.Second} {
		if _, ok, err := b.AcquireLock(testCtx(t), "k", hold); ok || backend.KindOf(err) != backend.Permanent {
			t.Errorf("AcquireLock(hold %v) = %v, %v; want a permanent error", hold, ok, err)
		}
	}
}

func TestRefreshTTLZeroRemovesExpiry(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	ctx := testCtx(t)
	key := "persist:" + randText()
	if err := b.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer b.Delete(context.Background(), key)
	if ok, err := b.RefreshTTL(ctx, key, 0); err != nil || !ok {
		t.Fatalf("RefreshTTL(0) = %v, %v", ok, err)
	}
	if rem, found, err := b.TTL(ctx, key); err != nil || !found || rem != 0 {
		t.Fatalf("TTL after RefreshTTL(0) = %v, %v, %v; want (0, true)", rem, found, err)
	}
	// Also for a key that already had no expiry, and false for a missing one.
	if ok, err := b.RefreshTTL(ctx, key, 0); err != nil || !ok {
		t.Fatalf("second RefreshTTL(0) = %v, %v", ok, err)
	}
	if ok, err := b.RefreshTTL(ctx, key+":missing", 0); err != nil || ok {
		t.Fatalf("RefreshTTL(0) of a missing key = %v, %v", ok, err)
	}
}

func TestSubMillisecondTTL(t *testing.T) {
	t.Parallel()
	b := open(t, standaloneOptions(t))
	ctx := testCtx(t)
	key := "submilli:" + randText()
	// Rounded up to 1 ms, never sent as PX 0 (which Redis rejects).
	if err := b.Set(ctx, key, []byte("v"), time.Microsecond); err != nil {
		t.Fatalf("Set with ttl 1µs: %v", err)
	}
}
