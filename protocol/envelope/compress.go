package envelope

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
)

// This file holds an LZ4 block compressor that makes the same choices as
// lz4_flex (0.11 and later, 64-bit targets), the compressor behind
// cachekit-core, so that Pack produces the same bytes as the Rust and Python
// SDKs for the same input. It is an independent implementation of the
// algorithm described below, not a translation of lz4_flex's source.
//
// Why not pierrec/lz4's compressor: its output is valid LZ4 but differs from
// lz4_flex's for common inputs (for 1024 x 'A' it ends with 5 literals where
// lz4_flex leaves 6), so re-encoding an entry would change its bytes.
// Decompression uses pierrec/lz4, which accepts every valid block.
//
// The algorithm (greedy, single hash table of 4096 slots):
//   - inputs shorter than 13 bytes are a single literal run;
//   - position 0 is hashed first, the search starts at position 1;
//   - a search step hashes the bytes at cur (inputs < 65535 bytes: 4 bytes
//     little-endian times 2654435761, top 12 bits of the 32-bit product;
//     larger inputs: the low 5 bytes of the 8-byte little-endian word shifted
//     left by 24 times 889523592379, bits 52..63), looks the slot up and stores
//     cur in it; a candidate further than 65535 back or whose 4 bytes differ is
//     skipped; the step size is 1 for the first 32 misses and grows by one every
//     32 misses after that;
//   - no search position beyond len-12; the match is extended backwards over
//     pending literals, and forwards at most up to len-6 (so a block always ends
//     with at least 6 literals); after a match the position end-2 is hashed.
const (
	lz4MinMatch     = 4
	lz4MFLimit      = 12
	lz4EndOffset    = 6 // last literals (5) + 1
	lz4MinLength    = lz4MFLimit + 1
	lz4MaxDistance  = 65535
	lz4StepShift    = 5
	lz4TableBits    = 12
	lz4SmallInputLe = 65535 // inputs shorter than this use the 4-byte hash
)

// compressBound is the largest LZ4 block compressBlock can produce for n bytes.
func compressBound(n int) int { return n + n/255 + 16 }

type lz4Table [1 << lz4TableBits]uint32

// lz4State is a hash table reused across calls without clearing it: a slot
// holds base+pos, and a value below the current call's base (left by an
// earlier call) reads as position 0, exactly what a zeroed table holds.
// Clearing 16 KiB per call cost more than compressing a 1 KiB input.
type lz4State struct {
	table lz4Table
	base  uint32
}

var lz4States = sync.Pool{New: func() any { return new(lz4State) }}

// Both hashes as one multiplication, (x * k) >> 52 over the 8-byte
// little-endian word x at the position. The 4-byte hash (top 12 bits of the
// 32-bit product uint32(x)*2654435761) equals the top 12 bits of
// (x<<32)*2654435761 mod 2^64, and (x<<s)*p = x*(p<<s) mod 2^64; the 5-byte
// hash is ((x<<24)*889523592379) >> 52, so k = 889523592379<<24. One formula
// keeps the search loop free of a branch on the input size and of a shift.
const (
	lz4SmallMul = 2654435761 << 32
	lz4LargeMul = 889523592379 << 24
)

// lz4Hash is the table slot of the 8-byte word x for the multiplier k.
func lz4Hash(x, k uint64) uint64 { return (x * k) >> (64 - lz4TableBits) }

// compressBlock writes the LZ4 block of src into dst, which must have room for
// compressBound(len(src)) bytes, and returns the block length.
func compressBlock(src, dst []byte) int {
	if len(src) < lz4MinLength {
		return len(appendLiterals(dst[:0], src))
	}
	st := lz4States.Get().(*lz4State)
	n := compressBlockWith(st, src, dst)
	lz4States.Put(st)
	return n
}

// compressBlockWith is compressBlock with the given table state.
func compressBlockWith(st *lz4State, src, dst []byte) int {
	if uint64(st.base)+uint64(len(src))+1 > math.MaxUint32 {
		st.table = lz4Table{}
		st.base = 0
	}
	base := st.base
	st.base += uint32(len(src)) + 1 // the next call's values are above all of ours
	k := uint64(lz4LargeMul)
	if len(src) < lz4SmallInputLe {
		k = lz4SmallMul
	}
	return compressSearch(&st.table, base, k, src, dst)
}

// lz4Find runs the search steps from cur until the 4 bytes at a candidate
// equal those at the search position, and returns both positions; cur -1
// when the search passed len(src)-12. Every search position is at most
// len(src)-12, so the 8-byte load there stays inside src.
//
// It is a function of its own (not inlined) so that its few variables stay
// in registers: inside compressSearch, whose appends call the runtime, the
// compiler kept the loop's variables on the stack.
//
//go:noinline
func lz4Find(table *lz4Table, base uint32, k uint64, src []byte, cur int) (int, int) {
	endCheck := len(src) - lz4MFLimit
	for misses := 1 << lz4StepShift; cur <= endCheck; misses++ {
		x := binary.LittleEndian.Uint64(src[cur : cur+8])
		h := lz4Hash(x, k)
		// A slot below base was written by an earlier call and reads as
		// position 0, what a zeroed table holds. Positions of this call
		// are all below cur, so d >= cur means exactly that; the mask (all
		// ones when d < cur) clears d without a branch, which mispredicted
		// while the table still held stale slots.
		d := table[h] - base
		table[h] = base + uint32(cur)
		d &= uint32((int64(d) - int64(cur)) >> 63)
		cand := int(d)
		if cur-cand <= lz4MaxDistance && binary.LittleEndian.Uint32(src[cand:cand+4]) == uint32(x) {
			return cur, cand
		}
		cur += misses >> lz4StepShift
	}
	return -1, 0
}

// compressSearch is the greedy compressor of the file comment.
func compressSearch(table *lz4Table, base uint32, k uint64, src, dst []byte) int {
	out := dst[:0]
	matchLimit := len(src) - lz4EndOffset
	litStart := 0
	table[lz4Hash(binary.LittleEndian.Uint64(src), k)] = base
	cur := 1
	for {
		var cand int
		cur, cand = lz4Find(table, base, k, src, cur)
		if cur < 0 {
			return len(appendLiterals(out, src[litStart:]))
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
		for cur+8 <= matchLimit {
			if x := binary.LittleEndian.Uint64(src[cur:cur+8]) ^ binary.LittleEndian.Uint64(src[cand:cand+8]); x != 0 {
				cur += bits.TrailingZeros64(x) >> 3
				goto counted
			}
			cur += 8
			cand += 8
		}
		for cur < matchLimit && src[cur] == src[cand] {
			cur++
			cand++
		}
	counted:
		matchLen := cur - start
		table[lz4Hash(binary.LittleEndian.Uint64(src[cur-2:cur+6]), k)] = base + uint32(cur-2)

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

// appendLiterals appends the final sequence: a token and the literal run.
func appendLiterals(out, lits []byte) []byte {
	out = append(out, byte(min(len(lits), 15))<<4)
	if len(lits) >= 15 {
		out = appendLength(out, len(lits)-15)
	}
	return append(out, lits...)
}

// appendLength appends an LZ4 length extension: 255-bytes then the rest.
func appendLength(out []byte, n int) []byte {
	for n >= 255 {
		out = append(out, 255)
		n -= 255
	}
	return append(out, byte(n))
}
