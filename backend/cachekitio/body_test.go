package cachekitio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// countingReader serves n bytes (endless when n < 0) in chunks of at most
// chunk bytes and counts what was read.
type countingReader struct {
	n, chunk, read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n >= 0 && r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.chunk)
	if r.n >= 0 {
		k = min(k, r.n-r.read)
	}
	clear(p[:k])
	r.read += k
	return int(k), nil
}

func TestReadLimited(t *testing.T) {
	t.Parallel()
	const limit = 3 << 20
	for _, tt := range []struct {
		name     string
		size     int64 // bytes the server sends; < 0 endless
		declared int64 // Content-Length; -1 unknown
		wantErr  bool
		wantCap  int64 // 0: not checked
	}{
		{"empty declared", 0, 0, false, 1},
		{"empty undeclared", 0, -1, false, 0},
		{"small declared: one allocation", 1000, 1000, false, 1001},
		{"at the prealloc bound", maxPrealloc, maxPrealloc, false, maxPrealloc + 1},
		{"above the prealloc bound", 2 << 20, 2 << 20, false, 2<<20 + 1},
		{"undeclared within limit", 100_000, -1, false, 0},
		{"exactly the limit undeclared", limit, -1, false, 0},
		{"exactly the limit declared", limit, limit, false, limit + 1},
		{"one past the limit undeclared", limit + 1, -1, true, 0},
		{"endless undeclared", -1, -1, true, 0},
		{"longer than declared", 5000, 1000, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int64{1 << 30, 4096, 7} {
				if chunk == 7 && (tt.size < 0 || tt.size > 1<<20) {
					continue // byte-sized reads of megabytes only cost time
				}
				r := &countingReader{n: tt.size, chunk: chunk}
				got, err := readLimited(r, tt.declared, limit)
				if r.read > limit+1 {
					t.Fatalf("chunk %d: read %d bytes, more than limit+1", chunk, r.read)
				}
				if tt.wantErr {
					if !errors.Is(err, ErrProtocol) {
						t.Fatalf("chunk %d: err = %v, want ErrProtocol", chunk, err)
					}
					continue
				}
				if err != nil || int64(len(got)) != tt.size {
					t.Fatalf("chunk %d: %d bytes, %v; want %d", chunk, len(got), err, tt.size)
				}
				if tt.wantCap > 0 && int64(cap(got)) != tt.wantCap {
					t.Fatalf("chunk %d: cap %d, want %d (one allocation, no growth at EOF)", chunk, cap(got), tt.wantCap)
				}
			}
		})
	}
}

// TestDeclaredLengthAloneAllocatesLittle: a Content-Length near the limit
// with nothing behind it must not make the client allocate that much.
func TestDeclaredLengthAloneAllocatesLittle(t *testing.T) {
	t.Parallel()
	r := &countingReader{n: 10, chunk: 10}
	got, err := readLimited(r, maxValueBody, maxValueBody)
	if err != nil || len(got) != 10 {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if cap(got) > maxPrealloc+1 {
		t.Fatalf("cap %d for a 10-byte body that announced %d bytes", cap(got), maxValueBody)
	}
}

// TestEndlessValueBodyRefused: a server that answers a GET with a body that
// never ends gets ErrProtocol once the value limit is passed, not the
// client's memory, and the failure is not retried.
func TestEndlessValueBodyRefused(t *testing.T) {
	t.Parallel()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	endless := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	const limit = 1 << 20 // the client's value limit in this test
	huge := status(http.StatusOK, "Content-Length", strconv.Itoa(limit+1))
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
	}{{"endless", endless}, {"declared too long", huge}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &script{last: tt.h}
			b := newScripted(t, s, func(o *Options) { o.Timeout = 30 * time.Second })
			b.c.maxValue = limit
			_, _, err := b.Get(context.Background(), "k:endless")
			if !errors.Is(err, ErrProtocol) || kindOf(err) != backend.Permanent {
				t.Fatalf("err = %v, want a Permanent ErrProtocol", err)
			}
			if n := len(s.requests()); n != 1 {
				t.Fatalf("%d requests, want 1 (an oversized answer is not retried)", n)
			}
		})
	}
}

func TestValueLimitDefault(t *testing.T) {
	t.Parallel()
	b, err := New(Options{APIKey: testAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.c.maxValue != maxValueBody || maxValueBody < 25_000_000 {
		t.Fatalf("GET reads values up to %d bytes, want maxValueBody (%d), above the API's 25 MB", b.c.maxValue, maxValueBody)
	}
}

// BenchmarkGetValueSizes reads values of several sizes with a declared
// length, as cachekitd serves them: B/op should stay near the value size
// (one allocation for the body).
func BenchmarkGetValueSizes(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			value := make([]byte, n)
			be := benchBackend(b, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(value)))
				_, _ = w.Write(value)
			})
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, _, err := be.Get(ctx, "bench:key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestExistsOnLargeValue: HEAD answers carry the entry's Content-Length
// (cachekitd sends it) with no body; a large entry exists, it is not an
// oversized answer.
func TestExistsOnLargeValue(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxJSONBody + 1, 3 << 20, maxValueBody + 1} {
		s := &script{last: status(http.StatusOK, "Content-Length", strconv.Itoa(n))}
		b := newScripted(t, s, nil)
		if ok, err := b.Exists(context.Background(), "k:large"); err != nil || !ok {
			t.Fatalf("Exists on a %d-byte entry = %v, %v; want true", n, ok, err)
		}
	}
}
