package crypto

import "testing"

func BenchmarkSeal1K(b *testing.B) {
	a := testAEAD(b)
	pt, aad := make([]byte, 1<<10), AAD("tenant", "users:1", "msgpack", true, "msgpack")
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Seal(pt, aad)
	}
}

func BenchmarkOpen1K(b *testing.B) {
	a := testAEAD(b)
	aad := AAD("tenant", "users:1", "msgpack", true, "msgpack")
	sealed := a.Seal(make([]byte, 1<<10), aad)
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeriveTenantKey(b *testing.B) {
	master := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DeriveTenantKey(master, "tenant"); err != nil {
			b.Fatal(err)
		}
	}
}
