package memcached

import (
	"encoding/binary"
	"math/bits"
)

// Server selection is rendezvous (highest random weight) hashing, scored the
// way pymemcache's HashClient (the client inside cachekit-py's memcached
// backend) scores it: for each server name "host:port" the score is
// MurmurHash3-x86-32 with seed 0 over "<server>-<key>", the highest score
// wins, and a tie goes to the larger server name. A Go and a Python process
// configured with the same server list therefore pick the same server for
// the same (ASCII) key and share entries.
//
// Rendezvous hashing needs no ring state and moves only the keys of a removed
// server when the list changes; its O(servers) cost per operation is nothing
// next to a network round trip for the handful of servers a deployment has.

// pickServer returns the index of the server for key.
func pickServer(names []string, key string) int {
	if len(names) == 1 {
		return 0
	}
	best, bestScore := 0, int64(-1)
	var arr [320]byte // fits a 250-byte key and a long host name without allocating
	buf := arr[:0]
	for i, name := range names {
		buf = append(append(append(buf[:0], name...), '-'), key...)
		score := int64(murmur3(buf, 0))
		if score > bestScore || (score == bestScore && name > names[best]) {
			best, bestScore = i, score
		}
	}
	return best
}

// murmur3 is MurmurHash3_x86_32 (Austin Appleby, public domain).
func murmur3(data []byte, seed uint32) uint32 {
	const (
		c1 = 0xcc9e2d51
		c2 = 0x1b873593
	)
	h := seed
	n := len(data)
	blocks := n &^ 3
	for i := 0; i < blocks; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch n & 3 {
	case 3:
		k ^= uint32(data[blocks+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(data[blocks+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(data[blocks])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
