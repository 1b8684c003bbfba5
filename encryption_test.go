package cachekit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/internal/secure"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/secret"
)

// loadVectors reads a file of the published test vectors (testdata/vectors
// from the repository root); a missing file fails the test.
func loadVectors(t *testing.T, name string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatalf("test vectors missing: %v", err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}

// hexKey is a 32-byte master key of one repeated byte, in hex.
func hexKey(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

var (
	keyOne = hexKey(0x11)
	keyTwo = hexKey(0x22)
)

type tenantCtxKey struct{}

var errNoTenant = errors.New("no tenant in context")

func withTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantCtxKey{}, tenant)
}

func tenantOf(ctx context.Context) (string, error) {
	if t, _ := ctx.Value(tenantCtxKey{}).(string); t != "" {
		return t, nil
	}
	return "", errNoTenant
}

// encKinds are the backends the encryption suite runs against: always the
// memory and file backends, and a real Redis (required under CI=true).
func encKinds() []backendKind { return []backendKind{memoryKind(), fileKind(), redisKind()} }

// TestEncryptionSuite runs the encryption behaviour through the cache against
// real backends: what is stored, what is rejected, rotation and tenants.
func TestEncryptionSuite(t *testing.T) {
	t.Parallel()
	for _, k := range encKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			runEncryptionSuite(t, k.make)
		})
	}
}

// storedAt returns the bytes the backend holds under key.
func storedAt(t *testing.T, b backend.Backend, key string) []byte {
	t.Helper()
	flushBackend(t, b)
	data, found, err := b.Get(context.Background(), key)
	if err != nil || !found {
		t.Fatalf("backend entry %q: found=%v err=%v", key, found, err)
	}
	return data
}

// openStoredFrame decrypts an auto-mode entry with protocol/crypto alone, the
// way a Python @cache.secure reader does, and returns the MessagePack
// document.
func openStoredFrame(t *testing.T, stored []byte, master, tenant, logicalKey string) []byte {
	t.Helper()
	h, payload, err := frame.Decode(stored)
	if err != nil {
		t.Fatalf("stored entry is not a CK frame: %v", err)
	}
	if !h.Encrypted || h.TenantID != tenant || h.EncryptionAlgorithm != frame.AlgorithmAESGCM || h.OriginalType != "msgpack" {
		t.Fatalf("frame header %+v", h)
	}
	mk, err := crypto.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	a, err := crypto.NewTenantAEAD(mk, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if h.KeyFingerprint != a.Fingerprint() {
		t.Fatalf("fingerprint %s, want %s", h.KeyFingerprint, a.Fingerprint())
	}
	pt, err := a.Open(payload, crypto.AAD(tenant, logicalKey, h.Format, h.Compressed, h.OriginalType))
	if err != nil {
		t.Fatalf("decrypt with the logical key: %v", err)
	}
	if !h.Compressed {
		return pt
	}
	doc, err := envelope.Unpack(pt)
	if err != nil {
		t.Fatalf("decrypted payload is not an envelope: %v", err)
	}
	return doc
}

// secretRecord is a result whose bytes the tests look for in the backend.
type secretRecord struct {
	Owner  string `msgpack:"owner"`
	Secret string `msgpack:"secret"`
}

func runEncryptionSuite(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	ctx := context.Background()
	newCache, wrap := newTestCache, wrapCounter
	call := func(t *testing.T, ctx context.Context, f *Func1[int, string], n int) string {
		t.Helper()
		v, err := f.Call(ctx, n)
		if err != nil {
			t.Fatalf("Call(%d): %v", n, err)
		}
		return v
	}
	need := func(t *testing.T) backend.Backend {
		t.Helper()
		b := newBackend(t)
		if b == nil {
			t.Skip("no backend")
		}
		return b
	}

	t.Run("no plaintext in the backend", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name    string
			opts    []Option
			interop bool
			plain   bool // control: encryption off, the secret must be found
		}{
			{name: "control: no encryption", opts: []Option{Minimal()}, plain: true},
			{name: "integrity on", opts: []Option{WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "acme"})}},
			{name: "integrity off", opts: []Option{Minimal(), WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "acme"})}},
			{name: "secure preset", opts: []Option{Secure(), WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "acme"})}},
			{name: "multi-tenant", opts: []Option{WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf})}},
			{name: "interop", interop: true, opts: []Option{WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "acme"})}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := need(t)
				ctx := withTenant(ctx, "acme")
				secret := "s3cret-" + strings.Repeat("x", 40) + uniq(t)
				fn := func(_ context.Context, id int) (secretRecord, error) {
					return secretRecord{Owner: fmt.Sprint(id), Secret: secret}, nil
				}
				fopt := Name(uniq(t))
				if tt.interop {
					fopt = Interop(fmt.Sprintf("ns%d", uniqSeq.Add(1)+time.Now().UnixNano()%1e9), "op")
				}
				f, err := Wrap1(newCache(t, b, tt.opts...), fn, fopt)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Call(ctx, 7); err != nil {
					t.Fatal(err)
				}
				logical, _ := f.Key(7)
				physical := logical
				if strings.Contains(tt.name, "multi-tenant") {
					physical = secure.PhysicalKey("acme", logical)
				}
				stored := storedAt(t, b, physical)
				if found := bytes.Contains(stored, []byte(secret)); found != tt.plain {
					t.Fatalf("secret in the stored bytes: %v, want %v", found, tt.plain)
				}
				if tt.plain {
					return
				}
				if bytes.Contains(stored, []byte("s3cret-")) || bytes.Contains([]byte(physical), []byte("s3cret")) {
					t.Fatal("part of the value reached the backend in clear")
				}
				if !tt.interop {
					doc := openStoredFrame(t, stored, keyOne, "acme", logical)
					if !bytes.Contains(doc, []byte(secret)) {
						t.Fatal("decrypted document does not hold the value")
					}
				}
				// Another process reads it back.
				g, err := Wrap1(newCache(t, b, tt.opts...), fn, fopt)
				if err != nil {
					t.Fatal(err)
				}
				v, err := g.Call(ctx, 7)
				if err != nil || v.Secret != secret {
					t.Fatalf("read back: %v", err)
				}
				if i := g.Info(); i.L2Hits != 1 || !i.Encryption.Enabled || !slices.Equal(i.Encryption.Reads, []uint64{1}) {
					t.Fatalf("info %+v", i)
				}
			})
		}
	})

	for _, failClosed := range []bool{false, true} {
		policyName := map[bool]string{false: "fail-open", true: "fail-closed"}[failClosed]

		t.Run("ciphertext moved to another key/"+policyName, func(t *testing.T) {
			t.Parallel()
			b := need(t)
			enc := Encryption{MasterKey: secret.String(keyOne), Tenant: "acme", FailClosed: failClosed}
			name := Name(uniq(t))
			var cnt counter
			w := wrap(t, newCache(t, b, WithEncryption(enc)), &cnt, name)
			call(t, ctx, w, 1)
			call(t, ctx, w, 2)
			k1, _ := w.Key(1)
			k2, _ := w.Key(2)
			moved := storedAt(t, b, k1)
			if err := b.Set(ctx, k2, moved, time.Hour); err != nil {
				t.Fatal(err)
			}

			var fail atomic.Bool
			var calls atomic.Int32
			c := newCache(t, b, WithEncryption(enc))
			r, err := Wrap1(c, func(_ context.Context, n int) (string, error) {
				calls.Add(1)
				if fail.Load() {
					return "", errors.New("source down")
				}
				return fmt.Sprintf("v0:%d", n), nil
			}, name)
			if err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			_, err = r.Call(ctx, 2)
			if got := c.Info().Encryption.Failures; got.Tamper != 1 || got.Total() != 1 {
				t.Fatalf("failures %+v", got)
			}
			if failClosed {
				if !errors.Is(err, ErrDecrypt) || !errors.Is(err, ErrDecryptTamper) || errors.Is(err, ErrDecryptWrongKey) {
					t.Fatalf("error %v", err)
				}
				if calls.Load() != 0 {
					t.Fatal("the function ran although the cache fails closed")
				}
				if !bytes.Equal(storedAt(t, b, k2), moved) {
					t.Fatal("the evidence was not kept")
				}
				// The direct API applies the same policy.
				if _, _, err := Get[string](ctx, c, k2); !errors.Is(err, ErrDecryptTamper) {
					t.Fatalf("Get: %v", err)
				}
				return
			}
			// Fail-open: a miss; the entry was evicted before the (failing)
			// recomputation, then the next call recomputes and stores.
			if err == nil || errors.Is(err, ErrDecrypt) || calls.Load() != 1 {
				t.Fatalf("error %v after %d calls", err, calls.Load())
			}
			if ok, err := b.Exists(ctx, k2); ok || err != nil {
				t.Fatalf("rejected entry not evicted: %v %v", ok, err)
			}
			fail.Store(false)
			if v := call(t, ctx, r, 2); v != "v0:2" || calls.Load() != 2 {
				t.Fatalf("recomputed %q after %d calls", v, calls.Load())
			}
			if doc := openStoredFrame(t, storedAt(t, b, k2), keyOne, "acme", k2); len(doc) == 0 {
				t.Fatal("empty document")
			}
			// Direct API, fail-open: the moved entry is reported missing and evicted.
			if err := b.Set(ctx, k2, moved, time.Hour); err != nil {
				t.Fatal(err)
			}
			c2 := newCache(t, b, WithEncryption(enc))
			if _, found, err := Get[string](ctx, c2, k2); found || err != nil {
				t.Fatalf("Get of a moved entry: found=%v err=%v", found, err)
			}
			if ok, _ := b.Exists(ctx, k2); ok {
				t.Fatal("Get did not evict the moved entry")
			}
			if i := c2.Info(); i.Encryption.Failures.Tamper != 1 || i.DecodeErrors != 1 {
				t.Fatalf("info %+v", i)
			}
		})

		t.Run("ciphertext moved to another tenant/"+policyName, func(t *testing.T) {
			t.Parallel()
			b := need(t)
			enc := Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf, FailClosed: failClosed}
			name := Name(uniq(t))
			var cnt counter
			w := wrap(t, newCache(t, b, WithEncryption(enc)), &cnt, name)
			ctxA, ctxB := withTenant(ctx, "tenant-a"), withTenant(ctx, "tenant-b")
			call(t, ctxA, w, 1)
			call(t, ctxB, w, 1)
			logical, _ := w.Key(1)
			pa, pb := secure.PhysicalKey("tenant-a", logical), secure.PhysicalKey("tenant-b", logical)
			fromA := storedAt(t, b, pa)

			// As is, the frame names tenant-a. With the header's tenant
			// rewritten, the fingerprint names a key tenant-b does not have;
			// with the fingerprint rewritten too, tenant-b's key is tried and
			// authentication fails: the AAD still binds tenant-a.
			h, payload, err := frame.Decode(fromA)
			if err != nil {
				t.Fatal(err)
			}
			h.TenantID = "tenant-b"
			relabelled, err := frame.Encode(h, payload)
			if err != nil {
				t.Fatal(err)
			}
			mk, _ := crypto.ParseMasterKey(keyOne)
			ab, err := crypto.NewTenantAEAD(mk, "tenant-b")
			if err != nil {
				t.Fatal(err)
			}
			h.KeyFingerprint = ab.Fingerprint()
			forged, err := frame.Encode(h, payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name   string
				stored []byte
				want   error
				count  func(DecryptFailures) uint64
			}{
				{"copied", fromA, ErrDecryptWrongTenant, func(f DecryptFailures) uint64 { return f.WrongTenant }},
				{"tenant relabelled", relabelled, ErrDecryptWrongKey, func(f DecryptFailures) uint64 { return f.WrongKey }},
				{"tenant and fingerprint forged", forged, ErrDecryptTamper, func(f DecryptFailures) uint64 { return f.Tamper }},
			} {
				if err := b.Set(ctx, pb, tc.stored, time.Hour); err != nil {
					t.Fatal(err)
				}
				var rc counter
				c := newCache(t, b, WithEncryption(enc))
				r := wrap(t, c, &rc, name)
				v, err := r.Call(ctxB, 1)
				if n := tc.count(c.Info().Encryption.Failures); n != 1 {
					t.Fatalf("%s: failures %+v", tc.name, c.Info().Encryption.Failures)
				}
				if failClosed {
					if !errors.Is(err, tc.want) || rc.calls.Load() != 0 || !bytes.Equal(storedAt(t, b, pb), tc.stored) {
						t.Fatalf("%s: err %v, calls %d", tc.name, err, rc.calls.Load())
					}
					continue
				}
				if err != nil || v != "v0:1" || rc.calls.Load() != 1 {
					t.Fatalf("%s: %q %v, calls %d", tc.name, v, err, rc.calls.Load())
				}
				if doc := openStoredFrame(t, storedAt(t, b, pb), keyOne, "tenant-b", logical); len(doc) == 0 {
					t.Fatalf("%s: not recomputed for tenant-b", tc.name)
				}
			}
			// Tenant A's entry is untouched throughout.
			if !bytes.Equal(storedAt(t, b, pa), fromA) {
				t.Fatal("tenant-a's entry changed")
			}
		})

		t.Run("plaintext under encryption/"+policyName, func(t *testing.T) {
			t.Parallel()
			b := need(t)
			enc := Encryption{MasterKey: secret.String(keyOne), Tenant: "acme", FailClosed: failClosed}
			for _, interop := range []bool{false, true} {
				fopt := Name(uniq(t))
				if interop {
					fopt = Interop(fmt.Sprintf("p%d", uniqSeq.Add(1)+time.Now().UnixNano()%1e9), "op")
				}
				var wc counter
				w := wrap(t, newCache(t, b), &wc, fopt)
				call(t, ctx, w, 3)
				k, _ := w.Key(3)
				plain := storedAt(t, b, k)

				var rc counter
				c := newCache(t, b, WithEncryption(enc))
				r := wrap(t, c, &rc, fopt)
				v, err := r.Call(ctx, 3)
				if f := c.Info().Encryption.Failures; f.Plaintext != 1 || f.Total() != 1 {
					t.Fatalf("interop=%v: failures %+v", interop, f)
				}
				if failClosed {
					if !errors.Is(err, ErrDecryptPlaintext) || rc.calls.Load() != 0 || !bytes.Equal(storedAt(t, b, k), plain) {
						t.Fatalf("interop=%v: err %v, calls %d", interop, err, rc.calls.Load())
					}
					continue
				}
				if err != nil || v != "v0:3" || rc.calls.Load() != 1 {
					t.Fatalf("interop=%v: %q %v, calls %d", interop, v, err, rc.calls.Load())
				}
				now := storedAt(t, b, k)
				if bytes.Equal(now, plain) || bytes.Contains(now, []byte("v0:3")) {
					t.Fatalf("interop=%v: the plaintext entry was not replaced by an encrypted one", interop)
				}
			}
		})
	}

	t.Run("multi-tenant isolation", func(t *testing.T) {
		t.Parallel()
		b := need(t)
		c := newCache(t, b, WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf}))
		var calls atomic.Int32
		f, err := Wrap1(c, func(ctx context.Context, id int) (string, error) {
			calls.Add(1)
			t, _ := tenantOf(ctx)
			return fmt.Sprintf("%s sees %d", t, id), nil
		}, Name(uniq(t)))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second round is answered by L1, keyed per tenant
			for _, tenant := range []string{"org:1", "org:2"} {
				v, err := f.Call(withTenant(ctx, tenant), 42)
				if err != nil || v != tenant+" sees 42" {
					t.Fatalf("tenant %s got %q %v", tenant, v, err)
				}
			}
		}
		if calls.Load() != 2 {
			t.Fatalf("function ran %d times for two tenants", calls.Load())
		}
		if i := f.Info(); i.L1Hits != 2 || i.Misses != 2 {
			t.Fatalf("info %+v", i)
		}
		logical, _ := f.Key(42)
		p1, p2 := secure.PhysicalKey("org:1", logical), secure.PhysicalKey("org:2", logical)
		if p1 == p2 || !strings.HasPrefix(p1, "t:org%3A1:") {
			t.Fatalf("physical keys %q %q", p1, p2)
		}
		openStoredFrame(t, storedAt(t, b, p1), keyOne, "org:1", logical)
		openStoredFrame(t, storedAt(t, b, p2), keyOne, "org:2", logical)
		if ok, _ := b.Exists(ctx, logical); ok {
			t.Fatal("an entry was stored under the bare logical key")
		}
		// A fresh process reads each tenant's own entry from the backend.
		var rc counter
		g := wrap(t, newCache(t, b, WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf})), &rc, Name(f.Name()))
		if v := call(t, withTenant(ctx, "org:2"), g, 42); v != "org:2 sees 42" || rc.calls.Load() != 0 {
			t.Fatalf("fresh reader got %q", v)
		}
		// No tenant: the call fails and the function does not run.
		if _, err := f.Call(ctx, 42); !errors.Is(err, ErrTenant) || !errors.Is(err, errNoTenant) {
			t.Fatalf("no tenant: %v", err)
		}
		if calls.Load() != 2 {
			t.Fatal("the function ran without a tenant")
		}
		// Invalidate and the direct API act on the calling tenant's entry only.
		if err := f.Invalidate(withTenant(ctx, "org:1"), 42); err != nil {
			t.Fatal(err)
		}
		if ok, _ := b.Exists(ctx, p1); ok {
			t.Fatal("Invalidate left org:1's entry")
		}
		if ok, _ := c.Exists(withTenant(ctx, "org:2"), logical); !ok {
			t.Fatal("Invalidate for org:1 removed org:2's entry")
		}
		if err := c.Set(withTenant(ctx, "org:3"), "direct", "v", time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := Get[string](withTenant(ctx, "org:4"), c, "direct"); found {
			t.Fatal("org:4 read org:3's direct entry")
		}
		if v, found, err := Get[string](withTenant(ctx, "org:3"), c, "direct"); !found || err != nil || v != "v" {
			t.Fatalf("org:3 Get: %q %v %v", v, found, err)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		t.Parallel()
		b := need(t)
		name := Name(uniq(t))
		oldOnly := WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "acme"})
		rotating := WithEncryption(Encryption{MasterKey: secret.String(keyTwo), PreviousKeys: []secret.String{secret.String(keyOne)}, Tenant: "acme"})
		newOnly := WithEncryption(Encryption{MasterKey: secret.String(keyTwo), Tenant: "acme"})

		var cnt counter
		old := wrap(t, newCache(t, b, Secure(), oldOnly), &cnt, name)
		call(t, ctx, old, 1) // written with the old key
		k1, _ := old.Key(1)
		k2, _ := old.Key(2)

		rc := newCache(t, b, Secure(), rotating)
		rot := wrap(t, rc, &cnt, name)
		call(t, ctx, rot, 1) // read with the previous key
		call(t, ctx, rot, 2) // written with the new key
		if i := rc.Info().Encryption; !slices.Equal(i.Reads, []uint64{0, 1}) || i.Encryptions != 1 || i.Failures.Total() != 0 {
			t.Fatalf("rotating reader %+v", i)
		}
		if cnt.calls.Load() != 2 {
			t.Fatalf("function ran %d times", cnt.calls.Load())
		}
		openStoredFrame(t, storedAt(t, b, k2), keyTwo, "acme", k2)
		openStoredFrame(t, storedAt(t, b, k1), keyOne, "acme", k1)

		rc2 := newCache(t, b, Secure(), rotating)
		call(t, ctx, wrap(t, rc2, &cnt, name), 2)
		if i := rc2.Info().Encryption; !slices.Equal(i.Reads, []uint64{1, 0}) {
			t.Fatalf("new entry not read with the current key: %+v", i)
		}

		// The old key dropped: the new entry still reads, the old one is a
		// wrong-key miss, evicted and recomputed under the new key.
		nc := newCache(t, b, Secure(), newOnly)
		nw := wrap(t, nc, &cnt, name)
		call(t, ctx, nw, 2)
		if v := call(t, ctx, nw, 1); v != "v0:1" || cnt.calls.Load() != 3 {
			t.Fatalf("old entry: %q after %d calls", v, cnt.calls.Load())
		}
		if i := nc.Info().Encryption; !slices.Equal(i.Reads, []uint64{1}) || i.Failures.WrongKey != 1 || i.Failures.Total() != 1 {
			t.Fatalf("after dropping the old key %+v", i)
		}
		openStoredFrame(t, storedAt(t, b, k1), keyTwo, "acme", k1)

		// Interop values carry no fingerprint: current key first, then previous.
		iop := Interop(fmt.Sprintf("r%d", uniqSeq.Add(1)+time.Now().UnixNano()%1e9), "op")
		call(t, ctx, wrap(t, newCache(t, b, oldOnly), &cnt, iop), 5)
		ic := newCache(t, b, rotating)
		call(t, ctx, wrap(t, ic, &cnt, iop), 5)
		if i := ic.Info().Encryption; !slices.Equal(i.Reads, []uint64{0, 1}) {
			t.Fatalf("interop read by the previous key: %+v", i)
		}
	})
}

// The interop encryption vector of interop-mode.json, end to end: a wrapped
// interop function with the vector's master key, tenant and nonce stores
// exactly the vector's bytes, and they decrypt with protocol/crypto alone.
func TestInteropEncryptionVector(t *testing.T) {
	t.Parallel()
	var iv struct {
		Enc []struct {
			Master      string `json:"master_key_hex"`
			Tenant      string `json:"tenant_id"`
			Fingerprint string `json:"derived_key_fingerprint_hex"`
			Key         string `json:"cache_key"`
			AAD         string `json:"aad_hex"`
			Plaintext   string `json:"plaintext_hex"`
			Nonce       string `json:"nonce_hex"`
			Ciphertext  string `json:"ciphertext_hex"`
		} `json:"encryption_vectors"`
	}
	loadVectors(t, "interop-mode.json", &iv)
	if len(iv.Enc) != 1 {
		t.Fatalf("%d encryption vectors", len(iv.Enc))
	}
	v := iv.Enc[0]
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var nonce [crypto.NonceSize]byte
	copy(nonce[:], unhex(v.Nonce))
	mem := memory.New(memory.Options{})
	enc := WithEncryption(Encryption{MasterKey: secret.String(v.Master), Tenant: v.Tenant})
	c, err := New(WithBackend(mem), quiet(), enc,
		withSecureConfig(func(sc *secure.Config) { sc.NonceSource = func() [crypto.NonceSize]byte { return nonce } }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	getUser := func(_ context.Context, id int) (map[string]any, error) {
		return map[string]any{"name": "alice", "age": 30}, nil
	}
	f, err := Wrap1(c, getUser, Interop("users", "get_user"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.Call(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if k, _ := f.Key(42); k != v.Key {
		t.Fatalf("key %q, vector %q", k, v.Key)
	}
	stored := storedAt(t, mem, v.Key)
	if !bytes.Equal(stored, unhex(v.Ciphertext)) {
		t.Fatalf("stored % x\nvector % x", stored, unhex(v.Ciphertext))
	}
	// Decrypt the stored bytes with protocol/crypto alone.
	mk, _ := crypto.ParseMasterKey(v.Master)
	a, err := crypto.NewTenantAEAD(mk, v.Tenant)
	if err != nil || a.Fingerprint() != v.Fingerprint {
		t.Fatalf("aead %v, fingerprint %s", err, a.Fingerprint())
	}
	aad := crypto.AAD(v.Tenant, v.Key, "msgpack", false, "")
	if !bytes.Equal(aad, unhex(v.AAD)) {
		t.Fatal("AAD differs from the vector")
	}
	pt, err := a.Open(stored, aad)
	if err != nil || !bytes.Equal(pt, unhex(v.Plaintext)) {
		t.Fatalf("plaintext % x, %v", pt, err)
	}
	// Another process (random nonces) reads the vector's bytes.
	c2, err := New(WithBackend(mem), quiet(), enc)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	g, _ := Wrap1(c2, getUser, Interop("users", "get_user"))
	got, err := g.Call(ctx, 42)
	if err != nil || got["name"] != "alice" || g.Info().L2Hits != 1 {
		t.Fatalf("read back %v %v %+v", got, err, g.Info())
	}
}

func TestEncryptionFromEnv(t *testing.T) {
	t.Parallel()
	const uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	baseEnv := map[string]string{EnvMasterKey: keyOne, EnvDeploymentUUID: uuid}
	ctx := context.Background()

	tests := []struct {
		name    string
		env     map[string]string
		opts    []Option
		on      bool
		logged  int
		closed  bool
		wantErr error
	}{
		{name: "master key turns it on", env: baseEnv, on: true, logged: 1},
		{name: "explicit off wins", env: baseEnv, opts: []Option{WithoutEncryption()}},
		{name: "no key, no encryption", env: map[string]string{}},
		{name: "secure preset with the key", env: baseEnv, opts: []Option{Secure()}, on: true, logged: 1},
		{name: "secure preset without a key", env: map[string]string{}, opts: []Option{Secure()}, wantErr: ErrEncryptionRequired},
		{name: "secure then explicit off", env: map[string]string{}, opts: []Option{Secure(), WithoutEncryption()}},
		{name: "option adds fail-closed to the env key", env: baseEnv, opts: []Option{WithEncryption(Encryption{FailClosed: true})}, on: true, logged: 1, closed: true},
		{name: "explicit key wins over the env key", env: map[string]string{EnvMasterKey: "not hex", EnvDeploymentUUID: uuid},
			opts: []Option{WithEncryption(Encryption{MasterKey: secret.String(keyOne)})}, on: true},
		{name: "explicit on without any key", env: map[string]string{}, opts: []Option{WithEncryption(Encryption{Tenant: "t"})}, wantErr: ErrEncryptionRequired},
		{name: "previous keys without master", env: map[string]string{EnvPreviousMasterKeys: keyTwo}, wantErr: ErrConfig},
		{name: "current key among previous", env: map[string]string{EnvMasterKey: keyOne, EnvPreviousMasterKeys: keyOne, EnvDeploymentUUID: uuid}, wantErr: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &logRecorder{}
			mem := memory.New(memory.Options{})
			opts := append([]Option{WithBackend(mem), WithLogger(slogNew(rec))}, tt.opts...)
			c, err := fromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrConfig) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var cnt counter
			f := MustWrap1(c, cnt.fn, Name(uniq(t)))
			for range 3 {
				if _, err := f.Call(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			k, _ := f.Key(1)
			h, _, err := frame.Decode(storedAt(t, mem, k))
			if err != nil {
				t.Fatal(err)
			}
			if h.Encrypted != tt.on {
				t.Fatalf("stored frame encrypted=%v, want %v", h.Encrypted, tt.on)
			}
			if tt.on && h.TenantID != uuid {
				t.Fatalf("tenant %q, want the deployment UUID", h.TenantID)
			}
			i := c.Info().Encryption
			if i.Enabled != tt.on || i.FailClosed != tt.closed {
				t.Fatalf("info %+v", i)
			}
			if n := rec.count("cachekit: encryption on"); n != tt.logged {
				t.Fatalf("logged %d times:\n%s", n, rec.all())
			}
			if strings.Contains(rec.all(), keyOne) {
				t.Fatal("the key was logged")
			}
		})
	}
}

// A bad key is a clear configuration error that never contains the key.
func TestEncryptionBadKeys(t *testing.T) {
	t.Parallel()
	short := strings.Repeat("ab", 16) // 16 bytes
	notHex := "zz" + hexKey(0x33)
	for _, tt := range []struct {
		name, secret string
		build        func() (*Cache, error)
		vars         []string
	}{
		{"option too short", short, func() (*Cache, error) {
			return New(WithEncryption(Encryption{MasterKey: secret.String(short), Tenant: "t"}))
		}, nil},
		{"option not hex", notHex, func() (*Cache, error) {
			return New(WithEncryption(Encryption{MasterKey: secret.String(notHex), Tenant: "t"}))
		}, nil},
		{"previous option not hex", notHex, func() (*Cache, error) {
			return New(WithEncryption(Encryption{MasterKey: secret.String(keyOne), PreviousKeys: []secret.String{secret.String(notHex)}, Tenant: "t"}))
		}, nil},
		{"env too short", short, func() (*Cache, error) {
			return fromEnv(func(k string) (string, bool) { return map[string]string{EnvMasterKey: short}[k], true }, quiet())
		}, []string{EnvMasterKey}},
		{"env previous not hex", notHex, func() (*Cache, error) {
			env := map[string]string{EnvMasterKey: keyOne, EnvPreviousMasterKeys: keyTwo + "," + notHex}
			return fromEnv(func(k string) (string, bool) { return env[k], true }, quiet())
		}, []string{EnvMasterKey, EnvPreviousMasterKeys}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.build()
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, crypto.ErrInvalidMasterKey) {
				t.Fatalf("error %v", err)
			}
			if !slices.Equal(ce.Vars, tt.vars) {
				t.Fatalf("vars %v, want %v", ce.Vars, tt.vars)
			}
			msg := strings.ToLower(err.Error())
			for _, part := range []string{tt.secret, tt.secret[:16], tt.secret[len(tt.secret)-16:], keyOne[:16], keyTwo[:16]} {
				if strings.Contains(msg, strings.ToLower(part)) {
					t.Fatalf("error echoes key material: %v", err)
				}
			}
		})
	}
}

func TestEncryptionConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := New(WithEncryption(Encryption{Tenant: "t"})); !errors.Is(err, ErrEncryptionRequired) {
		t.Errorf("New without a key: %v", err)
	}
	if _, err := New(WithEncryption(Encryption{PreviousKeys: []secret.String{secret.String(keyOne)}})); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("previous keys without a master key: %v", err)
	}
	if _, err := New(WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "t", TenantFunc: tenantOf})); !errors.Is(err, ErrConfig) || !errors.Is(err, secure.ErrConfig) {
		t.Errorf("tenant and tenant function: %v", err)
	}
	if _, err := New(WithEncryption(Encryption{MasterKey: secret.String(keyOne), PreviousKeys: []secret.String{secret.String(keyOne)}, Tenant: "t"})); !errors.Is(err, ErrConfig) {
		t.Errorf("current key among previous keys: %v", err)
	}
	c, err := New(Secure(), WithoutEncryption(), quiet())
	if err != nil || c.enc != nil {
		t.Errorf("Secure then WithoutEncryption: %v", err)
	}
	c, err = New(WithEncryption(Encryption{MasterKey: secret.String(keyOne), Tenant: "t"}), Secure(), quiet())
	if err != nil || c.enc == nil || !c.cfg.l1Bytes {
		t.Fatalf("encryption before Secure: %v", err)
	}

	// Interop functions need a tenant shared with the other SDKs.
	getUser := func(_ context.Context, id int) (int, error) { return id, nil }
	multi, _ := New(quiet(), WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf}))
	if _, err := Wrap1(multi, getUser, Interop("users", "get")); !errors.Is(err, ErrInteropTenant) || !errors.Is(err, ErrConfig) {
		t.Errorf("interop under multi-tenant: %v", err)
	}
	if _, err := Load(withTenant(ctx, "a"), multi, "k", func(context.Context) (int, error) { return 1, nil }, Interop("x", "y")); !errors.Is(err, ErrInteropTenant) {
		t.Errorf("Load interop under multi-tenant: %v", err)
	}
	home := t.TempDir()
	fileTenant, err := New(quiet(), WithEncryption(Encryption{MasterKey: secret.String(keyOne)}),
		withSecureConfig(func(sc *secure.Config) { sc.HomeDir = home; sc.Getenv = func(string) string { return "" } }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Wrap1(fileTenant, getUser, Interop("users", "get")); !errors.Is(err, ErrInteropTenant) {
		t.Errorf("interop with the machine-local deployment UUID: %v", err)
	}
	if _, err := Wrap1(fileTenant, getUser, Name("auto")); err != nil {
		t.Errorf("auto mode with the machine-local deployment UUID: %v", err)
	}
	explicit, _ := New(quiet(), WithEncryption(Encryption{MasterKey: secret.String(keyOne), DeploymentUUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}))
	if _, err := Wrap1(explicit, getUser, Interop("users", "get")); err != nil {
		t.Errorf("interop with an explicit deployment UUID: %v", err)
	}
}

// A stale-while-revalidate refresh writes the refreshed value encrypted for
// the calling tenant, and Clear removes the calling tenant's backend entries.
func TestEncryptedRefreshAndClear(t *testing.T) {
	t.Parallel()
	clk := fakeClock()
	mem := memory.New(memory.Options{Now: clk.Now})
	enc := WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf})
	c := newTimed(t, clk, mem, enc)
	var cnt counter
	name := Name(uniq(t))
	f, err := Wrap1(c, cnt.fn, name, TTL(100*time.Second), StaleWhileRevalidate(0.5))
	if err != nil {
		t.Fatal(err)
	}
	ctxA, ctxB := withTenant(context.Background(), "a"), withTenant(context.Background(), "b")
	for _, ctx := range []context.Context{ctxA, ctxB} {
		if v, err := f.Call(ctx, 1); err != nil || v != "v0:1" {
			t.Fatalf("%q %v", v, err)
		}
	}
	cnt.version.Store(1)
	clk.Advance(60 * time.Second)
	if v, _ := f.Call(ctxA, 1); v != "v0:1" {
		t.Fatalf("stale hit got %q", v)
	}
	eventually(t, "refresh", func() bool { return f.Info().Refreshes == 1 })
	flushBackend(t, mem)

	var rc counter
	r, _ := Wrap1(newTimed(t, clk, mem, enc), rc.fn, name)
	if v, err := r.Call(ctxA, 1); err != nil || v != "v1:1" || rc.calls.Load() != 0 {
		t.Fatalf("refreshed entry read by another process: %q %v", v, err)
	}
	logical, _ := f.Key(1)
	openStoredFrame(t, storedAt(t, mem, secure.PhysicalKey("a", logical)), keyOne, "a", logical)

	if err := f.Clear(ctxA); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mem.Exists(ctxA, secure.PhysicalKey("a", logical)); ok {
		t.Fatal("Clear left tenant a's entry")
	}
	if ok, _ := mem.Exists(ctxB, secure.PhysicalKey("b", logical)); !ok {
		t.Fatal("Clear for tenant a removed tenant b's entry")
	}
	if c.Info().L1Entries != 0 {
		t.Fatal("Clear left in-process entries")
	}
	if err := f.Clear(context.Background()); !errors.Is(err, ErrTenant) {
		t.Fatalf("Clear without a tenant: %v", err)
	}
}

// Concurrent misses of the same arguments by two tenants are two shared
// loads, never one: a tenant never receives a result computed for another.
func TestConcurrentTenantsDoNotShareLoads(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, memory.New(memory.Options{}), WithEncryption(Encryption{MasterKey: secret.String(keyOne), TenantFunc: tenantOf}))
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before Close, which waits for the loads
	var calls atomic.Int32
	f, err := Wrap1(c, func(ctx context.Context, n int) (string, error) {
		calls.Add(1)
		<-release
		t, _ := tenantOf(ctx)
		return fmt.Sprint(t, n), nil
	}, Name(uniq(t)))
	if err != nil {
		t.Fatal(err)
	}
	const perTenant = 8
	type result struct{ tenant, got string }
	results := make(chan result, 2*perTenant)
	for i := range 2 * perTenant {
		tenant := []string{"a", "b"}[i%2]
		go func() {
			v, err := f.Call(withTenant(context.Background(), tenant), 1)
			if err != nil {
				v = err.Error()
			}
			results <- result{tenant, v}
		}()
	}
	eventually(t, "both loads to start", func() bool { return calls.Load() == 2 })
	releaseOnce.Do(func() { close(release) })
	for range 2 * perTenant {
		r := <-results
		if r.got != r.tenant+"1" {
			t.Fatalf("tenant %s got %q", r.tenant, r.got)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("function ran %d times", calls.Load())
	}
}
