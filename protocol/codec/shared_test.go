package codec_test

import (
	"bytes"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/codec"
)

type blobHolder struct {
	Name string `msgpack:"name"`
	Data []byte `msgpack:"data"`
}

type namedBytes []byte

// UnmarshalShared returns byte slices that share the document's memory (no
// copy), with their capacity cut at their length; Unmarshal copies, so its
// result does not change when the document is overwritten. Strings are
// copies either way, and an empty bin stays a non-nil empty slice.
func TestUnmarshalShared(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab}, 300)
	doc, err := codec.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	var shared, copied []byte
	if err := codec.UnmarshalShared(doc, &shared); err != nil {
		t.Fatal(err)
	}
	if err := codec.Unmarshal(doc, &copied); err != nil {
		t.Fatal(err)
	}
	if &shared[0] != &doc[len(doc)-len(payload)] {
		t.Fatal("UnmarshalShared copied the bytes")
	}
	if cap(shared) != len(shared) {
		t.Fatalf("cap %d > len %d", cap(shared), len(shared))
	}
	clear(doc)
	if !bytes.Equal(copied, payload) {
		t.Fatal("Unmarshal's result changed with the document: it aliases its input")
	}

	doc, _ = codec.Marshal(blobHolder{Name: "n", Data: []byte("abc")})
	var h blobHolder
	if err := codec.UnmarshalShared(doc, &h); err != nil || h.Name != "n" || string(h.Data) != "abc" {
		t.Fatalf("struct: %+v %v", h, err)
	}
	clear(doc)
	if h.Name != "n" {
		t.Fatal("a string shares the document's memory")
	}

	doc, _ = codec.Marshal([]byte("xyz"))
	var nb namedBytes
	if err := codec.UnmarshalShared(doc, &nb); err != nil || string(nb) != "xyz" {
		t.Fatalf("named byte slice: %q %v", nb, err)
	}

	doc, _ = codec.Marshal([]byte{})
	empty := []byte("not empty")
	if err := codec.UnmarshalShared(doc, &empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("empty bin: %v (nil %v) %v", empty, empty == nil, err)
	}
}
