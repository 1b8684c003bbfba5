package server_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/cachekitd/server"
	"github.com/cachekit-go/cachekit/cachekitd/store"
)

// guarded serves the handler the way cachekitd does (NewHTTPServer on a
// GuardListener) and returns its address.
func guarded(t *testing.T, st store.Store, o server.HTTPOptions) string {
	t.Helper()
	keys := server.NewKeyring()
	if err := keys.Add("acme", keyAcme, 0); err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Store: st, Keys: keys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewHTTPServer(h, o)
	go func() { _ = srv.Serve(server.GuardListener(raw, o)) }()
	t.Cleanup(func() { srv.Close() })
	return raw.Addr().String()
}

// readAll reads every response on conn until the server closes it.
func readAll(t *testing.T, conn net.Conn) []*http.Response {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the connection open after the request")
			}
			return out
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
}

// TestSmuggledRequestIsNotExecuted sends, on a raw TCP connection, a request
// with both Content-Length and Transfer-Encoding whose chunked body ends early
// and is followed by a second request (what a proxy trusting Content-Length
// forwards as one request). The first gets 400 and the connection closes; the
// smuggled DELETE never runs. A chunked request alone is served, and its
// connection closes too, so trailing bytes are never read as a request.
func TestSmuggledRequestIsNotExecuted(t *testing.T) {
	t.Parallel()
	st := store.NewMemory(store.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	addr := guarded(t, st, server.HTTPOptions{})
	if _, err := st.Set(t.Context(), "acme", "victim", []byte("v"), time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: Bearer " + keyAcme + "\r\n"
	smuggled := "DELETE /v1/cache/victim HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"
	body := "0\r\n\r\n" + smuggled
	for _, tc := range []struct {
		name   string
		head   string
		status int
	}{
		{"both headers", "Content-Length: " + strconv.Itoa(len(body)) + "\r\nTransfer-Encoding: chunked\r\n", 400},
		{"both headers, TE first, odd case", "transfer-encoding: chunked\r\ncontent-length: " + strconv.Itoa(len(body)) + "\r\n", 400},
		{"chunked only", "Transfer-Encoding: chunked\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			key := strings.ReplaceAll(tc.name, " ", "-")
			key = strings.ReplaceAll(key, ",", "")
			req := "PUT /v1/cache/" + key + " HTTP/1.1\r\nHost: x\r\n" + auth + tc.head + "\r\n" + body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resps := readAll(t, conn)
			if len(resps) != 1 {
				t.Fatalf("%d responses, want exactly 1 (the smuggled request was answered)", len(resps))
			}
			if resps[0].StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resps[0].StatusCode, tc.status)
			}
			if _, found, _ := st.Get(t.Context(), "acme", "victim"); !found {
				t.Fatal("the smuggled DELETE was executed")
			}
		})
	}

	// Keep-alive still works for ordinary requests, pipelined with bodies.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	put := "PUT /v1/cache/k HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\n\r\nhello"
	get := "GET /v1/cache/k HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n"
	if _, err := io.WriteString(conn, put+put+get); err != nil {
		t.Fatal(err)
	}
	resps := readAll(t, conn)
	if len(resps) != 3 || resps[0].StatusCode != 200 || resps[1].StatusCode != 200 || resps[2].StatusCode != 200 {
		t.Fatalf("pipelined keep-alive requests: %d responses", len(resps))
	}
}
