package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The invalidation stream, an extension of the CacheKit API: an
// authenticated GET of EventsPath answers text/event-stream (Server-Sent
// Events) and then, for as long as the client stays, one event per PUT or
// DELETE of the caller's tenant, and only of that tenant:
//
//	id: 42
//	data: {"s":"<sender>","q":42,"k":["<key>"]}
//
// "k" holds the keys exactly as they appear in the request paths, never
// values; "q" (also the event id) increases by one per event of the tenant;
// "s" is the X-CacheKit-Sender header of the write (1 to 64 characters of
// [A-Za-z0-9_-]; SDKs send the id of the writing cache, so it can ignore
// its own events), or "cachekitd" when the write carried none. A comment line
// (": ping") is sent every EventsPingInterval so that clients notice a dead
// connection. There is no replay: a client that reconnects must assume it
// missed events. A client that cannot keep up (EventsBuffer events behind)
// is disconnected, and the stream of every client ends when the server
// shuts down. Clients that do not know the stream never see it.
//
// With several replicas over a store that relays events (relay.go), a
// replica's streams also carry the writes made through the other replicas,
// numbered by this replica's q; streams end whenever relayed events may
// have been lost, and are refused (503) while the relay is down.

// EventsPath is the path of the invalidation stream.
const EventsPath = "/v1/invalidations"

// HeaderSender names the writing cache in a PUT or DELETE (see EventsPath).
const HeaderSender = "X-Cachekit-Sender"

const (
	// EventsPingInterval is how often an idle stream sends a comment.
	EventsPingInterval = 15 * time.Second
	// EventsBuffer is how many events a client may lag behind before it is
	// disconnected.
	EventsBuffer = 4096
	// eventsWriteTimeout bounds one write to a stream (the server's write
	// timeout is lifted for the stream's lifetime and set per write).
	eventsWriteTimeout = 10 * time.Second
)

// events fans the writes of each tenant out to the tenant's streams.
type events struct {
	mu     sync.Mutex
	subs   map[string]map[chan []byte]struct{} // tenant -> streams
	seq    map[string]uint64                   // tenant -> last event number
	n      int                                 // streams open (all tenants)
	closed bool
	down   bool // the relay is down: streams refused (setAvailable)
}

func newEvents() *events {
	return &events{subs: map[string]map[chan []byte]struct{}{}, seq: map[string]uint64{}}
}

func validSender(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// senderOf is the event sender of the write r: its valid X-CacheKit-Sender,
// or "cachekitd".
func senderOf(r *http.Request) string {
	if v := r.Header[HeaderSender]; len(v) == 1 && validSender(v[0]) {
		return v[0]
	}
	return "cachekitd"
}

// publish announces to tenant's local streams that keys (or, when nil, key
// alone) changed, written by sender. A tenant without streams here costs a
// map lookup and no allocation.
func (e *events) publish(tenant, sender string, keys []string, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	subs := e.subs[tenant]
	if len(subs) == 0 {
		return
	}
	if keys == nil {
		keys = []string{key}
	}
	e.seq[tenant]++
	seq := e.seq[tenant]
	data, _ := json.Marshal(struct {
		S string   `json:"s"`
		Q uint64   `json:"q"`
		K []string `json:"k"`
	}{sender, seq, keys})
	id := strconv.FormatUint(seq, 10)
	ev := make([]byte, 0, len(data)+len(id)+16)
	ev = append(append(append(append(ev, "id: "...), id...), "\ndata: "...), data...)
	ev = append(ev, "\n\n"...)
	for ch := range subs {
		select {
		case ch <- ev:
		default: // lagging: drop the stream; the client reconnects and flushes
			delete(subs, ch)
			close(ch)
			e.n--
		}
	}
}

// reset ends the local streams of tenant (of every tenant when all), whose
// clients may have missed events: they reconnect and flush their copies. It
// reports how many streams it ended.
func (e *events) reset(tenant string, all bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for t, subs := range e.subs {
		if !all && t != tenant {
			continue
		}
		for ch := range subs {
			close(ch)
			n++
		}
		delete(e.subs, t)
		delete(e.seq, t)
	}
	e.n -= n
	return n
}

// setAvailable opens (true) or closes (false) the streams: while closed,
// every stream is ended and new ones are refused (the relay that feeds them
// is down, so they would miss events).
func (e *events) setAvailable(ok bool) {
	e.mu.Lock()
	e.down = !ok
	e.mu.Unlock()
	if !ok {
		e.reset("", true)
	}
}

// subscribe opens a stream of tenant's events; nil once shut down or while
// the relay is down (unavailable then).
func (e *events) subscribe(tenant string) (ch chan []byte, cancel func(), unavailable bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.down {
		return nil, nil, !e.closed
	}
	ch = make(chan []byte, EventsBuffer)
	if e.subs[tenant] == nil {
		e.subs[tenant] = map[chan []byte]struct{}{}
	}
	e.subs[tenant][ch] = struct{}{}
	e.n++
	return ch, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.subs[tenant][ch]; ok {
			delete(e.subs[tenant], ch)
			close(ch)
			e.n--
		}
		if len(e.subs[tenant]) == 0 {
			delete(e.subs, tenant)
			delete(e.seq, tenant) // numbering restarts; clients treat a reconnect as a gap anyway
		}
	}, false
}

// close ends every stream and refuses new ones.
func (e *events) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for t, subs := range e.subs {
		for ch := range subs {
			close(ch)
		}
		delete(e.subs, t)
	}
	e.n = 0
}

// CloseStreams ends every invalidation stream and refuses new ones; an
// http.Server made by NewHTTPServer calls it when it shuts down (streams
// would otherwise hold Shutdown until its deadline).
func (s *Server) CloseStreams() { s.events.close() }

// stream serves the invalidation stream of the authenticated tenant.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, q *request) int {
	ch, cancel, unavailable := s.events.subscribe(q.tenant.ID)
	if unavailable {
		w.Header().Set("Retry-After", "1")
		return writeError(w, http.StatusServiceUnavailable, "invalidation relay unavailable")
	}
	if ch == nil {
		return writeError(w, http.StatusServiceUnavailable, "shutting down")
	}
	defer cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventsWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": cachekitd invalidations\n\n")) {
		return http.StatusOK
	}
	ping := time.NewTicker(EventsPingInterval)
	defer ping.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return http.StatusOK
			}
			if !write(ev) {
				return http.StatusOK
			}
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return http.StatusOK
			}
		case <-r.Context().Done():
			return http.StatusOK
		}
	}
}
