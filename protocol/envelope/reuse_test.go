package envelope

import (
	"bytes"
	"math"
	"testing"
)

// The reused hash table never changes the output: a block is the same
// whatever was compressed before it, including right after the table's base
// wrapped around.
func TestCompressIndependentOfHistory(t *testing.T) {
	inputs := [][]byte{benchData(1 << 10), bytes.Repeat([]byte("A"), 1024), benchData(70 << 10), []byte("abcdabcdabcdabcdabcd")}
	fresh := func(src []byte) []byte {
		st := &lz4State{}
		dst := make([]byte, compressBound(len(src)))
		return dst[:compressBlockWith(st, src, dst)]
	}
	for i, a := range inputs {
		want := fresh(a)
		for _, b := range inputs {
			dst := make([]byte, compressBound(len(b)))
			compressBlock(b, dst)
			got := make([]byte, compressBound(len(a)))
			if n := compressBlock(a, got); !bytes.Equal(got[:n], want) {
				t.Fatalf("input %d: output depends on the previous input", i)
			}
		}
		st := &lz4State{base: math.MaxUint32 - 10}
		dst := make([]byte, compressBound(len(a)))
		if n := compressBlockWith(st, a, dst); !bytes.Equal(dst[:n], want) {
			t.Fatalf("input %d: output differs after the base wrapped", i)
		}
	}
}
