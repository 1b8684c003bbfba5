package cachekitio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

var _ backend.Invalidator = (*Backend)(nil)

// EventsPath is the path of a cachekitd's invalidation stream (Server-Sent
// Events of the tenant's PUTs and DELETEs; see cachekitd's server package).
const EventsPath = "/v1/invalidations"

// ErrNoStream is returned by SubscribeInvalidations when the server has no
// invalidation stream (the managed API today, or an older cachekitd): the
// cache then runs without cross-process invalidation.
var ErrNoStream = errors.New("cachekitio: the server has no invalidation stream")

// Stream pacing: reconnection backoff, and how long a stream may stay
// silent (the server pings every 15 s) before it is taken as dead.
const (
	streamRetryMin = 50 * time.Millisecond
	streamRetryMax = 2 * time.Second
	streamIdle     = 45 * time.Second
	streamOpenWait = 500 * time.Millisecond
	maxEventBytes  = 1 << 20
)

// PublishInvalidation does nothing: cachekitd announces every PUT and DELETE
// on its stream by itself, naming the writing cache from the
// X-CacheKit-Sender header this backend sends with each write (the id
// backend.WithInvalidationSender put in the write's context). It implements
// backend.Invalidator.
func (b *Backend) PublishInvalidation(context.Context, backend.Invalidation) error { return nil }

// SubscribeInvalidations reads the tenant's invalidation stream (GET
// EventsPath, over the backend's HTTP/2 connection) and delivers its events.
// It implements backend.Invalidator. It fails with ErrNoStream when the
// server answers the first request with anything but a stream, other than
// 429 or a 5xx (404 and 405 from a server without the route, 501); when the
// server cannot be reached within 500 ms it succeeds and keeps trying. A broken or silent
// (45 s) stream is reported as LinkDown and reopened after 50 ms, doubling
// up to 2 s.
func (b *Backend) SubscribeInvalidations(onMessage func(backend.Invalidation), onState func(backend.LinkState)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{b: b, onMessage: onMessage, onState: onState, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	body, err := s.open(streamOpenWait)
	if errors.Is(err, ErrNoStream) {
		cancel()
		return nil, err
	}
	go s.run(body)
	return s.stop, nil
}

type stream struct {
	b         *Backend
	onMessage func(backend.Invalidation)
	onState   func(backend.LinkState)
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	wasUp     bool
	// seq numbers the delivered events across every stream of this
	// subscription. The server's q counts events per connection: it restarts
	// when a stream is reopened and differs between cachekitd replicas, while
	// the cache drops a sender's message whose Seq is not above the last one
	// it applied from that sender. A stream has no duplicates or replays to
	// filter, so numbering here keeps that check from dropping fresh events
	// after a reconnect.
	seq uint64
}

func (s *stream) stop() {
	s.cancel()
	<-s.done
}

// open requests the stream; wait bounds the wait for its answer (0: none
// beyond the stream's context).
func (s *stream) open(wait time.Duration) (io.ReadCloser, error) {
	u := *s.b.c.base.base
	u.Path += EventsPath
	u.RawPath = ""
	// The request's own context bounds the wait for the answer's header
	// (wait) and ends with the body.
	rctx, rcancel := context.WithCancel(s.ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		rcancel()
		return nil, err
	}
	s.b.c.authorize(req.Header)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/event-stream")
	if wait > 0 {
		timer := time.AfterFunc(wait, rcancel)
		defer timer.Stop()
	}
	resp, err := s.b.c.http.Do(req)
	if err != nil {
		rcancel()
		return nil, s.b.c.scrub(err)
	}
	ok := resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	switch {
	case !ok && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotImplemented ||
		resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests):
		// A server that does not know the route (404, 405, or some other
		// answer than a stream).
		resp.Body.Close()
		rcancel()
		return nil, ErrNoStream
	case !ok:
		resp.Body.Close()
		rcancel()
		return nil, fmt.Errorf("%w: invalidation stream answered %d %q", ErrProtocol, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return streamBody{resp.Body, rcancel}, nil
}

// streamBody is a stream's body that ends its request's context when closed.
type streamBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b streamBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// run reads the stream, reopening it until stopped.
func (s *stream) run(body io.ReadCloser) {
	defer close(s.done)
	if body == nil {
		s.onState(backend.LinkDown) // not reachable yet: say so rather than keep the cache waiting
	}
	delay := streamRetryMin
	for {
		if body != nil {
			if s.wasUp {
				s.onState(backend.LinkReconnected)
			} else {
				s.wasUp = true
				s.onState(backend.LinkUp)
			}
			s.read(body)
			body.Close()
			delay = streamRetryMin
			if s.ctx.Err() != nil {
				return
			}
			s.onState(backend.LinkDown)
		}
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, streamRetryMax)
		var err error
		body, err = s.open(0)
		if err != nil {
			body = nil
		}
	}
}

// read delivers the events of one stream until it ends, is stopped, or stays
// silent for streamIdle. An event that cannot be read is reported as
// LinkReconnected (a possible gap).
func (s *stream) read(body io.ReadCloser) {
	idle := time.AfterFunc(streamIdle, func() { body.Close() })
	defer idle.Stop()
	var once sync.Once
	stopWatch := make(chan struct{})
	defer once.Do(func() { close(stopWatch) })
	go func() {
		select {
		case <-s.ctx.Done():
			body.Close()
		case <-stopWatch:
		}
	}()
	r := bufio.NewReaderSize(body, 4096)
	var data []byte
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: keep reading it, bounded.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxEventBytes {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return
		}
		idle.Reset(streamIdle)
		l := strings.TrimRight(string(line), "\r\n")
		switch {
		case l == "":
			if len(data) > 0 {
				s.deliver(data)
				data = data[:0]
			}
		case strings.HasPrefix(l, "data:"):
			d := strings.TrimPrefix(strings.TrimPrefix(l, "data:"), " ")
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, d...)
			if len(data) > maxEventBytes {
				s.onState(backend.LinkReconnected)
				data = data[:0]
			}
		}
	}
}

func (s *stream) deliver(data []byte) {
	var m backend.Invalidation
	if json.Unmarshal(data, &m) != nil || m.Sender == "" || m.Seq == 0 {
		s.onState(backend.LinkReconnected)
		return
	}
	s.seq++
	m.Seq = s.seq
	s.onMessage(m)
}
