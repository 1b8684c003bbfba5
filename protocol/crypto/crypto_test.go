package crypto

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type interopFile struct {
	AADVectors []struct {
		Name       string `json:"name"`
		TenantID   string `json:"tenant_id"`
		CacheKey   string `json:"cache_key"`
		Format     string `json:"format"`
		Compressed bool   `json:"compressed"`
		AADHex     string `json:"aad_hex"`
	} `json:"aad_vectors"`
	EncryptionVectors []struct {
		Name           string `json:"name"`
		MasterKeyHex   string `json:"master_key_hex"`
		TenantID       string `json:"tenant_id"`
		Fingerprint    string `json:"derived_key_fingerprint_hex"`
		CacheKey       string `json:"cache_key"`
		Format         string `json:"format"`
		Compressed     bool   `json:"compressed"`
		AADHex         string `json:"aad_hex"`
		PlaintextHex   string `json:"plaintext_hex"`
		NonceHex       string `json:"nonce_hex"`
		CiphertextHex  string `json:"ciphertext_hex"`
		CiphertextForm string `json:"ciphertext_layout"`
	} `json:"encryption_vectors"`
}

// loadInterop reads the published vectors (testdata/vectors) as they are; a missing file fails.
func loadInterop(t testing.TB) interopFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "interop-mode.json"))
	if err != nil {
		t.Fatalf("interop vectors: %v", err)
	}
	var f interopFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("interop vectors: %v", err)
	}
	if len(f.AADVectors) == 0 || len(f.EncryptionVectors) == 0 {
		t.Fatal("interop vectors: no aad or encryption vectors")
	}
	return f
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAADVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadInterop(t).AADVectors {
		if got := AAD(v.TenantID, v.CacheKey, v.Format, v.Compressed, ""); !bytes.Equal(got, unhex(t, v.AADHex)) {
			t.Errorf("%s: AAD\n got %x\nwant %s", v.Name, got, v.AADHex)
		}
	}
}

func TestEncryptionVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadInterop(t).EncryptionVectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			master, err := ParseMasterKey(v.MasterKeyHex)
			if err != nil {
				t.Fatal(err)
			}
			key, err := DeriveTenantKey(master, v.TenantID)
			if err != nil {
				t.Fatal(err)
			}
			if fp := Fingerprint(key); fp != v.Fingerprint {
				t.Fatalf("fingerprint %s, want %s", fp, v.Fingerprint)
			}
			aad := AAD(v.TenantID, v.CacheKey, v.Format, v.Compressed, "")
			if !bytes.Equal(aad, unhex(t, v.AADHex)) {
				t.Fatalf("AAD %x", aad)
			}
			a, err := NewAEAD(key)
			if err != nil {
				t.Fatal(err)
			}
			if a.Fingerprint() != v.Fingerprint {
				t.Fatal("AEAD fingerprint differs")
			}
			nonce := [NonceSize]byte(unhex(t, v.NonceHex))
			want := unhex(t, v.CiphertextHex)
			if got := a.SealWithNonce(nonce, unhex(t, v.PlaintextHex), aad); !bytes.Equal(got, want) {
				t.Fatalf("Seal\n got %x\nwant %x", got, want)
			}
			pt, err := a.Open(want, aad)
			if err != nil || !bytes.Equal(pt, unhex(t, v.PlaintextHex)) {
				t.Fatalf("Open = %x, %v", pt, err)
			}
			ta, err := NewTenantAEAD(master, v.TenantID)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := ta.Open(want, aad); err != nil || !bytes.Equal(pt, unhex(t, v.PlaintextHex)) {
				t.Fatalf("NewTenantAEAD Open: %v", err)
			}
		})
	}
}

func TestFingerprintKnownAnswer(t *testing.T) {
	t.Parallel()
	key, err := DeriveTenantKey(bytes.Repeat([]byte{0x61}, 32), "cross-sdk-test")
	if err != nil {
		t.Fatal(err)
	}
	if fp := Fingerprint(key); fp != "96179a9bc881aa7ca83f04b78a66afd3" {
		t.Fatalf("fingerprint %s", fp)
	}
}

func TestDeriveTenantKey(t *testing.T) {
	t.Parallel()
	master := bytes.Repeat([]byte{0x61}, 32)
	a, _ := DeriveTenantKey(master, "tenant-a")
	b, _ := DeriveTenantKey(master, "tenant-b")
	long, err := DeriveTenantKey(append(master, 1), "tenant-a")
	if err != nil || len(a) != KeySize || bytes.Equal(a, b) || bytes.Equal(a, long) {
		t.Fatalf("keys must be 32 bytes and differ per tenant and master: %v", err)
	}
	if _, err := DeriveTenantKey(master, strings.Repeat("t", MaxTenantIDSize)); err != nil {
		t.Fatalf("1024-byte tenant: %v", err)
	}
	for name, tc := range map[string]struct {
		master []byte
		tenant string
		want   error
	}{
		"short master":  {master[:31], "t", ErrInvalidMasterKey},
		"nil master":    {nil, "t", ErrInvalidMasterKey},
		"empty tenant":  {master, "", ErrInvalidTenant},
		"tenant 1025 B": {master, strings.Repeat("t", MaxTenantIDSize+1), ErrInvalidTenant},
	} {
		if _, err := DeriveTenantKey(tc.master, tc.tenant); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestAADLayout(t *testing.T) {
	t.Parallel()
	got := AAD("t", "k", "msgpack", true, "msgpack")
	want := []byte("\x03" +
		"\x00\x00\x00\x01t" +
		"\x00\x00\x00\x01k" +
		"\x00\x00\x00\x07msgpack" +
		"\x00\x00\x00\x04True" +
		"\x00\x00\x00\x07msgpack")
	if !bytes.Equal(got, want) {
		t.Fatalf("AAD %q", got)
	}
	if got := AAD("", "", "", false, ""); !bytes.Equal(got, []byte("\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05False")) {
		t.Fatalf("empty AAD %q", got)
	}
}

func testAEAD(t testing.TB) *AEAD {
	t.Helper()
	a, err := NewTenantAEAD(bytes.Repeat([]byte{0x42}, 32), "tamper-test")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTamper(t *testing.T) {
	t.Parallel()
	a := testAEAD(t)
	aad := AAD("tamper-test", "users:1", "msgpack", true, "msgpack")
	sealed := a.Seal([]byte("secret value, 32 bytes long....."), aad)
	if len(sealed) != Overhead+32 {
		t.Fatalf("sealed length %d", len(sealed))
	}
	flips := map[string]int{"nonce first": 0, "nonce last": NonceSize - 1, "ciphertext": NonceSize + 5,
		"tag first": len(sealed) - TagSize, "tag last": len(sealed) - 1}
	for name, at := range flips {
		for bit := range 8 {
			bad := bytes.Clone(sealed)
			bad[at] ^= 1 << bit
			if pt, err := a.Open(bad, aad); !errors.Is(err, ErrAuthentication) || pt != nil {
				t.Fatalf("%s bit %d: %v", name, bit, err)
			}
		}
	}
	for i := range aad {
		bad := bytes.Clone(aad)
		bad[i] ^= 0x80
		if _, err := a.Open(sealed, bad); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("AAD byte %d: %v", i, err)
		}
	}
	for name, wrongAAD := range map[string][]byte{
		"other key":       AAD("tamper-test", "users:2", "msgpack", true, "msgpack"),
		"other tenant":    AAD("tamper-test2", "users:1", "msgpack", true, "msgpack"),
		"not compressed":  AAD("tamper-test", "users:1", "msgpack", false, "msgpack"),
		"no 5th":          AAD("tamper-test", "users:1", "msgpack", true, ""),
		"empty":           nil,
		"appended":        append(bytes.Clone(aad), 0),
		"truncated":       aad[:len(aad)-1],
		"swapped version": append([]byte{0x02}, aad[1:]...),
	} {
		if _, err := a.Open(sealed, wrongAAD); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := NewTenantAEAD(bytes.Repeat([]byte{0x42}, 32), "tamper-test-2")
	if _, err := other.Open(sealed, aad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := a.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("appended byte: %v", err)
	}
	if pt, err := a.Open(sealed, aad); err != nil || string(pt) != "secret value, 32 bytes long....." {
		t.Fatalf("untampered: %v", err)
	}
}

func TestShortInput(t *testing.T) {
	t.Parallel()
	a := testAEAD(t)
	for n := range Overhead {
		if _, err := a.Open(make([]byte, n), nil); !errors.Is(err, ErrTooShort) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	if _, err := a.Open(make([]byte, Overhead), nil); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("28 zero bytes: %v", err)
	}
	empty := a.Seal(nil, []byte("aad"))
	if len(empty) != Overhead {
		t.Fatalf("empty plaintext sealed to %d bytes", len(empty))
	}
	if pt, err := a.Open(empty, []byte("aad")); err != nil || pt == nil || len(pt) != 0 {
		t.Fatalf("empty plaintext: %v %v", pt, err)
	}
}

func TestNewAEADKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewAEAD(make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("ab", 32)
	for _, in := range []string{good, strings.ToUpper(good), " " + good + "\n", strings.Repeat("0f", 64)} {
		k, err := ParseMasterKey(in)
		if err != nil || len(k) < 32 {
			t.Errorf("ParseMasterKey(%q): %v", in, err)
		}
	}
	secret := "zz" + strings.Repeat("c3", 31)
	for name, in := range map[string]string{
		"empty":    "",
		"spaces":   "   ",
		"short":    strings.Repeat("ab", 31),
		"odd":      good + "a",
		"non-hex":  secret,
		"0x":       "0x" + good,
		"inner ws": good[:10] + " " + good[10:] + "a",
	} {
		_, err := ParseMasterKey(in)
		if !errors.Is(err, ErrInvalidMasterKey) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "c3c3") || strings.Contains(err.Error(), "abab") {
			t.Errorf("%s: error echoes the key: %v", name, err)
		}
	}
}

// TestDeriveTenantKeySaltLayout rebuilds the HKDF salt byte by byte:
// "cachekit_v1_" || u8(len("encryption")) || "encryption" || u16be(len(tenant))
// || tenant, with info "encryption". A 300-byte tenant needs both length bytes
// (a u8 length or a little-endian u16 would differ), a 1-byte tenant the
// smallest form.
func TestDeriveTenantKeySaltLayout(t *testing.T) {
	t.Parallel()
	master := bytes.Repeat([]byte{0x5a}, 48)
	for _, tenant := range []string{"t", strings.Repeat("x", 300), strings.Repeat("é", 512)} {
		salt := []byte("cachekit_v1_\x0aencryption")
		salt = append(salt, byte(len(tenant)>>8), byte(len(tenant)))
		salt = append(salt, tenant...)
		want, err := hkdf.Key(sha256.New, master, salt, "encryption", 32)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DeriveTenantKey(master, tenant)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tenant of %d bytes: %x, %v; want %x", len(tenant), got, err, want)
		}
	}
	// The tenant limit counts bytes: 512 x "é" is 1024 bytes, 513 is too many.
	if _, err := DeriveTenantKey(master, strings.Repeat("é", 513)); !errors.Is(err, ErrInvalidTenant) {
		t.Fatalf("1026-byte tenant: %v", err)
	}
}
