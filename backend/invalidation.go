package backend

import "context"

// Invalidator is implemented by backends that carry invalidation messages
// between the caches that share them, so that a write or a delete made by one
// process reaches the in-process tier (L1) of every other process within
// milliseconds instead of at the end of the entry's lifetime. cachekit uses
// it when the backend has it (the Redis backend and the CacheKit HTTP
// backend on a cachekitd that streams invalidations); memcached, file and
// DynamoDB have no such channel.
//
// Contract:
//   - Scope: a message reaches only the subscribers of the same scope as
//     the publisher: the same key space (the backend's key prefix, tenant or
//     namespace). A backend never delivers another tenant's messages.
//   - Messages carry keys (as passed to Set, without any prefix the backend
//     adds on its own), never values.
//   - Publish is called after the write or delete it announces has been
//     made, so a subscriber that drops its copy and reads the backend again
//     reads the new state.
//   - Delivery is at most once and, between two state changes, in the
//     order of publication for one sender. A backend that may have lost
//     messages (a dropped connection, a subscriber that lagged) reports
//     LinkDown as soon as it knows, and LinkReconnected once messages flow
//     again: the subscriber must then assume it missed some.
//   - The publisher receives its own messages too; subscribers ignore them
//     by Invalidation.Sender.
type Invalidator interface {
	// PublishInvalidation announces m to every subscriber of the scope. It
	// returns when the backend has accepted the message (not when every
	// subscriber has it).
	PublishInvalidation(ctx context.Context, m Invalidation) error
	// SubscribeInvalidations starts delivering the scope's messages to
	// onMessage and connection changes to onState, from one goroutine and in
	// order (neither is called concurrently with itself or the other). The
	// subscription starts down (onState(LinkUp) is called once the first
	// subscription is confirmed) and keeps reconnecting, with backoff, until
	// stop is called; stop waits for a callback that is running to return.
	// It fails only when the backend cannot subscribe at all (for example a
	// server without the stream).
	SubscribeInvalidations(onMessage func(Invalidation), onState func(LinkState)) (stop func(), err error)
}

// Invalidation is one invalidation message: the keys whose values changed or
// were deleted, or a prefix under which everything was removed.
type Invalidation struct {
	// Sender identifies the publishing cache (random per cache instance), so
	// that a cache can ignore its own messages.
	Sender string `json:"s"`
	// Seq is the sender's sequence number, increasing by one per message
	// from 1. A subscriber ignores a message whose Seq is not above the last
	// one it handled from that sender (a duplicate or a replay), so an old
	// message never undoes anything done after a newer one.
	Seq uint64 `json:"q"`
	// Keys are the changed or deleted keys.
	Keys []string `json:"k,omitempty"`
	// Prefix, when not empty, means every key starting with it was removed
	// (a Clear).
	Prefix string `json:"p,omitempty"`
}

// LinkState is the state of an invalidation subscription, as reported to
// the onState callback of SubscribeInvalidations.
type LinkState int

const (
	// LinkDown: the subscription is not receiving (not yet connected, or
	// the connection broke); messages published meanwhile are lost.
	LinkDown LinkState = iota
	// LinkUp: the first subscription is confirmed; messages flow.
	LinkUp
	// LinkReconnected: messages flow again after LinkDown; some published
	// in between were lost.
	LinkReconnected
)

// String returns "down", "up" or "reconnected".
func (s LinkState) String() string {
	switch s {
	case LinkUp:
		return "up"
	case LinkReconnected:
		return "reconnected"
	default:
		return "down"
	}
}

type senderKey struct{}

// WithInvalidationSender returns ctx carrying the id of the cache on whose
// behalf a write or delete is made. The cache sets it on the contexts of its
// writes; a backend whose server announces writes by itself (cachekitd's
// invalidation stream) passes it on, so that the server's message names the
// writing cache and that cache can ignore it.
func WithInvalidationSender(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, senderKey{}, id)
}

// InvalidationSender returns the id WithInvalidationSender put in ctx, or "".
func InvalidationSender(ctx context.Context) string {
	s, _ := ctx.Value(senderKey{}).(string)
	return s
}
