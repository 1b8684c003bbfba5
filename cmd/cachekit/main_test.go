package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The CLI tests run the real binary, built once for the package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cachekit-cli")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "cachekit")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building the cachekit binary: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return cliEnv(t, nil, stdin, args...)
}

// encryptionEnv are the variables that switch the CLI to encryption; tests
// start from an environment without them and add their own.
var encryptionEnv = []string{"CACHEKIT_MASTER_KEY", "CACHEKIT_PREVIOUS_MASTER_KEYS", "CACHEKIT_DEPLOYMENT_UUID"}

// cliEnv runs the CLI with env (NAME=value) added to the test's environment
// minus encryptionEnv.
func cliEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(encryptionEnv, name) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running cachekit: %v", err)
	}
	return result{strings.TrimSpace(out.String()), strings.TrimSpace(errOut.String()), code}
}

// ok runs the CLI and fails the test unless it exits 0.
func ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("cachekit %v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the CLI and checks it exits 1 with a one-line reason containing want.
func fails(t *testing.T, want string, stdin string, args ...string) {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != 1 {
		t.Fatalf("cachekit %v: exit %d (stdout %q), want 1", args, r.code, r.stdout)
	}
	if r.stdout != "" {
		t.Errorf("cachekit %v: printed %q on stdout on failure", args, r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("cachekit %v: stderr %q, want one line containing %q", args, r.stderr, want)
	}
}

func loadVectors(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", name))
	if err != nil {
		t.Fatalf("vectors are required: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

func TestKeyVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name, Namespace   *string
			FunctionModule    string `json:"function_module"`
			FunctionQualname  string `json:"function_qualname"`
			Args              json.RawMessage
			Kwargs            json.RawMessage
			IntegrityChecking bool   `json:"integrity_checking"`
			ExpectedKey       string `json:"expected_key"`
		}
	}
	loadVectors(t, "cache-keys.json", &file)
	if len(file.Vectors) != 10 {
		t.Fatalf("want 10 cache-key vectors, got %d", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		args := []string{"key", "--func", v.FunctionModule + "." + v.FunctionQualname,
			"--args", string(v.Args), "--kwargs", string(v.Kwargs)}
		if v.Namespace != nil {
			args = append(args, "--namespace", *v.Namespace)
		}
		if !v.IntegrityChecking {
			args = append(args, "--no-integrity")
		}
		if got := ok(t, "", args...); got != v.ExpectedKey {
			t.Errorf("%s: got %s, want %s", *v.Name, got, v.ExpectedKey)
		}
	}
}

func TestKeyIntegrityFlagAndStdin(t *testing.T) {
	on := ok(t, "", "key", "--namespace", "n", "--func", "m.f", "--args", "[1]")
	off := ok(t, "", "key", "--namespace", "n", "--func", "m.f", "--args", "[1]", "--no-integrity")
	if !strings.HasSuffix(on, ":1s") || !strings.HasSuffix(off, ":0s") || on[:len(on)-2] != off[:len(off)-2] {
		t.Errorf("integrity flag: %q vs %q", on, off)
	}
	if got := ok(t, "[1]", "key", "--namespace", "n", "--func", "m.f", "--args", "-"); got != on {
		t.Errorf("--args - from stdin: %q, want %q", got, on)
	}
}

func TestInteropKeyVectors(t *testing.T) {
	var file struct {
		KeyVectors []struct {
			Name, Namespace, Operation string
			Args                       json.RawMessage
			ExpectedKey                string `json:"expected_key"`
		} `json:"key_vectors"`
		ErrorVectors []struct {
			Name      string
			Namespace *string
			Operation *string
			Args      json.RawMessage
		} `json:"error_vectors"`
	}
	loadVectors(t, "interop-mode.json", &file)
	if len(file.KeyVectors) != 33 || len(file.ErrorVectors) != 9 {
		t.Fatalf("want 33 key and 9 error vectors, got %d and %d", len(file.KeyVectors), len(file.ErrorVectors))
	}
	for _, v := range file.KeyVectors {
		got := ok(t, "", "interop-key", "--namespace", v.Namespace, "--op", v.Operation, "--args", string(v.Args))
		if got != v.ExpectedKey {
			t.Errorf("%s: got %s, want %s", v.Name, got, v.ExpectedKey)
		}
	}
	for _, v := range file.ErrorVectors {
		ns, op := "users", "get_user"
		if v.Namespace != nil {
			ns = *v.Namespace
		}
		if v.Operation != nil {
			op = *v.Operation
		}
		args := "[]"
		if len(v.Args) > 0 {
			args = string(v.Args)
		}
		if r := cli(t, "", "interop-key", "--namespace", ns, "--op", op, "--args", args); r.code != 1 || r.stderr == "" {
			t.Errorf("%s: exit %d stdout %q, want rejection", v.Name, r.code, r.stdout)
		}
	}
}

func TestInteropValueVectors(t *testing.T) {
	var file struct {
		ValueVectors []struct {
			Name                string
			Value               json.RawMessage
			CanonicalMsgpackHex string `json:"canonical_msgpack_hex"`
		} `json:"value_vectors"`
	}
	loadVectors(t, "interop-mode.json", &file)
	for _, v := range file.ValueVectors {
		got := ok(t, "", "encode", "--mode", "interop", "--key", "users:get_user:x", "--value", string(v.Value))
		if got != v.CanonicalMsgpackHex {
			t.Errorf("%s: encode got %s, want %s", v.Name, got, v.CanonicalMsgpackHex)
		}
		// decode prints tagged JSON; re-encoding it must give the same bytes.
		js := ok(t, "", "decode", "--mode", "interop", "--key", "k", v.CanonicalMsgpackHex)
		if again := ok(t, "", "encode", "--mode", "interop", "--key", "k", "--value", js); again != v.CanonicalMsgpackHex {
			t.Errorf("%s: decode -> encode gave %s (json %s)", v.Name, again, js)
		}
	}
}

func TestEncodeDecodeAuto(t *testing.T) {
	value := `{"age": 30, "b": {"$bytes": "00ff"}, "f": {"$float": "1.5"}, "name": "alice", "when": {"$datetime": "2025-11-14T10:30:00+00:00"}}`
	for _, integrity := range []bool{true, false} {
		args := []string{"encode", "--mode", "auto", "--key", "k", "--value", value}
		if !integrity {
			args = append(args, "--no-integrity")
		}
		stored := ok(t, "", args...)
		raw, _ := hex.DecodeString(stored)
		if !bytes.HasPrefix(raw, []byte("CK\x03")) {
			t.Fatalf("auto mode must write a CK v3 frame, got %x", raw[:8])
		}
		wantHeader := `"compressed": true`
		if !integrity {
			wantHeader = `"compressed": false`
		}
		if !bytes.Contains(raw, []byte(wantHeader)) {
			t.Errorf("integrity=%v: header lacks %s", integrity, wantHeader)
		}
		// Decode from stdin, flags after the positional argument.
		if got := ok(t, stored+"\n", "decode", "-", "--key", "k"); got != value {
			t.Errorf("integrity=%v: decode got %s, want %s", integrity, got, value)
		}
	}
}

func TestDecodeRejectsTampering(t *testing.T) {
	stored := ok(t, "", "encode", "--mode", "auto", "--key", "k", "--value", `{"name": "alice", "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	raw, _ := hex.DecodeString(stored)
	// Flip a byte in the envelope's checksum (the 8 uints before "msgpack").
	i := bytes.LastIndex(raw, []byte("\xa7msgpack")) - 3
	raw[i] ^= 0x01
	fails(t, "checksum", "", "decode", "--key", "k", hex.EncodeToString(raw))
	fails(t, "truncated", "", "decode", "--key", "k", stored[:len(stored)-20])
}

func TestEnvelopeVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name             string
			EnvelopeHex      string `json:"envelope_hex"`
			InputHex         string `json:"input_hex"`
			EnvelopeEncoding string `json:"envelope_encoding"`
		}
	}
	loadVectors(t, "wire-format.json", &file)
	if len(file.Vectors) != 12 {
		t.Fatalf("want 12 envelopes, got %d", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		if got := ok(t, "", "envelope", "unpack", v.EnvelopeHex); got != v.InputHex {
			t.Errorf("%s: unpack got %s, want %s", v.Name, got, v.InputHex)
		}
		packed := ok(t, "", "envelope", "pack", v.InputHex)
		if v.EnvelopeEncoding == "bin" && packed != v.EnvelopeHex {
			t.Errorf("%s: pack got %s, want the reference bytes %s", v.Name, packed, v.EnvelopeHex)
		}
		if back := ok(t, packed, "envelope", "unpack", "-"); back != v.InputHex {
			t.Errorf("%s: pack -> unpack got %s", v.Name, back)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	cases := []struct {
		name, want, stdin string
		args              []string
	}{
		{"no command", "usage", "", nil},
		{"unknown command", "unknown command", "", []string{"frobnicate"}},
		{"bad json", "--args", "", []string{"key", "--func", "m.f", "--args", "[1,"}},
		{"args not array", "array", "", []string{"key", "--func", "m.f", "--args", `{"a":1}`}},
		{"missing func", "--func is required", "", []string{"key", "--args", "[1]"}},
		{"bad hex", "invalid hex", "", []string{"decode", "--key", "k", "zz"}},
		{"bad mode", "--mode", "", []string{"decode", "--mode", "x", "--key", "k", "00"}},
		{"bad segment", "interop", "", []string{"interop-key", "--namespace", "Users", "--op", "x", "--args", "[]"}},
		{"interop rejects a frame", "frame", "", []string{"decode", "--mode", "interop", "--key", "k", hex.EncodeToString([]byte("CK\x03\x00\x00\x00\x02{}"))}},
		{"trailing bytes", "trailing", "", []string{"decode", "--mode", "interop", "--key", "k", "c0c0"}},
		{"two stdin args", "standard input", "[]", []string{"key", "--func", "m.f", "--args", "-", "--kwargs", "-"}},
		{"envelope usage", "usage", "", []string{"envelope", "squash", "00"}},
		{"envelope garbage", "envelope", "", []string{"envelope", "unpack", "c1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, c.stdin, c.args...)
			if r.code != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d stderr %q, want exit 1 mentioning %q", r.code, r.stderr, c.want)
			}
		})
	}
}
