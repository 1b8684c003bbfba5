package crypto

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// counterLimit is the first counter value that is never used: counters run
// 0..0xFFFFFFFE, and a counter that reaches 0xFFFFFFFF is exhausted (as in the
// reference implementation), never wrapped.
const counterLimit = 0xFFFFFFFF

// NonceCounter hands out nonces of the reference layout for one instance id:
// 8-byte big-endian instance id || 4-byte big-endian counter. It is safe for
// concurrent use. Once exhausted it stays exhausted.
type NonceCounter struct {
	instance uint64
	// next is 64 bits wide so that concurrent callers past the limit keep
	// seeing values >= counterLimit instead of wrapping to 0.
	next atomic.Uint64
}

// NewNonceCounter returns a counter for instanceID whose first nonce uses
// counter value start (0 in production; tests start near the limit).
func NewNonceCounter(instanceID uint64, start uint32) *NonceCounter {
	c := &NonceCounter{instance: instanceID}
	c.next.Store(uint64(start))
	return c
}

// Next returns the next nonce, or ErrNonceExhausted once counter values up to
// 0xFFFFFFFE have been used.
func (c *NonceCounter) Next() ([NonceSize]byte, error) {
	var n [NonceSize]byte
	v := c.next.Add(1) - 1
	if v >= counterLimit {
		return n, ErrNonceExhausted
	}
	binary.BigEndian.PutUint64(n[:8], c.instance)
	binary.BigEndian.PutUint32(n[8:], uint32(v))
	return n, nil
}

// InstanceID returns the counter's instance id.
func (c *NonceCounter) InstanceID() uint64 { return c.instance }

// instanceIDs is the process-wide source of instance ids: it starts at a
// uniformly random 64-bit value and counts up, so no two counters in one
// process share an id.
var instanceIDs struct {
	once sync.Once
	next atomic.Uint64
}

func nextInstanceID() uint64 {
	instanceIDs.once.Do(func() {
		var seed [8]byte
		_, _ = rand.Read(seed[:]) // never fails (Go 1.24+ crashes the program instead)
		instanceIDs.next.Store(binary.BigEndian.Uint64(seed[:]))
	})
	return instanceIDs.next.Add(1) - 1
}

// NonceGenerator is a goroutine-safe nonce source that never fails: when its
// NonceCounter is exhausted it moves to a counter with a fresh instance id.
//
// Uniqueness argument. Within one process: instance ids come from one atomic
// 64-bit counter (a new id per NonceCounter, so two counters never share an
// id before 2^64 counters were made), and a NonceCounter hands out each
// counter value at most once (atomic add, no wrap); so no (id, counter) pair,
// that is no nonce, repeats. Across processes sharing a key: each process
// starts its ids at an independent uniformly random 64-bit point, so two
// processes can only repeat a nonce if their id ranges overlap. With n ids
// used per process and P processes sharing one derived key (one master key
// and tenant):
//
//	one pair overlaps       (2n-1) / 2^64 ~ 2n / 2^64
//	pairs of processes      P(P-1)/2 ~ P^2 / 2
//	any overlap (union)     ~ n x P^2 / 2^64
//
// For a million processes each making a thousand generators for the key:
// n x P^2 = 10^3 x 10^12 = 10^15 ~ 2^49.8, and 2^49.8 / 2^64 = 2^-14.2,
// about 1 in 18,000. That fleet is far beyond a real one: a process makes one
// generator per derived key, and another only after 2^32-1 nonces or when a
// Keyring derives again a tenant it dropped (MaxCachedTenants). The figure
// is 2^-40 or less while n x P^2 <= 2^24 (a thousand processes with 16
// generators each). Randomizing all 64 bits of the instance id is stronger
// than the reference, which randomizes only 32.
type NonceGenerator struct {
	cur   atomic.Pointer[NonceCounter]
	newID func() uint64
}

// NewNonceGenerator returns a generator starting at counter 0 of a fresh
// instance id.
func NewNonceGenerator() *NonceGenerator {
	return newNonceGenerator(nextInstanceID, nextInstanceID(), 0)
}

// newNonceGenerator lets tests choose the id source and the starting counter.
func newNonceGenerator(newID func() uint64, first uint64, start uint32) *NonceGenerator {
	g := &NonceGenerator{newID: newID}
	g.cur.Store(NewNonceCounter(first, start))
	return g
}

// Next returns a nonce that this generator has never returned before.
func (g *NonceGenerator) Next() [NonceSize]byte {
	for {
		c := g.cur.Load()
		if n, err := c.Next(); err == nil {
			return n
		}
		// Exhausted: one caller installs a fresh counter, the others retry
		// with whatever is current.
		g.cur.CompareAndSwap(c, NewNonceCounter(g.newID(), 0))
	}
}
