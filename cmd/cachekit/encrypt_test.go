package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

const (
	masterA = "6161616161616161616161616161616161616161616161616161616161616161" // the vectors' master key
	masterB = "6262626262626262626262626262626262626262626262626262626262626262"
)

// okEnv runs the CLI with env and fails the test unless it exits 0.
func okEnv(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	r := cliEnv(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cachekit %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// failsEnv checks an exit 1 with a one-line reason containing want that
// never shows a master key.
func failsEnv(t *testing.T, env []string, want string, args ...string) {
	t.Helper()
	r := cliEnv(t, env, "", args...)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("cachekit %v: exit %d stdout %q, want exit 1 and no output", args, r.code, r.stdout)
	}
	if strings.Contains(r.stderr, "\n") || !strings.Contains(r.stderr, want) {
		t.Fatalf("cachekit %v: stderr %q, want one line containing %q", args, r.stderr, want)
	}
	for _, k := range []string{masterA, masterB, masterA[:16], masterB[:16]} {
		if strings.Contains(r.stderr, k) {
			t.Fatalf("stderr %q shows key material", r.stderr)
		}
	}
}

func TestEncryptedInteropVector(t *testing.T) {
	var file struct {
		Encryption []struct {
			MasterKeyHex  string `json:"master_key_hex"`
			TenantID      string `json:"tenant_id"`
			CacheKey      string `json:"cache_key"`
			PlaintextHex  string `json:"plaintext_hex"`
			NonceHex      string `json:"nonce_hex"`
			CiphertextHex string `json:"ciphertext_hex"`
		} `json:"encryption_vectors"`
	}
	loadVectors(t, "interop-mode.json", &file)
	if len(file.Encryption) == 0 {
		t.Fatal("no encryption vectors")
	}
	for _, v := range file.Encryption {
		env := []string{"CACHEKIT_MASTER_KEY=" + v.MasterKeyHex}
		// The plaintext is the canonical MessagePack of a value: get it as JSON.
		js := ok(t, "", "decode", "--mode", "interop", "--key", "k", v.PlaintextHex)
		got := okEnv(t, env, "", "encode", "--mode", "interop", "--key", v.CacheKey, "--tenant", v.TenantID,
			"--nonce", v.NonceHex, "--test-only-fixed-nonce", "--value", js)
		if got != v.CiphertextHex {
			t.Fatalf("encode: %s, want %s", got, v.CiphertextHex)
		}
		if back := okEnv(t, env, "", "decode", "--mode", "interop", "--key", v.CacheKey, "--tenant", v.TenantID, v.CiphertextHex); back != js {
			t.Fatalf("decode: %s, want %s", back, js)
		}
		// Another tenant, another key: authentication fails.
		failsEnv(t, env, "wrong key", "decode", "--mode", "interop", "--key", v.CacheKey, "--tenant", "other", v.CiphertextHex)
		failsEnv(t, env, "wrong key", "decode", "--mode", "interop", "--key", v.CacheKey+"0", "--tenant", v.TenantID, v.CiphertextHex)
	}
}

func TestEncryptedAuto(t *testing.T) {
	value := `{"name": "alice-secret-name", "pin": 1234}`
	envA := []string{"CACHEKIT_MASTER_KEY=" + masterA}
	for _, integrity := range []bool{true, false} {
		args := []string{"encode", "--mode", "auto", "--key", "users:1", "--tenant", "cross-sdk-test", "--value", value}
		if !integrity {
			args = append(args, "--no-integrity")
		}
		stored := okEnv(t, envA, "", args...)
		raw, err := hex.DecodeString(stored)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"encrypted": true`, `"tenant_id": "cross-sdk-test"`,
			`"encryption_algorithm": "AES-256-GCM"`, `"key_fingerprint": "96179a9bc881aa7ca83f04b78a66afd3"`} {
			if !bytes.Contains(raw, []byte(want)) {
				t.Fatalf("integrity=%v: frame header lacks %s", integrity, want)
			}
		}
		if bytes.Contains(raw, []byte("alice-secret-name")) {
			t.Fatal("the stored entry contains the value in plaintext")
		}
		dec := []string{"decode", "--key", "users:1", "--tenant", "cross-sdk-test", stored}
		if got := okEnv(t, envA, "", dec...); got != value {
			t.Fatalf("integrity=%v: decode %s, want %s", integrity, got, value)
		}
		failsEnv(t, envA, "wrong tenant", "decode", "--key", "users:1", "--tenant", "someone-else", stored)
		failsEnv(t, envA, "tamper", "decode", "--key", "users:2", "--tenant", "cross-sdk-test", stored)
		failsEnv(t, []string{"CACHEKIT_MASTER_KEY=" + masterB}, "wrong key", dec...)
		tampered := bytes.Clone(raw)
		tampered[len(tampered)-1] ^= 1
		failsEnv(t, envA, "tamper", "decode", "--key", "users:1", "--tenant", "cross-sdk-test", hex.EncodeToString(tampered))
		hdrEnd := 7 + int(binary.BigEndian.Uint32(raw[3:7]))
		failsEnv(t, envA, "corruption", "decode", "--key", "users:1", "--tenant", "cross-sdk-test", hex.EncodeToString(raw[:hdrEnd+27]))
		failsEnv(t, nil, "CACHEKIT_MASTER_KEY", "decode", "--key", "users:1", stored)
	}
	// An unencrypted entry read with encryption on is refused.
	plain := ok(t, "", "encode", "--key", "users:1", "--value", value)
	failsEnv(t, envA, "not encrypted", "decode", "--key", "users:1", "--tenant", "t", plain)
}

func TestEncryptedRotation(t *testing.T) {
	const uuid = "6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b"
	oldEnv := []string{"CACHEKIT_MASTER_KEY=" + masterA, "CACHEKIT_DEPLOYMENT_UUID=" + uuid}
	rotated := []string{"CACHEKIT_MASTER_KEY=" + masterB, "CACHEKIT_PREVIOUS_MASTER_KEYS=" + masterA, "CACHEKIT_DEPLOYMENT_UUID=" + uuid}
	dropped := []string{"CACHEKIT_MASTER_KEY=" + masterB, "CACHEKIT_DEPLOYMENT_UUID=" + uuid}
	for _, mode := range []string{"auto", "interop"} {
		old := okEnv(t, oldEnv, "", "encode", "--mode", mode, "--key", "a:b:c", "--value", `"v1"`)
		if got := okEnv(t, rotated, "", "decode", "--mode", mode, "--key", "a:b:c", old); got != `"v1"` {
			t.Fatalf("%s: rotated read %s", mode, got)
		}
		newer := okEnv(t, rotated, "", "encode", "--mode", mode, "--key", "a:b:c", "--value", `"v2"`)
		failsEnv(t, oldEnv, "wrong key", "decode", "--mode", mode, "--key", "a:b:c", newer)
		failsEnv(t, dropped, "wrong key", "decode", "--mode", mode, "--key", "a:b:c", old)
		if got := okEnv(t, dropped, "", "decode", "--mode", mode, "--key", "a:b:c", newer); got != `"v2"` {
			t.Fatalf("%s: read after dropping the old key: %s", mode, got)
		}
	}
}

func TestEncryptionConfigErrors(t *testing.T) {
	enc := []string{"encode", "--key", "k", "--value", "1"}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"short key", []string{"CACHEKIT_MASTER_KEY=" + masterA[:40]}, append(enc, "--tenant", "t"), "invalid master key"},
		{"non-hex key", []string{"CACHEKIT_MASTER_KEY=zz" + masterA[2:]}, append(enc, "--tenant", "t"), "invalid master key"},
		{"no tenant", []string{"CACHEKIT_MASTER_KEY=" + masterA}, enc, "--tenant"},
		{"bad deployment UUID", []string{"CACHEKIT_MASTER_KEY=" + masterA, "CACHEKIT_DEPLOYMENT_UUID=nope"}, enc, "CACHEKIT_DEPLOYMENT_UUID"},
		{"tenant without key", nil, append(enc, "--tenant", "t"), "CACHEKIT_MASTER_KEY"},
		{"nonce without key", nil, append(enc, "--nonce", "000102030405060708090a0b", "--test-only-fixed-nonce"), "CACHEKIT_MASTER_KEY"},
		{"bad nonce", []string{"CACHEKIT_MASTER_KEY=" + masterA}, append(enc, "--tenant", "t", "--nonce", "0001", "--test-only-fixed-nonce"), "--nonce"},
		{"fixed nonce without the test-only flag", []string{"CACHEKIT_MASTER_KEY=" + masterA}, append(enc, "--tenant", "t", "--nonce", "000102030405060708090a0b"), "--test-only-fixed-nonce"},
		{"current key among previous", []string{"CACHEKIT_MASTER_KEY=" + masterA, "CACHEKIT_PREVIOUS_MASTER_KEYS=" + masterB + "," + masterA},
			append(enc, "--tenant", "t"), "current key"},
		{"too many previous", []string{"CACHEKIT_MASTER_KEY=" + masterA, "CACHEKIT_PREVIOUS_MASTER_KEYS=" + strings.Repeat(masterB+",", 4)},
			append(enc, "--tenant", "t"), "at most 3"},
		{"interop with non-canonical UUID", []string{"CACHEKIT_MASTER_KEY=" + masterA, "CACHEKIT_DEPLOYMENT_UUID=6F1C2A9E-3B4D-4E5F-8A7B-0C1D2E3F4A5B"},
			[]string{"encode", "--mode", "interop", "--key", "a:b:c", "--value", "1"}, "canonical"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { failsEnv(t, c.env, c.want, c.args...) })
	}
}

// The decoded JSON of the vector plaintext is what the interop value
// vectors call {"age": 30, "name": "alice"}.
func TestVectorPlaintextIsJSON(t *testing.T) {
	js := ok(t, "", "decode", "--mode", "interop", "--key", "k", "82a36167651ea46e616d65a5616c696365")
	var v map[string]any
	if err := json.Unmarshal([]byte(js), &v); err != nil || v["name"] != "alice" {
		t.Fatalf("%s: %v", js, err)
	}
}

// TestFixedNonceGuard runs the binary: a fixed nonce under the real master
// key is refused without the test-only flag (nothing is encrypted), and with
// it the entry is written and a warning naming the danger goes to stderr.
func TestFixedNonceGuard(t *testing.T) {
	env := []string{"CACHEKIT_MASTER_KEY=" + masterA}
	args := []string{"encode", "--mode", "interop", "--key", "k", "--tenant", "t", "--nonce", "000102030405060708090a0b", "--value", "1"}
	r := cliEnv(t, env, "", args...)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "--test-only-fixed-nonce") {
		t.Fatalf("without the flag: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = cliEnv(t, env, "", append(args, "--test-only-fixed-nonce")...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "000102030405060708090a0b") {
		t.Fatalf("with the flag: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "WARNING") || !strings.Contains(r.stderr, "FIXED nonce") || strings.Contains(r.stderr, masterA) {
		t.Fatalf("stderr %q: want a loud warning without the key", r.stderr)
	}
	// A random nonce (no --nonce) warns about nothing.
	r = cliEnv(t, env, "", "encode", "--mode", "interop", "--key", "k", "--tenant", "t", "--value", "1")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("random nonce: exit %d stderr %q", r.code, r.stderr)
	}
}
