package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cachekit-go/cachekit/internal/testenv"
)

func masterOf(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestNewKeyringChecks(t *testing.T) {
	t.Parallel()
	cur := masterOf(0x61)
	tests := []struct {
		name     string
		current  []byte
		previous [][]byte
		want     error
	}{
		{"current only", cur, nil, nil},
		{"three previous", cur, [][]byte{masterOf(1), masterOf(2), masterOf(3)}, nil},
		{"duplicate previous", cur, [][]byte{masterOf(1), masterOf(1)}, nil},
		{"short current", cur[:31], nil, ErrInvalidMasterKey},
		{"nil current", nil, nil, ErrInvalidMasterKey},
		{"short previous", cur, [][]byte{masterOf(1)[:16]}, ErrInvalidMasterKey},
		{"four previous", cur, [][]byte{masterOf(1), masterOf(2), masterOf(3), masterOf(4)}, ErrInvalidKeyring},
		{"current in previous", cur, [][]byte{masterOf(1), masterOf(0x61)}, ErrInvalidKeyring},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := NewKeyring(tc.current, tc.previous...)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewKeyring: %v", err)
				}
				if k.Len() != 1+len(tc.previous) {
					t.Fatalf("Len = %d, want %d", k.Len(), 1+len(tc.previous))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, key := range append([][]byte{tc.current}, tc.previous...) {
				if len(key) > 0 && strings.Contains(err.Error(), hex.EncodeToString(key)) {
					t.Fatalf("error %q contains key material", err)
				}
			}
		})
	}
}

func TestKeyringCopiesKeys(t *testing.T) {
	t.Parallel()
	cur := masterOf(0x61)
	k, err := NewKeyring(cur)
	if err != nil {
		t.Fatal(err)
	}
	cur[0] = 0 // the caller may clear its copy
	tk, err := k.Tenant("cross-sdk-test")
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Current().Fingerprint(); got != "96179a9bc881aa7ca83f04b78a66afd3" {
		t.Fatalf("fingerprint %s: the keyring did not keep its own copy of the key", got)
	}
}

func TestParsePreviousKeys(t *testing.T) {
	t.Parallel()
	k1 := strings.Repeat("11", 32)
	k2 := strings.Repeat("AB", 40)
	tests := []struct {
		env  string
		n    int
		want error
		pos  string
	}{
		{"", 0, nil, ""},
		{" , ,", 0, nil, ""},
		{k1, 1, nil, ""},
		{" " + k1 + " , " + k2 + ",", 2, nil, ""},
		{strings.Join([]string{k1, k1, k2}, ","), 3, nil, ""},
		{strings.Join([]string{k1, k1, k2, k2}, ","), 0, ErrInvalidKeyring, ""},
		{k1 + ",zz" + k1[2:], 0, ErrInvalidMasterKey, "previous key 1"},
		{k1 + "," + k1[:62], 0, ErrInvalidMasterKey, "previous key 1"},
		{k1[:10], 0, ErrInvalidMasterKey, "previous key 0"},
	}
	for _, tc := range tests {
		keys, err := ParsePreviousKeys(tc.env)
		if tc.want != nil {
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.pos) {
				t.Errorf("ParsePreviousKeys(%q) err = %v, want %v mentioning %q", tc.env, err, tc.want, tc.pos)
			}
			if err != nil && strings.Contains(err.Error(), k1[:20]) {
				t.Errorf("error %q contains key material", err)
			}
			continue
		}
		if err != nil || len(keys) != tc.n {
			t.Errorf("ParsePreviousKeys(%q) = %d keys, %v; want %d", tc.env, len(keys), err, tc.n)
		}
	}
	keys, err := ParsePreviousKeys(k2)
	if err != nil || !bytes.Equal(keys[0], bytes.Repeat([]byte{0xab}, 40)) {
		t.Fatalf("ParsePreviousKeys(k2) = %x, %v", keys, err)
	}
}

func TestKeyringTenantKeys(t *testing.T) {
	t.Parallel()
	k, err := NewKeyring(masterOf(0x61), masterOf(0x62), masterOf(0x63))
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Tenant("tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := k.Tenant("tenant-a"); again != a {
		t.Fatal("Tenant derived the same tenant twice instead of caching it")
	}
	b, err := k.Tenant("tenant-b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 || b.Len() != 3 {
		t.Fatalf("Len = %d, %d; want 3", a.Len(), b.Len())
	}
	seen := map[string]bool{}
	for _, tk := range []*TenantKeys{a, b} {
		for i := range tk.Len() {
			fp := tk.At(i).Fingerprint()
			if seen[fp] {
				t.Fatalf("fingerprint %s repeats across keys or tenants", fp)
			}
			seen[fp] = true
			got, idx, ok := tk.ByFingerprint(fp)
			if !ok || idx != i || got != tk.At(i) {
				t.Fatalf("ByFingerprint(key %d) = %d, %v", i, idx, ok)
			}
		}
	}
	if _, _, ok := a.ByFingerprint(b.Current().Fingerprint()); ok {
		t.Fatal("tenant a found tenant b's fingerprint")
	}
	if _, _, ok := a.ByFingerprint(""); ok {
		t.Fatal("empty fingerprint matched a key")
	}
	want, _ := NewTenantAEAD(masterOf(0x62), "tenant-a")
	if a.At(1).Fingerprint() != want.Fingerprint() {
		t.Fatal("previous key 0 is not at index 1")
	}
	if _, err := k.Tenant(""); !errors.Is(err, ErrInvalidTenant) {
		t.Fatalf("empty tenant: %v", err)
	}
}

// TestKeyringRotation: write under the old key, rotate (old key becomes a
// previous key), read it by fingerprint, write new entries with the new key,
// drop the old key: the old entry is no longer readable, the new one is.
func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := masterOf(0x01), masterOf(0x02)
	aad := AAD("t", "k", "msgpack", false, "")
	before, _ := NewKeyring(oldKey)
	tb, _ := before.Tenant("t")
	oldCT := tb.Current().Seal([]byte("old"), aad)
	oldFP := tb.Current().Fingerprint()

	rotated, err := NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := rotated.Tenant("t")
	a, idx, ok := tr.ByFingerprint(oldFP)
	if !ok || idx != 1 {
		t.Fatalf("old fingerprint after rotation: idx %d ok %v", idx, ok)
	}
	if pt, err := a.Open(oldCT, aad); err != nil || string(pt) != "old" {
		t.Fatalf("old entry after rotation: %q, %v", pt, err)
	}
	newCT := tr.Current().Seal([]byte("new"), aad)
	newFP := tr.Current().Fingerprint()

	dropped, _ := NewKeyring(newKey)
	td, _ := dropped.Tenant("t")
	if _, _, ok := td.ByFingerprint(oldFP); ok {
		t.Fatal("old fingerprint still known after the old key was dropped")
	}
	if _, err := td.Current().Open(oldCT, aad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("old entry under new key only: %v", err)
	}
	a, _, ok = td.ByFingerprint(newFP)
	if !ok {
		t.Fatal("new fingerprint unknown")
	}
	if pt, err := a.Open(newCT, aad); err != nil || string(pt) != "new" {
		t.Fatalf("new entry after dropping the old key: %q, %v", pt, err)
	}
}

func TestKeyringTenantBound(t *testing.T) {
	t.Parallel()
	k, _ := NewKeyring(masterOf(0x61))
	first, _ := k.Tenant("tenant-0")
	for i := 1; i < MaxCachedTenants+10; i++ {
		if _, err := k.Tenant(fmt.Sprintf("tenant-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	k.mu.RLock()
	n := len(k.tenants)
	k.mu.RUnlock()
	if n > MaxCachedTenants {
		t.Fatalf("%d tenants cached, bound is %d", n, MaxCachedTenants)
	}
	// Re-derived or cached, tenant-0's key is the same key.
	again, _ := k.Tenant("tenant-0")
	if again.Current().Fingerprint() != first.Current().Fingerprint() {
		t.Fatal("re-derived tenant key differs")
	}
}

func TestKeyringConcurrentTenant(t *testing.T) {
	t.Parallel()
	k, _ := NewKeyring(masterOf(0x61))
	var wg sync.WaitGroup
	got := make([]*TenantKeys, 16)
	for i := range got {
		wg.Go(func() {
			tk, err := k.Tenant("shared")
			if err != nil {
				t.Error(err)
			}
			got[i] = tk
		})
	}
	wg.Wait()
	for _, tk := range got[1:] {
		if tk != got[0] {
			t.Fatal("concurrent first use cached two AEAD sets for one tenant")
		}
	}
}

// TestKeyringNeverPrints: a *Keyring, and a struct holding one in an
// unexported field, print no master key bytes with any fmt verb or through
// slog; the key material is found in no encoding.
func TestKeyringNeverPrints(t *testing.T) {
	cur, prev := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(cur)
	_, _ = rand.Read(prev)
	k, err := NewKeyring(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Tenant("t"); err != nil {
		t.Fatal(err)
	}
	holder := struct {
		name string
		ring *Keyring
	}{"h", k}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &holder))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "ring", k, "holder", holder)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "ring", k)
	outs = append(outs, buf.String())
	for _, out := range outs {
		for _, key := range [][]byte{cur, prev} {
			if enc := testenv.Leak(out, key); enc != "" {
				t.Fatalf("output shows a master key (%s): %s", enc, out)
			}
		}
	}
	if got := fmt.Sprint(k); got != "crypto.Keyring{keys: 2}" {
		t.Fatalf("%%v of a keyring = %q", got)
	}
}
