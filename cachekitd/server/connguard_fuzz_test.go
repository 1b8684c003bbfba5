package server

import "testing"

// FuzzGuardScanner: the request-framing scanner of a guarded connection must
// reach the same verdict however the byte stream is cut into reads (the
// network decides that), and never panic.
func FuzzGuardScanner(f *testing.F) {
	f.Add([]byte("PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add([]byte("PUT /a HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"), uint8(7))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), uint8(1))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		verdict := func(chunk int) [3]int {
			c := &guardedConn{badAt: -1, offAt: -1}
			for i := 0; i < len(stream); i += chunk {
				c.scanBytes(stream[i:min(i+chunk, len(stream))])
			}
			return [3]int{c.heads, c.badAt, c.offAt}
		}
		whole := verdict(max(len(stream), 1))
		if cut := verdict(int(step%16) + 1); cut != whole {
			t.Fatalf("reads of %d bytes: heads/bad/off %v, in one read %v", step%16+1, cut, whole)
		}
	})
}
