package envelope

import (
	"bytes"
	"testing"
)

// sameFields reports whether two parses agree on every field.
func sameFields(a, b fields) bool {
	return bytes.Equal(a.compressed, b.compressed) && a.checksum == b.checksum &&
		a.originalSize == b.originalSize && bytes.Equal(a.format, b.format)
}

// checkCanonicalAgrees fails when parseCanonical accepts env but the generic
// parser rejects it or reads other fields.
func checkCanonicalAgrees(t testing.TB, env []byte) (accepted bool) {
	t.Helper()
	fast, ok := parseCanonical(env)
	if !ok {
		return false
	}
	slow, err := parseAny(env)
	if err != nil {
		t.Fatalf("parseCanonical accepted % x, parseAny: %v", env, err)
	}
	if !sameFields(fast, slow) {
		t.Fatalf("parseCanonical and parseAny disagree on % x: %+v vs %+v", env, fast, slow)
	}
	return true
}

// canonicalSamples are envelopes in the canonical shape with every bin
// header width, one- and two-byte checksum elements and every original_size
// width, plus the published vectors.
func canonicalSamples(t testing.TB) [][]byte {
	var out [][]byte
	for _, n := range []int{0, 1, 13, 200, 300, 70000} {
		env, err := Pack(benchData(n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, env)
	}
	for _, v := range loadWire(t).Vectors {
		out = append(out, unhex(t, v.EnvelopeHex))
	}
	// original_size written as cf (8 bytes) and ce: valid, not shortest.
	p := valid(t, []byte("hello hello hello hello"))
	wide := append([]byte{0x94}, binHeader(nil, len(p.compressed))...)
	wide = append(wide, p.compressed...)
	wide = append(wide, checksumArray(p.sum)...)
	n := byte(23)
	out = append(out,
		append(append(append([]byte(nil), wide...), 0xcf, 0, 0, 0, 0, 0, 0, 0, n), 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'),
		append(append(append([]byte(nil), wide...), 0xce, 0, 0, 0, n), 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'),
	)
	return out
}

// TestParseCanonicalAgrees: the fast parser accepts what Pack writes and
// the canonical vectors, and on every truncation and single-byte change of
// them it either declines or agrees with the generic parser.
func TestParseCanonicalAgrees(t *testing.T) {
	accepted := 0
	for _, env := range canonicalSamples(t) {
		if checkCanonicalAgrees(t, env) {
			accepted++
		}
		for i := range len(env) {
			checkCanonicalAgrees(t, env[:i])
			if len(env) > 400 {
				continue // the large envelope: truncations only
			}
			m := append([]byte(nil), env...)
			for _, c := range []byte{0x00, 0x7f, 0x80, 0x93, 0x94, 0x98, 0xa0, 0xa7, 0xbf, 0xc4, 0xc5, 0xc6, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xff} {
				m[i] = c
				checkCanonicalAgrees(t, m)
			}
		}
		checkCanonicalAgrees(t, append(append([]byte(nil), env...), 0))
	}
	// Pack's six envelopes, the six bin vectors and the two wide ones.
	if accepted != 14 {
		t.Fatalf("parseCanonical accepted %d canonical envelopes, want 14", accepted)
	}
}

// FuzzParseCanonical: whatever parseCanonical accepts, the generic parser
// reads identically.
func FuzzParseCanonical(f *testing.F) {
	for _, env := range canonicalSamples(f) {
		f.Add(env)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkCanonicalAgrees(t, in)
	})
}

// TestUnpackFormatOther: a format other than "msgpack" is reported as it is
// (the common one is returned without allocating, any other is copied).
func TestUnpackFormatOther(t *testing.T) {
	p := valid(t, []byte("payload payload payload"))
	p.format = []byte{0xa4, 'j', 's', 'o', 'n'}
	env := p.array()
	if _, ok := parseCanonical(env); !ok {
		t.Fatal("canonical shape with another format not taken by the fast parser")
	}
	_, format, err := UnpackFormat(env)
	if err != nil || format != "json" {
		t.Fatalf("format %q, err %v", format, err)
	}
	env[len(env)-1] = 'N' // the returned string must not alias the input
	if format != "json" {
		t.Fatalf("format changed with the input: %q", format)
	}
}

// TestPackUnpackAllocs: a 1 KiB round trip allocates the envelope and the
// result, nothing else (the hash table is pooled, the canonical parse and
// the "msgpack" format allocate nothing).
func TestPackUnpackAllocs(t *testing.T) {
	data := benchData(1 << 10)
	allocs := testing.AllocsPerRun(200, func() {
		env, err := Pack(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unpack(env); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("%.0f allocations per Pack + Unpack, want 2", allocs)
	}
}
