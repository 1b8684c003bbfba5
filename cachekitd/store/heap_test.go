package store

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestMemoryHeapNearBound fills a store far beyond --memory-max-bytes with
// tiny entries (the worst case for bookkeeping overhead) and compares the live
// heap it holds with the bound: the charge per entry must cover what an entry
// really costs, so the heap stays near the bound.
func TestMemoryHeapNearBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few tens of MiB")
	}
	const bound = 8 << 20
	for _, size := range []int{0, 8, 40, 200} {
		heap := func() uint64 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		before := heap()
		m := NewMemory(MemoryOptions{MaxBytes: bound, SweepInterval: -1})
		v := make([]byte, size)
		n := 0
		for i := 0; n < 3 || m.Stats().Evictions == 0 || i < 2*n; i++ {
			if _, err := m.Set(bg, "t"+strconv.Itoa(i%4), "key:"+strconv.Itoa(i), v, time.Hour, 0); err != nil {
				t.Fatal(err)
			}
			if m.Stats().Evictions == 0 {
				n = i
			}
		}
		used := heap() - before
		ratio := float64(used) / bound
		t.Logf("value %d B: %d entries, heap %.1f MiB for a %d MiB bound (%.2fx)", size, m.Stats().Entries, float64(used)/(1<<20), bound>>20, ratio)
		if ratio > 1.15 {
			t.Errorf("value %d B: the store holds %.2fx its byte bound in heap", size, ratio)
		}
		runtime.KeepAlive(m)
		m.Close()
	}
}
