package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadable413 plays the HTTP/1.1 clients of the managed API's suites
// against the default limits: a client that writes a whole 26 MiB body
// before reading (Python's requests) reads a 413, not a reset connection; a
// client sending Expect: 100-continue gets the 413 without sending its body;
// a value of exactly 25 MiB is stored (200, the managed service's answer).
func TestReadable413(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey})
	head := func(key string, n int, extra string) string {
		return "PUT /v1/cache/" + key + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testKey + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + strconv.Itoa(n) + "\r\n" + extra + "\r\n"
	}
	readResp := func(conn net.Conn) *http.Response {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		return resp
	}

	t.Run("whole body first", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		const n = 26 << 20
		if _, err := io.WriteString(conn, head("big", n, "")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(conn, io.LimitReader(zeros{}, n)); err != nil {
			t.Fatalf("the server stopped reading the body: %v", err)
		}
		resp := readResp(conn)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !bytes.Contains(body, []byte(`"error"`)) {
			t.Fatalf("answer %d %q, want a JSON 413", resp.StatusCode, body)
		}
		if !resp.Close {
			t.Error("the connection is not closed after the 413")
		}
	})

	t.Run("100-continue", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, head("big", 26<<20, "Expect: 100-continue\r\n")); err != nil {
			t.Fatal(err)
		}
		resp := readResp(conn) // no body byte sent
		if resp.StatusCode != 413 {
			t.Fatalf("answer %d, want 413 before the body (not 100 Continue)", resp.StatusCode)
		}
	})

	t.Run("25 MiB fits", func(t *testing.T) {
		c := &http.Client{Timeout: 30 * time.Second}
		req, _ := http.NewRequest("PUT", "http://"+p.addr+"/v1/cache/max", io.LimitReader(zeros{}, 25<<20))
		req.ContentLength = 25 << 20
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("25 MiB PUT = %d, want 200", resp.StatusCode)
		}
	})

	if strings.Contains(p.stderr.String(), "store operation failed") {
		t.Error("an oversized value reached the store")
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
