package envelope

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/protocol/internal/msgpack"
	"github.com/pierrec/lz4/v4"
)

type wireVector struct {
	Name        string `json:"name"`
	EnvelopeHex string `json:"envelope_hex"`
	InputHex    string `json:"input_hex"`
	Encoding    string `json:"envelope_encoding"`
	Size        int    `json:"envelope_size"`
	InputSize   int    `json:"input_size"`
}

type wireFile struct {
	Limits struct {
		MaxCompressedSize   int `json:"max_compressed_size"`
		MaxCompressionRatio int `json:"max_compression_ratio"`
		MaxUncompressedSize int `json:"max_uncompressed_size"`
	} `json:"limits"`
	Vectors []wireVector `json:"vectors"`
}

// loadWire reads the published vectors (testdata/vectors) as they are; a missing file fails the test.
func loadWire(t testing.TB) wireFile {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "vectors", "wire-format.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("wire-format vectors: %v", err)
	}
	var f wireFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("wire-format vectors: %v", err)
	}
	if len(f.Vectors) != 12 {
		t.Fatalf("wire-format vectors: %d vectors, want 12", len(f.Vectors))
	}
	return f
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLimitsMatchVectors(t *testing.T) {
	t.Parallel()
	f := loadWire(t)
	if f.Limits.MaxCompressedSize != MaxCompressedSize || f.Limits.MaxUncompressedSize != MaxUncompressedSize ||
		f.Limits.MaxCompressionRatio != MaxCompressionRatio {
		t.Fatalf("limits %+v differ from the package constants", f.Limits)
	}
}

func TestVectorsDecode(t *testing.T) {
	t.Parallel()
	for _, v := range loadWire(t).Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			env := unhex(t, v.EnvelopeHex)
			if len(env) != v.Size {
				t.Fatalf("envelope_size %d, hex has %d bytes", v.Size, len(env))
			}
			got, format, err := UnpackFormat(env)
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if want := unhex(t, v.InputHex); !bytes.Equal(got, want) || len(got) != v.InputSize {
				t.Fatalf("decoded %x, want %x", got, want)
			}
			if format != Format {
				t.Fatalf("format %q", format)
			}
		})
	}
}

// TestVectorsReencode checks that Pack reproduces the canonical (bin) vectors
// byte for byte, and that packing the legacy vectors' input gives the bin twin.
func TestVectorsReencode(t *testing.T) {
	t.Parallel()
	vs := loadWire(t).Vectors
	twins := 0
	for _, v := range vs {
		if v.Encoding != "bin" {
			continue
		}
		twins++
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			got, err := Pack(unhex(t, v.InputHex))
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, v.EnvelopeHex); !bytes.Equal(got, want) {
				t.Fatalf("Pack:\n got %x\nwant %x", got, want)
			}
		})
	}
	if twins != 6 {
		t.Fatalf("%d bin vectors, want 6", twins)
	}
}

func TestXXH3KnownAnswers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"": 0x2d06800538d394c2, "cachekit-kat": 0xd123cc9bbe9da4b1} {
		if got := Checksum([]byte(in)); got != want {
			t.Errorf("Checksum(%q) = %016x, want %016x", in, got, want)
		}
	}
}

func roundTripInputs() map[string][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 3000))
	return map[string][]byte{
		"empty":          {},
		"one":            {0},
		"twelve":         []byte("abcdefghijkl"),
		"thirteen":       []byte("aaaaaaaaaaaaa"),
		"random-100":     random(100),
		"random-70000":   random(70000),
		"text-135000":    text,
		"zeros-65534":    make([]byte, 65534),
		"zeros-65535":    make([]byte, 65535),
		"zeros-200000":   make([]byte, 200000),
		"far-repeat":     append(append(random(1000), make([]byte, 70000)...), random(1000)...),
		"mixed-repeat":   bytes.Repeat(random(300), 400),
		"short-distance": bytes.Repeat([]byte("ab"), 5000),
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for name, in := range roundTripInputs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, err := Pack(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Unpack(env)
			if err != nil {
				t.Fatalf("Unpack(Pack(x)): %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Fatal("round trip changed the data")
			}
			// The block must also be a valid LZ4 block for an independent decoder.
			f, err := parse(env)
			if err != nil {
				t.Fatal(err)
			}
			dec := make([]byte, len(in))
			if n, err := lz4.UncompressBlock(f.compressed, dec); err != nil || n != len(in) || !bytes.Equal(dec, in) {
				t.Fatalf("pierrec decode: n=%d err=%v", n, err)
			}
			if len(f.compressed) > compressBound(len(in)) {
				t.Fatalf("block %d bytes exceeds bound %d", len(f.compressed), compressBound(len(in)))
			}
		})
	}
}

func TestAppendPackKeepsPrefix(t *testing.T) {
	t.Parallel()
	prefix := []byte("CK-prefix")
	out, err := AppendPack(append([]byte(nil), prefix...), []byte("payload payload payload payload"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatal("prefix lost")
	}
	if got, err := Unpack(out[len(prefix):]); err != nil || string(got) != "payload payload payload payload" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// envParts builds envelopes field by field for crafted inputs.
type envParts struct {
	compressed []byte // appended as bin unless compressedRaw is set
	compRaw    []byte // raw MessagePack for compressed_data
	checksum   []byte // raw MessagePack for checksum; default: array of the right sum
	sum        uint64
	size       []byte // raw MessagePack for original_size
	format     []byte // raw MessagePack for format
}

func checksumArray(sum uint64) []byte {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], sum)
	b := []byte{0x98}
	for _, c := range s {
		b = msgpack.AppendUint(b, uint64(c))
	}
	return b
}

func (p envParts) array() []byte {
	b := []byte{0x94}
	if p.compRaw != nil {
		b = append(b, p.compRaw...)
	} else {
		b = msgpack.AppendBytes(b, p.compressed)
	}
	if p.checksum != nil {
		b = append(b, p.checksum...)
	} else {
		b = append(b, checksumArray(p.sum)...)
	}
	b = append(b, p.size...)
	if p.format != nil {
		b = append(b, p.format...)
	} else {
		b = msgpack.AppendString(b, Format)
	}
	return b
}

// valid returns the parts of a correct envelope of data.
func valid(t testing.TB, data []byte) envParts {
	env, err := Pack(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parse(env)
	if err != nil {
		t.Fatal(err)
	}
	return envParts{compressed: f.compressed, sum: f.checksum, size: msgpack.AppendUint(nil, f.originalSize)}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("cachekit ", 40)) // 360 bytes, compressible
	good := valid(t, data)
	with := func(mod func(p *envParts)) []byte {
		p := good
		mod(&p)
		return p.array()
	}
	legacyWith := func(v uint64) []byte {
		b := msgpack.AppendArrayHeader(nil, len(good.compressed))
		for i, c := range good.compressed {
			if i == 0 {
				b = msgpack.AppendUint(b, v)
				continue
			}
			b = msgpack.AppendUint(b, uint64(c))
		}
		return b
	}
	goodEnv := good.array()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrTruncated},
		{"nil value", []byte{0xc0}, ErrMalformed},
		{"string", msgpack.AppendString(nil, "envelope"), ErrMalformed},
		{"array of 3", append([]byte{0x93}, goodEnv[1:len(goodEnv)-8]...), ErrMalformed},
		{"array of 5", append(append([]byte{0x95}, goodEnv[1:]...), 0xc0), ErrMalformed},
		{"invalid marker", []byte{0xc1}, ErrMalformed},
		{"compressed is a map", with(func(p *envParts) { p.compRaw = []byte{0x80} }), ErrMalformed},
		{"compressed is nil", with(func(p *envParts) { p.compRaw = []byte{0xc0} }), ErrMalformed},
		{"legacy byte 256", with(func(p *envParts) { p.compRaw = legacyWith(256) }), ErrMalformed},
		{"legacy negative byte", with(func(p *envParts) { p.compRaw = append([]byte{0x92, 0xff}, 0x00) }), ErrMalformed},
		{"checksum of 7", with(func(p *envParts) {
			p.checksum = append([]byte{0x97}, checksumArray(p.sum)[1:len(checksumArray(p.sum))-1]...)
		}), ErrMalformed},
		{"checksum of 9", with(func(p *envParts) { p.checksum = append(append([]byte{0x99}, checksumArray(p.sum)[1:]...), 0) }), ErrMalformed},
		{"checksum element 256", with(func(p *envParts) { p.checksum = []byte{0x98, 0xcd, 1, 0, 0, 0, 0, 0, 0, 0} }), ErrMalformed},
		{"checksum bin of 9", with(func(p *envParts) { p.checksum = msgpack.AppendBytes(nil, make([]byte, 9)) }), ErrMalformed},
		{"checksum is uint", with(func(p *envParts) { p.checksum = msgpack.AppendUint(nil, p.sum) }), ErrMalformed},
		{"negative original_size", with(func(p *envParts) { p.size = []byte{0xff} }), ErrMalformed},
		{"float original_size", with(func(p *envParts) { p.size = msgpack.AppendFloat64(nil, 360) }), ErrMalformed},
		{"format is int", with(func(p *envParts) { p.format = []byte{0x01} }), ErrMalformed},
		{"map missing field", mapEnv(good, "format"), ErrMalformed},
		{"map duplicate field", append(mapEnv(good, "")[:0:0], dupField(good)...), ErrMalformed},
		{"map key is array", []byte{0x81, 0x90, 0xc0}, ErrMalformed},
		{"map key index 4", []byte{0x81, 0x04, 0xc0}, ErrMalformed},
		{"truncated bin", goodEnv[:10], ErrTruncated},
		{"array claims more than input", []byte{0x94, 0xdc, 0xff, 0xff}, ErrTruncated},
		{"trailing byte", append(append([]byte(nil), goodEnv...), 0x00), ErrTrailingBytes},
		{"trailing envelope", append(append([]byte(nil), goodEnv...), goodEnv...), ErrTrailingBytes},
		{"checksum mismatch", with(func(p *envParts) { p.sum ^= 1 }), ErrChecksum},
		{"checksum mismatch high byte", with(func(p *envParts) { p.sum ^= 1 << 63 }), ErrChecksum},
		{"corrupt block", with(func(p *envParts) { p.compressed = []byte{0x1f, 0x41, 0xff, 0xff, 0x00} }), ErrDecompress},
		{"original_size one too large", with(func(p *envParts) { p.size = msgpack.AppendUint(nil, uint64(len(data)+1)) }), ErrSizeMismatch},
		{"original_size one too small", with(func(p *envParts) { p.size = msgpack.AppendUint(nil, uint64(len(data)-1)) }), ErrDecompress},
		{"original_size too large", with(func(p *envParts) { p.size = msgpack.AppendUint(nil, MaxUncompressedSize+1) }), ErrTooLarge},
		{"original_size max uint64", with(func(p *envParts) { p.size = msgpack.AppendUint(nil, 1<<64-1) }), ErrTooLarge},
		{"empty compressed", with(func(p *envParts) { p.compressed = []byte{} }), ErrBomb},
		{"empty compressed, size 0", with(func(p *envParts) { p.compressed = []byte{}; p.size = []byte{0} }), ErrBomb},
		{"ratio 1001", with(func(p *envParts) { p.compressed = []byte{0x00}; p.size = msgpack.AppendUint(nil, 1001) }), ErrBomb},
		{"ratio bomb 512 MiB", with(func(p *envParts) {
			p.compressed = make([]byte, 100)
			p.size = msgpack.AppendUint(nil, MaxUncompressedSize)
		}), ErrBomb},
		{"ratio 1000 passes to LZ4", with(func(p *envParts) {
			p.compressed = []byte{0x00}
			p.sum = Checksum(nil)
			p.size = msgpack.AppendUint(nil, 1000)
		}), ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := Unpack(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unpack = %v, want %v", err, tc.want)
			}
			if out != nil {
				t.Fatal("data returned with an error")
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.want {
				t.Fatalf("error %T does not carry Kind %v", err, tc.want)
			}
		})
	}
}

// mapEnv builds the map form of p, leaving out the field named omit.
func mapEnv(p envParts, omit string) []byte {
	fields := [][2][]byte{
		{msgpack.AppendString(nil, fieldCompressed), msgpack.AppendBytes(nil, p.compressed)},
		{msgpack.AppendString(nil, fieldChecksum), checksumArray(p.sum)},
		{msgpack.AppendString(nil, fieldOrigSize), p.size},
		{msgpack.AppendString(nil, fieldFormat), msgpack.AppendString(nil, Format)},
	}
	var kept [][2][]byte
	for _, f := range fields {
		if omit != "" && bytes.Equal(f[0][1:], []byte(omit)) {
			continue
		}
		kept = append(kept, f)
	}
	b := msgpack.AppendMapHeader(nil, len(kept))
	for _, f := range kept {
		b = append(append(b, f[0]...), f[1]...)
	}
	return b
}

func dupField(p envParts) []byte {
	b := mapEnv(p, "")
	b[0] = 0x85
	return append(append(b, msgpack.AppendString(nil, fieldFormat)...), msgpack.AppendString(nil, Format)...)
}

func TestPrefixesAreTruncated(t *testing.T) {
	t.Parallel()
	for _, v := range loadWire(t).Vectors {
		env := unhex(t, v.EnvelopeHex)
		for n := range len(env) {
			if _, err := Unpack(env[:n]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s[:%d]: %v, want ErrTruncated", v.Name, n, err)
			}
		}
	}
}

func TestAcceptedShapes(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("shape ", 30))
	p := valid(t, data)
	legacy := msgpack.AppendArrayHeader(nil, len(p.compressed))
	for _, c := range p.compressed {
		legacy = append(legacy, 0xcf, 0, 0, 0, 0, 0, 0, 0, c) // uint64 width
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], p.sum)
	byIndex := msgpack.AppendMapHeader(nil, 4)
	byIndex = append(append(byIndex, 3), msgpack.AppendString(nil, Format)...)
	byIndex = append(append(byIndex, 0), msgpack.AppendBytes(nil, p.compressed)...)
	byIndex = append(append(byIndex, 2), p.size...)
	byIndex = append(append(byIndex, 1), checksumArray(p.sum)...)
	unknown := mapEnv(p, "")
	unknown[0] = 0x85
	unknown = append(append(unknown, msgpack.AppendString(nil, "extra")...), 0x92, 0x81, 0xa1, 'k', 0x90, 0xc0)
	tests := map[string][]byte{
		"array bin":         p.array(),
		"legacy int array":  func() []byte { q := p; q.compRaw = legacy; return q.array() }(),
		"compressed as str": func() []byte { q := p; q.compRaw = msgpack.AppendStringBytes(nil, p.compressed); return q.array() }(),
		"checksum as bin":   func() []byte { q := p; q.checksum = msgpack.AppendBytes(nil, sum[:]); return q.array() }(),
		"checksum int16":    func() []byte { q := p; q.checksum = wideChecksum(sum); return q.array() }(),
		"size as uint64": func() []byte {
			q := p
			q.size = binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(len(data)))
			return q.array()
		}(),
		"size as int16": func() []byte {
			q := p
			q.size = binary.BigEndian.AppendUint16([]byte{0xd1}, uint16(len(data)))
			return q.array()
		}(),
		"format as bin":   func() []byte { q := p; q.format = msgpack.AppendBytes(nil, []byte(Format)); return q.array() }(),
		"map by name":     mapEnv(p, ""),
		"map by index":    byIndex,
		"map unknown key": unknown,
	}
	for name, env := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, format, err := UnpackFormat(env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) || format != Format {
				t.Fatalf("got %q format %q", got, format)
			}
		})
	}
}

func wideChecksum(sum [8]byte) []byte {
	b := []byte{0x98}
	for _, c := range sum {
		b = append(b, 0xd1, 0, c)
	}
	return b
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	_, err := Unpack([]byte{0x94, 0xc4, 0x00, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xa7, 'm', 's', 'g', 'p', 'a', 'c', 'k'})
	if err == nil || !strings.Contains(err.Error(), "decompression bomb") || !strings.Contains(err.Error(), "empty compressed data") {
		t.Fatalf("message %v", err)
	}
}

// TestCheckOrder: when an envelope has several faults, the first check of the
// reference order reports (PROTOCOL.md section 4).
func TestCheckOrder(t *testing.T) {
	t.Parallel()
	data := []byte(strings.Repeat("order ", 50))
	good := valid(t, data)
	with := func(mod func(p *envParts)) []byte {
		p := good
		mod(&p)
		return p.array()
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"parse before the size limits", append(with(func(p *envParts) { p.size = msgpack.AppendUint(nil, MaxUncompressedSize+1) }), 0), ErrTrailingBytes},
		{"original_size limit before empty data", with(func(p *envParts) {
			p.compressed = []byte{}
			p.size = msgpack.AppendUint(nil, MaxUncompressedSize+1)
		}), ErrTooLarge},
		{"empty data before ratio", with(func(p *envParts) { p.compressed = []byte{}; p.size = msgpack.AppendUint(nil, 5) }), ErrBomb},
		{"ratio before LZ4 and checksum", with(func(p *envParts) {
			p.compressed = []byte{0x1f, 0x41, 0xff, 0xff} // corrupt block
			p.sum ^= 1
			p.size = msgpack.AppendUint(nil, 4001)
		}), ErrBomb},
		{"legacy array ratio", with(func(p *envParts) {
			p.compRaw = []byte{0x91, 0x00}
			p.sum ^= 1
			p.size = msgpack.AppendUint(nil, 1001)
		}), ErrBomb},
		{"LZ4 before checksum", with(func(p *envParts) { p.compressed = []byte{0x1f, 0x41, 0xff, 0xff}; p.sum ^= 1 }), ErrDecompress},
		{"checksum before length", with(func(p *envParts) {
			p.sum ^= 1
			p.size = msgpack.AppendUint(nil, uint64(len(data)+1))
		}), ErrChecksum},
	}
	for _, tc := range tests {
		if _, err := Unpack(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: Unpack = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestEnvelopeSizeLimitFirst: an input over MaxEnvelopeSize is refused before
// it is parsed. The 512 MiB buffer is never written, so the OS backs it with
// shared zero pages.
func TestEnvelopeSizeLimitFirst(t *testing.T) {
	huge := make([]byte, MaxEnvelopeSize+1) // 0x00 is a fixint: parsing would say ErrMalformed
	if _, err := Unpack(huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Unpack = %v, want ErrTooLarge", err)
	}
	if IsShape(huge) {
		t.Fatal("IsShape accepted an oversized input")
	}
	if _, err := Pack(huge[:MaxUncompressedSize+1]); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Pack = %v, want ErrTooLarge", err)
	}
}

// TestUnpackLimit: a reader's limit refuses an envelope that declares more,
// without decompressing it; a value within the limit (or no limit) unpacks.
func TestUnpackLimit(t *testing.T) {
	data := make([]byte, 2048)
	env, err := Pack(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := UnpackLimit(env, 2047); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit below the value: %v, want ErrTooLarge", err)
	}
	for _, limit := range []int64{2048, 0, -1, MaxUncompressedSize + 1} {
		if got, _, err := UnpackLimit(env, limit); err != nil || len(got) != len(data) {
			t.Fatalf("limit %d: %d bytes, %v", limit, len(got), err)
		}
	}
}
