package memcached

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func parse(s string) (response, error) {
	return readResponse(bufio.NewReader(strings.NewReader(s)), 1<<20)
}

func TestReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  status
		value string
		check func(t *testing.T, r response)
	}{
		{"hit", "VALUE k 7 3\r\nabc\r\nEND\r\n", stValue, "abc", func(t *testing.T, r response) {
			if r.key != "k" || r.flags != 7 {
				t.Errorf("key %q flags %d", r.key, r.flags)
			}
		}},
		{"hit with cas", "VALUE k 0 0 99\r\n\r\nEND\r\n", stValue, "", func(t *testing.T, r response) {
			if !r.hasCAS || r.cas != 99 {
				t.Errorf("cas %d %v", r.cas, r.hasCAS)
			}
		}},
		{"binary value with CRLF inside", "VALUE k 0 4\r\n\r\n\r\n\r\nEND\r\n", stValue, "\r\n\r\n", nil},
		{"miss", "END\r\n", stEnd, "", nil},
		{"stored", "STORED\r\n", stStored, "", nil},
		{"not stored", "NOT_STORED\r\n", stNotStored, "", nil},
		{"deleted", "DELETED\r\n", stDeleted, "", nil},
		{"not found", "NOT_FOUND\r\n", stNotFound, "", nil},
		{"touched", "TOUCHED\r\n", stTouched, "", nil},
		{"exists", "EXISTS\r\n", stExists, "", nil},
		{"version", "VERSION 1.6.18\r\n", stVersion, "", func(t *testing.T, r response) {
			if r.version != "1.6.18" {
				t.Errorf("version %q", r.version)
			}
		}},
		{"meta hd ttl", "HD t2678400\r\n", stHD, "", func(t *testing.T, r response) {
			if !r.hasTTL || r.ttl != 2678400 {
				t.Errorf("ttl %d %v", r.ttl, r.hasTTL)
			}
		}},
		{"meta hd no expiry", "HD t-1\r\n", stHD, "", func(t *testing.T, r response) {
			if !r.hasTTL || r.ttl != -1 {
				t.Errorf("ttl %d %v", r.ttl, r.hasTTL)
			}
		}},
		{"meta va", "VA 5 c42 f3 t10\r\nhello\r\n", stVA, "hello", func(t *testing.T, r response) {
			if r.cas != 42 || !r.hasCAS || r.flags != 3 || r.ttl != 10 {
				t.Errorf("flags %+v", r)
			}
		}},
		{"meta en", "EN\r\n", stEN, "", nil},
		{"meta nf", "NF\r\n", stNF, "", nil},
		{"meta ex", "EX\r\n", stEX, "", nil},
		{"meta ns", "NS\r\n", stNS, "", nil},
		{"meta mn", "MN\r\n", stMN, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := parse(tt.in)
			if err != nil {
				t.Fatalf("readResponse(%q): %v", tt.in, err)
			}
			if r.status != tt.want || string(r.value) != tt.value {
				t.Fatalf("got status %d value %q, want %d %q", r.status, r.value, tt.want, tt.value)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		target error // errors.Is target; nil = *serverError expected
	}{
		{"unknown", "HELLO\r\n", ErrProtocol},
		{"bare LF", "END\n", ErrProtocol},
		{"text after END", "END x\r\n", ErrProtocol},
		{"value missing END", "VALUE k 0 1\r\na\r\n", io.ErrUnexpectedEOF},
		{"value other trailer", "VALUE k 0 1\r\na\r\nSTORED\r\n", ErrProtocol},
		{"value short data", "VALUE k 0 10\r\nabc", io.ErrUnexpectedEOF},
		{"value bad terminator", "VALUE k 0 1\r\naXXEND\r\n", ErrProtocol},
		{"value negative length", "VALUE k 0 -1\r\n", ErrProtocol},
		{"value huge length", "VALUE k 0 99999999999\r\n", ErrProtocol},
		{"value flags overflow", "VALUE k 4294967296 1\r\na\r\nEND\r\n", ErrProtocol},
		{"value too few fields", "VALUE k 0\r\n", ErrProtocol},
		{"va bad size", "VA x\r\n", ErrProtocol},
		{"va bad cas", "VA 1 cX\r\na\r\n", ErrProtocol},
		{"hd bad ttl", "HD t-5\r\n", ErrProtocol},
		{"long line", strings.Repeat("A", 5000) + "\r\n", ErrProtocol},
		{"empty", "", io.EOF},
		{"truncated line", "STOR", io.ErrUnexpectedEOF},
		{"error", "ERROR\r\n", nil},
		{"client error", "CLIENT_ERROR bad data chunk\r\n", nil},
		{"server error", "SERVER_ERROR out of memory\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(tt.in)
			if err == nil {
				t.Fatalf("readResponse(%q) succeeded", tt.in)
			}
			if tt.target == nil {
				var se *serverError
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want a *serverError", err)
				}
				return
			}
			if !errors.Is(err, tt.target) {
				t.Fatalf("got %v, want %v", err, tt.target)
			}
		})
	}
}

func TestServerErrorTooLarge(t *testing.T) {
	t.Parallel()
	_, err := parse("SERVER_ERROR object too large for cache\r\n")
	var se *serverError
	if !errors.As(err, &se) || !se.tooLarge() {
		t.Fatalf("got %v, want a too-large server error", err)
	}
	_, err = parse("SERVER_ERROR out of memory storing object\r\n")
	if !errors.As(err, &se) || se.tooLarge() {
		t.Fatalf("got %v, want a server error that is not too-large", err)
	}
}

// FuzzParseResponse feeds arbitrary bytes to the response parser: it must
// never panic, never return a value above the limit, and never allocate more
// than the input can justify (the limit is far above the input sizes).
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"VALUE k 0 3\r\nabc\r\nEND\r\n", "VALUE k 0 3 17\r\nabc\r\nEND\r\n", "END\r\n", "STORED\r\n",
		"NOT_STORED\r\n", "DELETED\r\n", "NOT_FOUND\r\n", "TOUCHED\r\n", "VERSION 1.6.18\r\n",
		"HD t-1\r\n", "HD t100 c5\r\n", "VA 2 c9 t3 f1\r\nhi\r\n", "EN\r\n", "NF\r\n", "EX\r\n", "MN\r\n",
		"ERROR\r\n", "CLIENT_ERROR x\r\n", "SERVER_ERROR object too large for cache\r\n",
		"VALUE k 0 1073741824\r\n", "VA 18446744073709551615\r\n", "VALUE k 0 1\r\na\r\n", "",
	} {
		f.Add([]byte(s))
	}
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := readResponse(bufio.NewReader(bytes.NewReader(data)), limit)
		if err != nil {
			return
		}
		if len(r.value) > limit || len(r.value) > len(data) {
			t.Fatalf("value of %d bytes from %d bytes of input", len(r.value), len(data))
		}
		if r.status == stInvalid {
			t.Fatalf("success without a status")
		}
	})
}
