package interop_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cachekit-go/cachekit/internal/taggedjson"
	"github.com/cachekit-go/cachekit/protocol/interop"
)

type vectorFile struct {
	KeyVectors []struct {
		Name         string          `json:"name"`
		Namespace    string          `json:"namespace"`
		Operation    string          `json:"operation"`
		Args         json.RawMessage `json:"args"`
		CanonicalHex string          `json:"canonical_args_hex"`
		ArgsHash     string          `json:"args_hash"`
		ExpectedKey  string          `json:"expected_key"`
	} `json:"key_vectors"`
	ValueVectors []struct {
		Name         string          `json:"name"`
		Value        json.RawMessage `json:"value"`
		CanonicalHex string          `json:"canonical_msgpack_hex"`
	} `json:"value_vectors"`
	ErrorVectors []struct {
		Name      string          `json:"name"`
		Namespace *string         `json:"namespace"`
		Operation *string         `json:"operation"`
		Args      json.RawMessage `json:"args"`
	} `json:"error_vectors"`
}

func loadVectors(t *testing.T) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "interop-mode.json"))
	if err != nil {
		t.Fatalf("vectors are required: %v", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.KeyVectors) != 33 || len(vf.ValueVectors) != 4 || len(vf.ErrorVectors) != 9 {
		t.Fatalf("vector counts: %d key, %d value, %d error", len(vf.KeyVectors), len(vf.ValueVectors), len(vf.ErrorVectors))
	}
	return &vf
}

func TestKeyVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t).KeyVectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			parsed, err := taggedjson.Parse(v.Args)
			if err != nil {
				t.Fatal(err)
			}
			args := parsed.([]any)
			canon, err := interop.CanonicalArgs(args)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(canon); got != v.CanonicalHex {
				t.Fatalf("canonical args\n got %s\nwant %s", got, v.CanonicalHex)
			}
			h, err := interop.ArgsHash(args)
			if err != nil || h != v.ArgsHash {
				t.Fatalf("args hash %s (%v), want %s", h, err, v.ArgsHash)
			}
			k, err := interop.Key(v.Namespace, v.Operation, args)
			if err != nil || k != v.ExpectedKey {
				t.Fatalf("key %s (%v), want %s", k, err, v.ExpectedKey)
			}
		})
	}
}

func TestValueVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t).ValueVectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			val, err := taggedjson.Parse(v.Value)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := interop.EncodeValue(val)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(enc); got != v.CanonicalHex {
				t.Fatalf("canonical value\n got %s\nwant %s", got, v.CanonicalHex)
			}
			want, _ := hex.DecodeString(v.CanonicalHex)
			dec, err := interop.DecodeValue(want)
			if err != nil {
				t.Fatal(err)
			}
			again, err := interop.EncodeValue(dec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, want) {
				t.Fatalf("round trip\n got %x\nwant %x", again, want)
			}
		})
	}
}

func TestErrorVectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t).ErrorVectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			parsed, err := taggedjson.Parse(v.Args)
			if err != nil {
				// Only a naive datetime is refused while reading: Go has no naive time.
				if !errors.Is(err, taggedjson.ErrNaiveDatetime) {
					t.Fatalf("unexpected parse error: %v", err)
				}
				return
			}
			args := parsed.([]any)
			if v.Namespace != nil {
				_, err := interop.Key(*v.Namespace, *v.Operation, args)
				if !errors.Is(err, interop.ErrInvalidSegment) {
					t.Fatalf("Key accepted an invalid segment: %v", err)
				}
				return
			}
			_, err = interop.CanonicalArgs(args)
			if !errors.Is(err, interop.ErrNonFinite) && !errors.Is(err, interop.ErrIntRange) {
				t.Fatalf("CanonicalArgs: %v", err)
			}
			if _, err := interop.Key("ns", "op", args); err == nil {
				t.Fatal("Key accepted the arguments")
			}
		})
	}
}
