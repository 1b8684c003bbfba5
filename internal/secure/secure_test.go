package secure

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/frame"
)

// The policy's Scope plugs into the value pipeline as its Sealer.
var _ entry.Sealer = (*Scope)(nil)

const (
	vectorMaster = "6161616161616161616161616161616161616161616161616161616161616161"
	vectorTenant = "cross-sdk-test"
	vectorFP     = "96179a9bc881aa7ca83f04b78a66afd3"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func key32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// noEnv is a Getenv that sees an empty environment.
func noEnv(string) string { return "" }

// newPolicy builds a single-tenant policy with a fixed tenant.
func newPolicy(t testing.TB, tenant string, master []byte, previous ...[]byte) *Policy {
	t.Helper()
	p, err := New(Config{MasterKey: master, PreviousKeys: previous, Tenant: tenant, Getenv: noEnv, Logger: quiet})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func bind(t testing.TB, p *Policy, ctx context.Context) *Scope {
	t.Helper()
	s, err := p.Bind(ctx)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return s
}

// sealStored returns the full stored bytes of an auto-mode payload.
func sealStored(t testing.TB, s *Scope, key string, plaintext []byte, compressed bool) []byte {
	t.Helper()
	ct, h, err := s.Seal(key, plaintext, compressed)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	b, err := frame.Encode(h, ct)
	if err != nil {
		t.Fatalf("frame.Encode: %v", err)
	}
	return b
}

// openStored opens full stored bytes the way the cache does: a frame that
// does not parse is corruption.
func openStored(s *Scope, key string, stored []byte) ([]byte, error) {
	h, payload, err := frame.Decode(stored)
	if err != nil {
		return nil, s.p.Failure(ReasonCorrupt, err)
	}
	return s.Open(key, h, payload)
}

func wantReason(t testing.TB, err error, r Reason) {
	t.Helper()
	if !errors.Is(err, ErrDecrypt) || !errors.Is(err, reasonErrs[r]) {
		t.Fatalf("err = %v, want a %s decrypt failure", err, r)
	}
	if got, ok := ReasonOf(err); !ok || got != r {
		t.Fatalf("ReasonOf = %v, %v; want %s", got, ok, r)
	}
}

func TestSealOpenAuto(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, vectorTenant, key32(0x61))
	s := bind(t, p, context.Background())
	for _, compressed := range []bool{true, false} {
		stored := sealStored(t, s, "users:42", []byte("payload bytes"), compressed)
		h, payload, err := frame.Decode(stored)
		if err != nil {
			t.Fatal(err)
		}
		want := frame.SecureHeader(vectorTenant, vectorFP)
		want.Compressed = compressed
		if h != want {
			t.Fatalf("header %+v, want %+v", h, want)
		}
		if len(payload) != crypto.Overhead+len("payload bytes") {
			t.Fatalf("payload of %d bytes", len(payload))
		}
		// The AAD is the documented 5-component one.
		a, _ := crypto.NewTenantAEAD(key32(0x61), vectorTenant)
		if pt, err := a.Open(payload, crypto.AAD(vectorTenant, "users:42", "msgpack", compressed, "msgpack")); err != nil || string(pt) != "payload bytes" {
			t.Fatalf("independent open: %q, %v", pt, err)
		}
		pt, err := s.Open("users:42", h, payload)
		if err != nil || string(pt) != "payload bytes" {
			t.Fatalf("Open: %q, %v", pt, err)
		}
	}
	if n, r, f := p.Encryptions(), p.Reads(), failures(p); n != 2 || len(r) != 1 || r[0] != 2 || f != [numReasons]uint64{} {
		t.Fatalf("encryptions %d, reads %v, failures %v", n, r, f)
	}
}

func TestEmptyKey(t *testing.T) {
	t.Parallel()
	s := bind(t, newPolicy(t, "t", key32(1)), context.Background())
	if _, _, err := s.Seal("", []byte("x"), true); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("Seal: %v", err)
	}
	if _, err := s.Open("", frame.SecureHeader("t", s.Fingerprint()), make([]byte, 40)); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.SealInterop("", []byte{0xc0}); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("SealInterop: %v", err)
	}
	if _, err := s.OpenInterop("", make([]byte, 40)); !errors.Is(err, ErrEmptyKey) {
		t.Fatalf("OpenInterop: %v", err)
	}
}

// TestNoPlaintextInBackend runs values through the real value pipeline with
// the scope as its Sealer and scans the stored bytes for the value.
func TestNoPlaintextInBackend(t *testing.T) {
	t.Parallel()
	s := bind(t, newPolicy(t, "tenant-1", key32(7)), context.Background())
	secret := "4111-1111-1111-1111 super secret value"
	value := map[string]any{"card": secret, "blob": []byte(secret)}
	for _, mode := range []entry.Mode{entry.Framed, entry.FramedRaw} {
		pipe := entry.Pipeline{Mode: mode, Sealer: s}
		stored, err := pipe.Encode("cards:1", value)
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{secret, secret[:8], "super secret"} {
			if bytes.Contains(stored, []byte(needle)) {
				t.Fatalf("mode %d: stored bytes contain %q", mode, needle)
			}
		}
		var got map[string]any
		if err := pipe.Decode("cards:1", stored, &got); err != nil {
			t.Fatalf("mode %d: decode: %v", mode, err)
		}
		if got["card"] != secret {
			t.Fatalf("mode %d: round trip gave %v", mode, got)
		}
	}
	doc := append([]byte{0xaa}, "top secret"...) // fixstr(10)
	ct, err := bind(t, newPolicy(t, "tenant-1", key32(7)), context.Background()).SealInterop("ns:op:1", doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, doc[1:]) {
		t.Fatal("interop ciphertext contains the plaintext")
	}
}

// TestTamper changes every part of a stored entry and checks the reason.
func TestTamper(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, "tenant-1", key32(0x61))
	s := bind(t, p, context.Background())
	const key = "users:get:1"
	good := sealStored(t, s, key, []byte("an envelope would be here"), true)
	h, payload, err := frame.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	reframe := func(mod func(*frame.Header)) []byte {
		hh := h
		mod(&hh)
		b, err := frame.Encode(hh, payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flip := func(off int) []byte { // off counted from the start of the payload (negative: from the end)
		b := bytes.Clone(good)
		i := len(good) - len(payload) + off
		if off < 0 {
			i = len(good) + off
		}
		b[i] ^= 0x01
		return b
	}
	hdrLen := len(good) - len(payload)
	tests := []struct {
		name   string
		stored []byte
		key    string
		want   Reason
	}{
		{"nonce first byte", flip(0), key, ReasonTamper},
		{"nonce last byte", flip(crypto.NonceSize - 1), key, ReasonTamper},
		{"ciphertext", flip(crypto.NonceSize + 3), key, ReasonTamper},
		{"tag first byte", flip(-crypto.TagSize), key, ReasonTamper},
		{"tag last byte", flip(-1), key, ReasonTamper},
		{"truncated by one", good[:len(good)-1], key, ReasonTamper},
		{"truncated to nonce+tag-1", good[:hdrLen+crypto.Overhead-1], key, ReasonCorrupt},
		{"payload cut off", good[:hdrLen], key, ReasonCorrupt},
		{"truncated inside header", good[:hdrLen-5], key, ReasonCorrupt},
		{"extended", append(bytes.Clone(good), 0), key, ReasonTamper},
		{"moved to another key", good, "users:get:2", ReasonTamper},
		{"compressed flag", reframe(func(h *frame.Header) { h.Compressed = false }), key, ReasonTamper},
		{"format", reframe(func(h *frame.Header) { h.Format = "json" }), key, ReasonTamper},
		{"original_type", reframe(func(h *frame.Header) { h.OriginalType = "" }), key, ReasonTamper},
		{"original_type value", reframe(func(h *frame.Header) { h.OriginalType = "arrow" }), key, ReasonTamper},
		{"tenant_id", reframe(func(h *frame.Header) { h.TenantID = "tenant-2" }), key, ReasonWrongTenant},
		{"key_fingerprint", reframe(func(h *frame.Header) { h.KeyFingerprint = strings.Repeat("0", 32) }), key, ReasonWrongKey},
		{"key_fingerprint removed", reframe(func(h *frame.Header) { h.KeyFingerprint = "" }), key, ReasonWrongKey},
		{"encrypted flag", reframe(func(h *frame.Header) { h.Encrypted = false }), key, ReasonPlaintext},
		{"algorithm", reframe(func(h *frame.Header) { h.EncryptionAlgorithm = "ChaCha20" }), key, ReasonCorrupt},
		{"header length", func() []byte { b := bytes.Clone(good); b[6]--; return b }(), key, ReasonCorrupt},
		{"header JSON", func() []byte { b := bytes.Clone(good); b[8] = 'x'; return b }(), key, ReasonCorrupt},
		{"magic", func() []byte { b := bytes.Clone(good); b[0] = 'X'; return b }(), key, ReasonCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := openStored(s, tc.key, tc.stored)
			if pt != nil {
				t.Fatalf("returned plaintext %q", pt)
			}
			wantReason(t, err, tc.want)
		})
	}
	// The untampered entry still opens, and every failure was counted once.
	if _, err := openStored(s, key, good); err != nil {
		t.Fatal(err)
	}
	f := failures(p)
	if f[ReasonTamper]+f[ReasonWrongKey]+f[ReasonPlaintext]+f[ReasonWrongTenant]+f[ReasonCorrupt] != uint64(len(tests)) {
		t.Fatalf("failures %v, want %d in total", f, len(tests))
	}
	if f[ReasonWrongTenant] != 1 || f[ReasonPlaintext] != 1 || f[ReasonWrongKey] != 2 {
		t.Fatalf("failures by reason %v", f)
	}
	// Fields outside the AAD do not matter (PROTOCOL.md section 10).
	for _, mod := range []func(*frame.Header){
		func(h *frame.Header) { h.Encoding = "latin-1" },
		func(h *frame.Header) { h.Version = "9.9" },
		func(h *frame.Header) { h.EncryptionAlgorithm = "" },
	} {
		if _, err := openStored(s, key, reframe(mod)); err != nil {
			t.Fatalf("unauthenticated field change rejected: %v", err)
		}
	}
}

func TestTamperInterop(t *testing.T) {
	t.Parallel()
	// Nonces starting with 0xc1, a byte MessagePack never uses, so no
	// tampered ciphertext below can pass for a plaintext document by chance
	// (with random nonces some runs did, counting "plaintext").
	var n atomic.Uint32
	p, err := New(Config{MasterKey: key32(0x61), Tenant: "tenant-1", Getenv: noEnv, Logger: quiet,
		NonceSource: func() [crypto.NonceSize]byte {
			var nonce [crypto.NonceSize]byte
			nonce[0] = 0xc1
			binary.BigEndian.PutUint32(nonce[8:], n.Add(1))
			return nonce
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := bind(t, p, context.Background())
	const key = "users:get_user:abc"
	doc := []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02}
	good, err := s.SealInterop(key, doc)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x80; return b }
	tests := []struct {
		name   string
		stored []byte
		key    string
		want   Reason
	}{
		{"nonce", flip(0), key, ReasonWrongKey},
		{"ciphertext", flip(crypto.NonceSize), key, ReasonWrongKey},
		{"tag", flip(len(good) - 1), key, ReasonWrongKey},
		{"truncated", good[:len(good)-1], key, ReasonWrongKey},
		{"too short", good[:crypto.Overhead-1], key, ReasonCorrupt},
		{"empty", nil, key, ReasonCorrupt},
		{"moved to another key", good, "users:get_user:abd", ReasonWrongKey},
		{"plain msgpack", doc, key, ReasonPlaintext},
		{"long plain msgpack", append([]byte{0xc4, 40}, make([]byte, 40)...), key, ReasonPlaintext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := s.OpenInterop(tc.key, tc.stored)
			if pt != nil {
				t.Fatalf("returned plaintext %x", pt)
			}
			wantReason(t, err, tc.want)
		})
	}
	pt, err := s.OpenInterop(key, good)
	if err != nil || !bytes.Equal(pt, doc) {
		t.Fatalf("OpenInterop: %x, %v", pt, err)
	}
}

// TestSwapBetweenKeysAndTenants moves ciphertexts between master keys and
// between tenants; none decrypts, however the header is rewritten.
func TestSwapBetweenKeysAndTenants(t *testing.T) {
	t.Parallel()
	const key = "orders:7"
	pa := newPolicy(t, "tenant-a", key32(0xa1))
	pb := newPolicy(t, "tenant-a", key32(0xb2)) // same tenant, other master key
	sa, sb := bind(t, pa, context.Background()), bind(t, pb, context.Background())
	stored := sealStored(t, sa, key, []byte("value"), true)
	h, payload, _ := frame.Decode(stored)

	_, err := sb.Open(key, h, payload)
	wantReason(t, err, ReasonWrongKey)
	h2 := h
	h2.KeyFingerprint = sb.Fingerprint() // claim the reader's key
	_, err = sb.Open(key, h2, payload)
	wantReason(t, err, ReasonTamper)

	ct, _ := sa.SealInterop(key, []byte{0x01})
	_, err = sb.OpenInterop(key, ct)
	wantReason(t, err, ReasonWrongKey)

	// Between tenants of one multi-tenant policy (same master key).
	mt, err := New(Config{MasterKey: key32(0xa1), TenantFunc: tenantFromCtx, Getenv: noEnv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ta := bind(t, mt, withTenant("tenant-a"))
	tb := bind(t, mt, withTenant("tenant-b"))
	stored = sealStored(t, ta, key, []byte("value"), true)
	h, payload, _ = frame.Decode(stored)
	_, err = tb.Open(key, h, payload)
	wantReason(t, err, ReasonWrongTenant)
	h2 = h
	h2.TenantID = "tenant-b"
	_, err = tb.Open(key, h2, payload)
	wantReason(t, err, ReasonWrongKey)
	h2.KeyFingerprint = tb.Fingerprint()
	_, err = tb.Open(key, h2, payload)
	wantReason(t, err, ReasonTamper)
	if ta.PhysicalKey(key) == tb.PhysicalKey(key) {
		t.Fatal("two tenants share a physical key")
	}
	// The single-tenant policy with the same master key and tenant reads it:
	// the physical key differs, the entry format does not.
	if _, err := sa.Open(key, h, payload); err != nil {
		t.Fatalf("same tenant and key, other policy: %v", err)
	}
}

type tenantKey struct{}

func withTenant(t string) context.Context {
	return context.WithValue(context.Background(), tenantKey{}, t)
}

func tenantFromCtx(ctx context.Context) (string, error) {
	t, ok := ctx.Value(tenantKey{}).(string)
	if !ok {
		return "", errors.New("no tenant in context")
	}
	return t, nil
}

func TestMultiTenant(t *testing.T) {
	t.Parallel()
	p, err := New(Config{MasterKey: key32(1), TenantFunc: tenantFromCtx, Getenv: noEnv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !p.MultiTenant() {
		t.Fatal("MultiTenant = false")
	}
	s := bind(t, p, withTenant("org:123"))
	if got := s.PhysicalKey("user:456"); got != "t:org%3A123:user:456" {
		t.Fatalf("PhysicalKey = %q", got)
	}
	if s.Tenant() != "org:123" {
		t.Fatalf("Tenant = %q", s.Tenant())
	}
	if _, err := p.Bind(context.Background()); !errors.Is(err, ErrTenant) {
		t.Fatalf("failing tenant func: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("x", crypto.MaxTenantIDSize+1), "\xff\xfe"} {
		if _, err := p.Bind(withTenant(bad)); !errors.Is(err, ErrTenant) {
			t.Fatalf("tenant %q: %v", bad, err)
		}
	}
	if _, err := s.SealInterop("a:b:c", []byte{1}); !errors.Is(err, ErrInteropTenant) {
		t.Fatalf("interop in multi-tenant: %v", err)
	}
	if !errors.Is(p.InteropError(), ErrInteropTenant) {
		t.Fatal("InteropError is nil for a multi-tenant policy")
	}
	if _, err := New(Config{MasterKey: key32(1), TenantFunc: tenantFromCtx, Tenant: "x"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("TenantFunc + Tenant: %v", err)
	}
}

func TestTenantPrefix(t *testing.T) {
	t.Parallel()
	// Python's urllib.parse.quote(tenant, safe="") results.
	tests := map[string]string{
		"default":                   "t:default:",
		"org:123":                   "t:org%3A123:",
		"tenant/with:special@chars": "t:tenant%2Fwith%3Aspecial%40chars:",
		"a b+c%d":                   "t:a%20b%2Bc%25d:",
		"Az09_.-~":                  "t:Az09_.-~:",
		"é":                         "t:%C3%A9:",
	}
	for in, want := range tests {
		if got := TenantPrefix(in); got != want {
			t.Errorf("TenantPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	if PhysicalKey("org:1", "k:2") != "t:org%3A1:k:2" {
		t.Fatal("PhysicalKey")
	}
}

func TestSingleTenantPhysicalKey(t *testing.T) {
	t.Parallel()
	s := bind(t, newPolicy(t, "x", key32(1)), context.Background())
	if s.PhysicalKey("ns:func:a:args:b:1s") != "ns:func:a:args:b:1s" {
		t.Fatal("single-tenant keys must stay unprefixed")
	}
}

// TestRotation: write with the old key, rotate, read, write with the new key,
// drop the old key.
func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := key32(0x01), key32(0x02)
	const key = "k:1"
	old := bind(t, newPolicy(t, "t", oldKey), context.Background())
	oldStored := sealStored(t, old, key, []byte("old"), true)
	oldInterop, _ := old.SealInterop(key, []byte{0x01})

	rp := newPolicy(t, "t", newKey, key32(0x09), oldKey)
	rotated := bind(t, rp, context.Background())
	if pt, err := openStored(rotated, key, oldStored); err != nil || string(pt) != "old" {
		t.Fatalf("old entry after rotation: %q, %v", pt, err)
	}
	if pt, err := rotated.OpenInterop(key, oldInterop); err != nil || !bytes.Equal(pt, []byte{0x01}) {
		t.Fatalf("old interop entry after rotation: %x, %v", pt, err)
	}
	newStored := sealStored(t, rotated, key, []byte("new"), true)
	if h, _, _ := frame.Decode(newStored); h.KeyFingerprint != rotated.Fingerprint() {
		t.Fatal("writes after rotation do not use the current key")
	}
	newInterop, _ := rotated.SealInterop(key, []byte{0x02})
	if _, err := openStored(rotated, key, newStored); err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.OpenInterop(key, newInterop); err != nil {
		t.Fatal(err)
	}
	if got, want := rp.Reads(), []uint64{2, 0, 2}; !equalU64(got, want) {
		t.Fatalf("reads by key %v, want %v (the operator sees previous key 0 unused)", got, want)
	}

	dropped := bind(t, newPolicy(t, "t", newKey), context.Background())
	_, err := openStored(dropped, key, oldStored)
	wantReason(t, err, ReasonWrongKey)
	_, err = dropped.OpenInterop(key, oldInterop)
	wantReason(t, err, ReasonWrongKey)
	if pt, err := openStored(dropped, key, newStored); err != nil || string(pt) != "new" {
		t.Fatalf("new entry after dropping the old key: %q, %v", pt, err)
	}
	if _, err := New(Config{MasterKey: newKey, PreviousKeys: [][]byte{newKey}, Tenant: "t"}); !errors.Is(err, ErrConfig) || !errors.Is(err, crypto.ErrInvalidKeyring) {
		t.Fatalf("current key among previous keys: %v", err)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type interopVectors struct {
	Encryption []struct {
		MasterKeyHex  string `json:"master_key_hex"`
		TenantID      string `json:"tenant_id"`
		Fingerprint   string `json:"derived_key_fingerprint_hex"`
		CacheKey      string `json:"cache_key"`
		AADHex        string `json:"aad_hex"`
		PlaintextHex  string `json:"plaintext_hex"`
		NonceHex      string `json:"nonce_hex"`
		CiphertextHex string `json:"ciphertext_hex"`
	} `json:"encryption_vectors"`
	AAD []struct {
		TenantID string `json:"tenant_id"`
		CacheKey string `json:"cache_key"`
		AADHex   string `json:"aad_hex"`
	} `json:"aad_vectors"`
}

func loadVectors(t *testing.T) interopVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "interop-mode.json"))
	if err != nil {
		t.Fatalf("interop vectors are required: %v", err)
	}
	var v interopVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Encryption) == 0 || len(v.AAD) == 0 {
		t.Fatal("no encryption or AAD vectors")
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInteropVectors seals and opens the published interop encryption vector
// through the policy.
func TestInteropVectors(t *testing.T) {
	t.Parallel()
	vec := loadVectors(t)
	for _, v := range vec.AAD {
		if got := hex.EncodeToString(crypto.AAD(v.TenantID, v.CacheKey, "msgpack", false, "")); got != v.AADHex {
			t.Fatalf("AAD %s, want %s", got, v.AADHex)
		}
	}
	for _, v := range vec.Encryption {
		master, err := crypto.ParseMasterKey(v.MasterKeyHex)
		if err != nil {
			t.Fatal(err)
		}
		nonce := [crypto.NonceSize]byte(mustHex(t, v.NonceHex))
		p, err := New(Config{MasterKey: master, Tenant: v.TenantID, Getenv: noEnv, Logger: quiet,
			NonceSource: func() [crypto.NonceSize]byte { return nonce }})
		if err != nil {
			t.Fatal(err)
		}
		s := bind(t, p, context.Background())
		if s.Fingerprint() != v.Fingerprint {
			t.Fatalf("fingerprint %s, want %s", s.Fingerprint(), v.Fingerprint)
		}
		ct, err := s.SealInterop(v.CacheKey, mustHex(t, v.PlaintextHex))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(ct) != v.CiphertextHex {
			t.Fatalf("ciphertext %x, want %s", ct, v.CiphertextHex)
		}
		// A reader with the vector key as a PREVIOUS key reads it too.
		reader := bind(t, newPolicy(t, v.TenantID, key32(0x99), master), context.Background())
		pt, err := reader.OpenInterop(v.CacheKey, mustHex(t, v.CiphertextHex))
		if err != nil || hex.EncodeToString(pt) != v.PlaintextHex {
			t.Fatalf("OpenInterop: %x, %v", pt, err)
		}
	}
}

// TestNonceUniqueConcurrent: many goroutines sealing at once under one key
// never repeat a nonce.
func TestNonceUniqueConcurrent(t *testing.T) {
	t.Parallel()
	const workers, per = 16, 10000
	s := bind(t, newPolicy(t, "t", key32(3)), context.Background())
	nonces := make([][][crypto.NonceSize]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			out := make([][crypto.NonceSize]byte, per)
			for i := range out {
				var ct []byte
				if i%2 == 0 {
					ct, _, _ = s.Seal("k", nil, true)
				} else {
					ct, _ = s.SealInterop("k", nil)
				}
				out[i] = [crypto.NonceSize]byte(ct[:crypto.NonceSize])
			}
			nonces[w] = out
		})
	}
	wg.Wait()
	seen := make(map[[crypto.NonceSize]byte]struct{}, workers*per)
	for _, out := range nonces {
		for _, n := range out {
			if _, dup := seen[n]; dup {
				t.Fatalf("nonce %x repeated", n)
			}
			seen[n] = struct{}{}
		}
	}
	if len(seen) != workers*per {
		t.Fatalf("%d nonces, want %d", len(seen), workers*per)
	}
}

func TestDecryptError(t *testing.T) {
	t.Parallel()
	p := newPolicy(t, "t", key32(1))
	cause := errors.New("envelope checksum mismatch")
	err := p.Failure(ReasonCorrupt, cause)
	wantReason(t, err, ReasonCorrupt)
	if !errors.Is(err, cause) || errors.Is(err, ErrDecryptTamper) {
		t.Fatalf("Is chain of %v", err)
	}
	if !strings.Contains(err.Error(), "corruption") || !strings.Contains(err.Error(), cause.Error()) {
		t.Fatalf("message %q", err)
	}
	if _, ok := ReasonOf(cause); ok {
		t.Fatal("ReasonOf found a reason in a plain error")
	}
	for r := range numReasons {
		err := p.Failure(r, nil)
		wantReason(t, err, r)
		if r.String() == "unknown" {
			t.Fatalf("reason %d has no name", r)
		}
	}
	if Reason(200).String() != "unknown" {
		t.Fatal("out-of-range reason name")
	}
	wantReason(t, p.Failure(Reason(200), nil), ReasonCorrupt)
	if f := failures(p); f != [numReasons]uint64{ReasonCorrupt: 3, ReasonTamper: 1, ReasonWrongKey: 1, ReasonPlaintext: 1, ReasonWrongTenant: 1} {
		t.Fatalf("failures by reason %v", f)
	}
	if p.Failures(Reason(200)) != 0 {
		t.Fatal("an out-of-range reason has a count")
	}
	if p.FailClosed() || !newPolicyFailClosed(t).FailClosed() {
		t.Fatal("FailClosed does not report the setting")
	}
}

func newPolicyFailClosed(t *testing.T) *Policy {
	p, err := New(Config{MasterKey: key32(1), Tenant: "t", FailClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeysFromEnv(t *testing.T) {
	t.Parallel()
	k1 := strings.Repeat("a1", 32)
	k2 := strings.Repeat("b2", 32)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	master, prev, err := KeysFromEnv(env(nil))
	if master != nil || prev != nil || err != nil {
		t.Fatalf("empty environment: %x %x %v", master, prev, err)
	}
	master, prev, err = KeysFromEnv(env(map[string]string{EnvMasterKey: k1, EnvPreviousMasterKeys: k2 + ", "}))
	if err != nil || !bytes.Equal(master, mustHex(t, k1)) || len(prev) != 1 || !bytes.Equal(prev[0], mustHex(t, k2)) {
		t.Fatalf("keys: %v", err)
	}
	bad := []map[string]string{
		{EnvMasterKey: k1[:40]},
		{EnvMasterKey: "zz" + k1[2:]},
		{EnvMasterKey: k1, EnvPreviousMasterKeys: "xyz"},
		{EnvPreviousMasterKeys: k2},
		{EnvMasterKey: k1, EnvPreviousMasterKeys: strings.Repeat(k2+",", 4)},
	}
	for _, m := range bad {
		_, _, err := KeysFromEnv(env(m))
		if err == nil {
			t.Fatalf("%v accepted", m)
		}
		if strings.Contains(err.Error(), k1[:16]) || strings.Contains(err.Error(), k2[:16]) {
			t.Fatalf("error %q contains key material", err)
		}
	}
	if _, err := New(Config{Tenant: "t"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no master key: %v", err)
	}
	if _, err := New(Config{MasterKey: key32(1)[:20], Tenant: "t"}); !errors.Is(err, crypto.ErrInvalidMasterKey) {
		t.Fatalf("short master key: %v", err)
	}
}

// failures returns p's failure counts indexed by Reason.
func failures(p *Policy) [numReasons]uint64 {
	var f [numReasons]uint64
	for r := range numReasons {
		f[r] = p.Failures(r)
	}
	return f
}
