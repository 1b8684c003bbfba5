package envelope

import (
	"math/rand/v2"
	"testing"
)

// benchData is half random, half repetitive: roughly what a MessagePack
// document with repeated keys looks like to LZ4.
func benchData(n int) []byte {
	rnd := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, n)
	for i := range b {
		if (i/64)%2 == 0 {
			b[i] = byte(rnd.Uint32())
		} else {
			b[i] = byte(i % 7)
		}
	}
	return b
}

func benchmarkPack(b *testing.B, n int) {
	data := benchData(n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Pack(data); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkUnpack(b *testing.B, n int) {
	env, err := Pack(benchData(n))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unpack(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPack1K(b *testing.B)    { benchmarkPack(b, 1<<10) }
func BenchmarkPack64K(b *testing.B)   { benchmarkPack(b, 64<<10) }
func BenchmarkUnpack1K(b *testing.B)  { benchmarkUnpack(b, 1<<10) }
func BenchmarkUnpack64K(b *testing.B) { benchmarkUnpack(b, 64<<10) }
