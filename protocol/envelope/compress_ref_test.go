package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// referenceCompress is the algorithm of compress.go's file comment written
// as plainly as possible: a fresh zeroed table, one hash function per input
// size, byte-by-byte match extension. The production compressor is tuned
// for speed (reused table, one multiplication for both hashes, a separate
// search function); it must produce exactly these bytes.
func referenceCompress(src []byte) []byte {
	var out []byte
	if len(src) < lz4MinLength {
		return appendLiterals(out, src)
	}
	var table [1 << lz4TableBits]int
	hash := func(pos int) int {
		if len(src) < lz4SmallInputLe {
			return int((binary.LittleEndian.Uint32(src[pos:]) * 2654435761) >> (32 - lz4TableBits))
		}
		return int(((binary.LittleEndian.Uint64(src[pos:]) << 24) * 889523592379) >> (64 - lz4TableBits))
	}
	endCheck := len(src) - lz4MFLimit
	matchLimit := len(src) - lz4EndOffset
	litStart := 0
	table[hash(0)] = 0
	cur := 1
	for {
		misses := 1 << lz4StepShift
		next := cur
		cand := 0
		for {
			cur = next
			next += misses >> lz4StepShift
			misses++
			if cur > endCheck {
				return appendLiterals(out, src[litStart:])
			}
			h := hash(cur)
			cand = table[h]
			table[h] = cur
			if cur-cand <= lz4MaxDistance && bytes.Equal(src[cand:cand+4], src[cur:cur+4]) {
				break
			}
		}
		offset := cur - cand
		for cand > 0 && cur > litStart && src[cur-1] == src[cand-1] {
			cur--
			cand--
		}
		litLen := cur - litStart
		cur += lz4MinMatch
		cand += lz4MinMatch
		start := cur
		for cur < matchLimit && src[cur] == src[cand] {
			cur++
			cand++
		}
		matchLen := cur - start
		table[hash(cur-2)] = cur - 2
		out = append(out, byte(min(litLen, 15))<<4|byte(min(matchLen, 15)))
		if litLen >= 15 {
			out = appendLength(out, litLen-15)
		}
		out = append(out, src[litStart:litStart+litLen]...)
		out = append(out, byte(offset), byte(offset>>8))
		if matchLen >= 15 {
			out = appendLength(out, matchLen-15)
		}
		litStart = cur
	}
}

// TestCompressMatchesReference compares the production compressor with the
// plain one on inputs of every kind and on sizes around the thresholds
// (13-byte minimum, the 65535-byte hash switch, the 64 KiB window), one
// after the other so that the reused table holds stale slots.
func TestCompressMatchesReference(t *testing.T) {
	rnd := rand.New(rand.NewPCG(99, 1))
	gen := func(n, kind int) []byte {
		b := make([]byte, n)
		switch kind {
		case 0: // random
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
		case 1: // small alphabet
			for i := range b {
				b[i] = 'a' + byte(rnd.IntN(3))
			}
		case 2: // runs of random and of a short period, like benchData
			period := 1 + rnd.IntN(9)
			for i := range b {
				if (i/64)%2 == 0 {
					b[i] = byte(rnd.Uint32())
				} else {
					b[i] = byte(i % period)
				}
			}
		case 3: // a random block repeated with mutations
			blk := make([]byte, 1+rnd.IntN(3000))
			for i := range blk {
				blk[i] = byte(rnd.Uint32())
			}
			for i := range b {
				b[i] = blk[i%len(blk)]
				if rnd.IntN(50) == 0 {
					b[i] ^= 0x55
				}
			}
		}
		return b
	}
	sizes := []int{0, 1, 12, 13, 14, 19, 20, 21, 64, 1023, 1024, 1025, 4096, 16 << 10,
		65533, 65534, 65535, 65536, 65537, 70000, 140000}
	for range 40 {
		sizes = append(sizes, rnd.IntN(5000))
	}
	for name, src := range oracleInputs() { // the reference agrees with lz4_flex too
		dst := make([]byte, compressBound(len(src)))
		if got := dst[:compressBlock(src, dst)]; !bytes.Equal(got, referenceCompress(src)) {
			t.Fatalf("%s: differs from the reference", name)
		}
	}
	for _, n := range sizes {
		for kind := range 4 {
			src := gen(n, kind)
			want := referenceCompress(src)
			dst := make([]byte, compressBound(n))
			got := dst[:compressBlock(src, dst)]
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: %d bytes, reference %d", fmt.Sprintf("size %d kind %d", n, kind), len(got), len(want))
			}
		}
	}
}
