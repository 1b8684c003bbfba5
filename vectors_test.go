package cachekit

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// publishedVectors pins the SHA-256 of every file in testdata/vectors: the
// reference projects' public test vectors, which the protocol tests read and
// which must stay byte-for-byte as published (see testdata/vectors/README.md).
var publishedVectors = map[string]string{
	"cache-keys.json":   "50007eb31628aa5e50d81ce0cbbc28d02f7e0697c96f959f381ae510f2a1ab20",
	"interop-mode.json": "a1f24b61e4957e9500a01ce7ed9fbb3ec601847514b481bf54813d9e470226df",
	"wire-format.json":  "d6184a945d8cb22491b5c937414fe4d01e682d084ccec9dae9526d0ffba650cb",
}

// TestVectorsUnchanged fails when a vector file is edited, removed or added
// without updating publishedVectors.
func TestVectorsUnchanged(t *testing.T) {
	dir := filepath.Join("testdata", "vectors")
	found, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range found {
		names = append(names, filepath.Base(p))
	}
	var want []string
	for name := range publishedVectors {
		want = append(want, name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("testdata/vectors holds %v, want exactly %v", names, want)
	}
	for name, sum := range publishedVectors {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s changed: sha256 %x, published %s (the vectors are used verbatim; see testdata/vectors/README.md)", name, got, sum)
		}
	}
}
