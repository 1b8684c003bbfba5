package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
)

func TestNonceCounterLayout(t *testing.T) {
	t.Parallel()
	c := NewNonceCounter(0x0102030405060708, 0)
	for i := range uint32(3) {
		n, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte{1, 2, 3, 4, 5, 6, 7, 8}, binary.BigEndian.AppendUint32(nil, i)...)
		if !bytes.Equal(n[:], want) {
			t.Fatalf("nonce %d = %x, want %x", i, n, want)
		}
	}
	if c.InstanceID() != 0x0102030405060708 {
		t.Fatal("instance id")
	}
}

func TestNonceCounterExhaustion(t *testing.T) {
	t.Parallel()
	c := NewNonceCounter(7, 0xFFFFFFFD)
	for _, want := range []uint32{0xFFFFFFFD, 0xFFFFFFFE} {
		n, err := c.Next()
		if err != nil || binary.BigEndian.Uint32(n[8:]) != want || binary.BigEndian.Uint64(n[:8]) != 7 {
			t.Fatalf("nonce %x, %v; want counter %x", n, err, want)
		}
	}
	for range 3 { // stays exhausted, never wraps to 0
		if n, err := c.Next(); !errors.Is(err, ErrNonceExhausted) || n != ([NonceSize]byte{}) {
			t.Fatalf("past the limit: %x, %v", n, err)
		}
	}
	if _, err := NewNonceCounter(7, 0xFFFFFFFF).Next(); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("starting at 0xFFFFFFFF: %v", err)
	}
}

func TestNonceGeneratorRenewsInstance(t *testing.T) {
	t.Parallel()
	ids := []uint64{100, 200}
	var mu sync.Mutex
	newID := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		id := ids[0]
		ids = ids[1:]
		return id
	}
	g := newNonceGenerator(newID, 42, 0xFFFFFFFE)
	first := g.Next()
	if binary.BigEndian.Uint64(first[:8]) != 42 || binary.BigEndian.Uint32(first[8:]) != 0xFFFFFFFE {
		t.Fatalf("first %x", first)
	}
	second := g.Next()
	if binary.BigEndian.Uint64(second[:8]) != 100 || binary.BigEndian.Uint32(second[8:]) != 0 {
		t.Fatalf("after exhaustion %x, want id 100 counter 0", second)
	}
	third := g.Next()
	if binary.BigEndian.Uint64(third[:8]) != 100 || binary.BigEndian.Uint32(third[8:]) != 1 {
		t.Fatalf("third %x", third)
	}
}

func TestInstanceIDsDistinct(t *testing.T) {
	t.Parallel()
	a, b := NewNonceGenerator().Next(), NewNonceGenerator().Next()
	if bytes.Equal(a[:8], b[:8]) {
		t.Fatal("two generators share an instance id")
	}
	if binary.BigEndian.Uint32(a[8:]) != 0 || binary.BigEndian.Uint32(b[8:]) != 0 {
		t.Fatal("a new generator must start at counter 0")
	}
}

// TestNonceGeneratorConcurrent draws nonces from many goroutines, across
// several exhaustions (the counter starts near the limit), and checks that
// none repeats.
func TestNonceGeneratorConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, each = 16, 4000
	g := newNonceGenerator(nextInstanceID, nextInstanceID(), counterLimit-5000)
	results := make([][][NonceSize]byte, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			out := make([][NonceSize]byte, each)
			for j := range out {
				out[j] = g.Next()
			}
			results[i] = out
		})
	}
	wg.Wait()
	seen := make(map[[NonceSize]byte]struct{}, goroutines*each)
	instances := map[uint64]bool{}
	for _, r := range results {
		for _, n := range r {
			if _, dup := seen[n]; dup {
				t.Fatalf("nonce %x repeated", n)
			}
			seen[n] = struct{}{}
			instances[binary.BigEndian.Uint64(n[:8])] = true
			if binary.BigEndian.Uint32(n[8:]) == 0xFFFFFFFF {
				t.Fatalf("counter value 0xFFFFFFFF used: %x", n)
			}
		}
	}
	if len(instances) < 2 {
		t.Fatalf("expected the generator to move to a new instance id, saw %d", len(instances))
	}
}

func TestAEADSealUsesFreshNonces(t *testing.T) {
	t.Parallel()
	a := testAEAD(t)
	x, y := a.Seal([]byte("same"), nil), a.Seal([]byte("same"), nil)
	if bytes.Equal(x[:NonceSize], y[:NonceSize]) || bytes.Equal(x, y) {
		t.Fatal("two Seals used the same nonce")
	}
}
