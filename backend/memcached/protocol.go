package memcached

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The memcached text protocol, both the classic commands (get, set, add,
// delete, touch, version) and the meta commands (mg, md) of memcached 1.6.
// Every command this package sends has exactly one response; readResponse
// reads that one response and nothing more, so a connection is either
// positioned at the next response or discarded.

// maxLineLength bounds a response line. The longest legitimate line is a
// VALUE line: "VALUE " + a 250-byte key + flags, length and cas, well under
// 512 bytes; meta lines carry a handful of short flags.
const maxLineLength = 1024

// MaxValueRead is the largest value the client accepts in a response:
// memcached's own ceiling for its item size limit (-I 1024m). A response that
// announces more is a protocol error, and the buffer for a value grows with
// the bytes that actually arrive, so a short hostile response cannot make the
// client allocate the announced size.
const MaxValueRead = 1 << 30

// Errors the response parser returns. A connection that produced one of them
// is out of step with the server and is closed.
var (
	// ErrProtocol reports a response that does not follow the memcached
	// protocol (unknown reply, malformed number, missing terminator).
	ErrProtocol = errors.New("memcached: protocol error")
	// ErrMetaUnsupported reports a server that answered a meta command (mg,
	// md) with ERROR: a memcached older than 1.6 or a proxy without meta
	// support. TTL and ReleaseLock need meta commands.
	ErrMetaUnsupported = errors.New("memcached: server does not support meta commands (memcached >= 1.6 needed)")
)

// status is the kind of one response.
type status uint8

const (
	stInvalid   status = iota
	stValue            // classic VALUE block followed by END (a hit)
	stEnd              // classic END alone (a miss)
	stStored           // STORED
	stNotStored        // NOT_STORED (add on an existing key)
	stExists           // EXISTS (cas mismatch)
	stNotFound         // NOT_FOUND
	stDeleted          // DELETED
	stTouched          // TOUCHED
	stVersion          // VERSION <text>
	stHD               // meta: success, no value
	stVA               // meta: success with a value
	stEN               // meta: miss
	stNF               // meta: not found
	stNS               // meta: not stored
	stEX               // meta: cas mismatch
	stMN               // meta: no-op
)

// response is one parsed server response.
type response struct {
	status  status
	value   []byte // VALUE / VA payload
	flags   uint32 // client flags (VALUE line or meta f flag)
	cas     uint64 // VALUE line cas or meta c flag
	hasCAS  bool
	ttl     int64 // meta t flag: remaining seconds, -1 = no expiry
	hasTTL  bool
	key     string // VALUE line key or meta k flag
	version string // VERSION text
}

// serverError is an ERROR, CLIENT_ERROR or SERVER_ERROR reply. The message is
// the server's own text, which never contains the value.
type serverError struct {
	kind string // "ERROR", "CLIENT_ERROR" or "SERVER_ERROR"
	msg  string
}

func (e *serverError) Error() string {
	if e.msg == "" {
		return "memcached: " + e.kind
	}
	return "memcached: " + e.kind + " " + e.msg
}

// tooLarge reports memcached's "SERVER_ERROR object too large for cache":
// the value exceeds the server's item size limit, which retrying cannot fix.
func (e *serverError) tooLarge() bool {
	return e.kind == "SERVER_ERROR" && strings.Contains(e.msg, "too large")
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// readLine reads one CRLF-terminated line without the terminator. Lines
// longer than maxLineLength are a protocol error.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxLineLength+2 {
			return nil, protoErr("response line longer than %d bytes", maxLineLength)
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, protoErr("response line not terminated by CRLF")
	}
	return line[:len(line)-2], nil
}

// readData reads an n-byte data block and its CRLF terminator. The buffer
// grows with the data that actually arrives (in steps of at most 1 MiB), so
// an announced size never turns into an allocation by itself.
func readData(r *bufio.Reader, n int64, limit int64) ([]byte, error) {
	if n < 0 || n > limit {
		return nil, protoErr("value length %d outside [0, %d]", n, limit)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 1<<20)))
	if _, err := io.CopyN(&buf, r, n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	var crlf [2]byte
	if _, err := io.ReadFull(r, crlf[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return nil, protoErr("data block not terminated by CRLF")
	}
	return buf.Bytes(), nil
}

// readResponse reads exactly one response. limit bounds the value length.
// Error replies come back as *serverError; malformed input as ErrProtocol;
// I/O failures as they are.
func readResponse(r *bufio.Reader, limit int64) (response, error) {
	line, err := readLine(r)
	if err != nil {
		return response{}, err
	}
	head, rest, _ := bytes.Cut(line, []byte{' '})
	switch string(head) {
	case "VALUE":
		return readValue(r, rest, limit)
	case "END", "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED":
		if len(rest) != 0 || len(line) != len(head) {
			return response{}, protoErr("unexpected text after %s", head)
		}
		return response{status: simpleStatus[string(head)]}, nil
	case "VERSION":
		return response{status: stVersion, version: string(rest)}, nil
	case "ERROR", "CLIENT_ERROR", "SERVER_ERROR":
		return response{}, &serverError{kind: string(head), msg: string(rest)}
	case "HD", "EN", "NF", "NS", "EX", "MN":
		resp := response{status: simpleStatus[string(head)]}
		if err := parseMetaFlags(&resp, rest); err != nil {
			return response{}, err
		}
		return resp, nil
	case "VA":
		sizeTok, flags, _ := bytes.Cut(rest, []byte{' '})
		n, err := parseUint(sizeTok, 63)
		if err != nil {
			return response{}, protoErr("VA size: %v", err)
		}
		resp := response{status: stVA}
		if err := parseMetaFlags(&resp, flags); err != nil {
			return response{}, err
		}
		resp.value, err = readData(r, int64(n), limit)
		if err != nil {
			return response{}, err
		}
		return resp, nil
	}
	return response{}, protoErr("unknown response %q", truncate(head, 32))
}

var simpleStatus = map[string]status{
	"END": stEnd, "STORED": stStored, "NOT_STORED": stNotStored, "EXISTS": stExists,
	"NOT_FOUND": stNotFound, "DELETED": stDeleted, "TOUCHED": stTouched,
	"HD": stHD, "EN": stEN, "NF": stNF, "NS": stNS, "EX": stEX, "MN": stMN,
}

// readValue parses "VALUE <key> <flags> <bytes> [<cas>]", the data block and
// the END line that closes a single-key get.
func readValue(r *bufio.Reader, rest []byte, limit int64) (response, error) {
	fields := bytes.Fields(rest)
	if len(fields) != 3 && len(fields) != 4 {
		return response{}, protoErr("VALUE line has %d fields", len(fields))
	}
	flags, err := parseUint(fields[1], 32)
	if err != nil {
		return response{}, protoErr("VALUE flags: %v", err)
	}
	n, err := parseUint(fields[2], 63)
	if err != nil {
		return response{}, protoErr("VALUE length: %v", err)
	}
	resp := response{status: stValue, key: string(fields[0]), flags: uint32(flags)}
	if len(fields) == 4 {
		if resp.cas, err = parseUint(fields[3], 64); err != nil {
			return response{}, protoErr("VALUE cas: %v", err)
		}
		resp.hasCAS = true
	}
	if resp.value, err = readData(r, int64(n), limit); err != nil {
		return response{}, err
	}
	end, err := readLine(r)
	if errors.Is(err, io.EOF) {
		return response{}, io.ErrUnexpectedEOF
	}
	if err != nil {
		return response{}, err
	}
	if string(end) != "END" {
		return response{}, protoErr("VALUE block not followed by END")
	}
	return resp, nil
}

// parseMetaFlags reads the return flags of a meta response: t (remaining
// TTL, -1 = none), c (cas), f (client flags) and k (the key). Other flags are
// ignored.
func parseMetaFlags(resp *response, rest []byte) error {
	for _, tok := range bytes.Fields(rest) {
		val := tok[1:]
		switch tok[0] {
		case 't':
			if string(val) == "-1" {
				resp.ttl, resp.hasTTL = -1, true
				continue
			}
			n, err := parseUint(val, 62)
			if err != nil {
				return protoErr("meta t flag: %v", err)
			}
			resp.ttl, resp.hasTTL = int64(n), true
		case 'c':
			n, err := parseUint(val, 64)
			if err != nil {
				return protoErr("meta c flag: %v", err)
			}
			resp.cas, resp.hasCAS = n, true
		case 'k':
			resp.key = string(val)
		case 'f':
			n, err := parseUint(val, 32)
			if err != nil {
				return protoErr("meta f flag: %v", err)
			}
			resp.flags = uint32(n)
		}
	}
	return nil
}

// parseUint parses a decimal number of at most bits bits: digits only, no
// sign, no leading '+'.
func parseUint(b []byte, bits int) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, fmt.Errorf("bad number of %d bytes", len(b))
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	return strconv.ParseUint(string(b), 10, bits)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
