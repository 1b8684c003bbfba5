package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyIsCutOff: a client that sends its headers at once but trickles
// the body loses the request after --read-timeout, and nothing is stored.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"CACHEKITD_API_KEYS=acme=" + testKey}, "--read-timeout", "1s")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "PUT /v1/cache/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 100\r\n\r\n0123456789"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	defer trickle(conn, 200*time.Millisecond, "x")()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a slow upload open for 10s")
	}
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("slow upload answered %d", resp.StatusCode)
		}
	} else if err != io.EOF && err != io.ErrUnexpectedEOF && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading the answer: %v", err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if r := do(t, c, "GET", "http://"+p.addr+"/v1/cache/slow", testKey, nil); r.status != 404 {
		t.Fatalf("the cut-off upload was stored: %d", r.status)
	}
}

// trickle writes b to conn every interval, as a slow client does, until the
// returned stop is called.
func trickle(conn net.Conn, every time.Duration, b string) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
				if _, err := conn.Write([]byte(b)); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
