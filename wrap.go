package cachekit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/l1"
	"github.com/cachekit-go/cachekit/protocol/interop"
	"github.com/cachekit-go/cachekit/protocol/key"
)

type bypassKey struct{}

// Bypass returns a context under which wrapper and Load calls skip the cache:
// the function runs, nothing is read or written. Use it for one call, e.g.
// after a write that must be read back from the source.
func Bypass(ctx context.Context) context.Context {
	return context.WithValue(ctx, bypassKey{}, true)
}

func isBypassed(ctx context.Context) bool {
	on, _ := ctx.Value(bypassKey{}).(bool)
	return on
}

// closureSymbol matches the compiler's names for function literals
// ("pkg.outer.func1", "pkg.glob..func2", "pkg.F.func1.2").
var closureSymbol = regexp.MustCompile(`\.func\d+`)

// identityOf derives a function's identity from its Go symbol: the import
// path and name, e.g. "github.com/acme/app/users.GetUser" or
// "github.com/acme/app/users.(*Store).Get-fm" for a method value. Symbols
// that do not name one stable function are refused: closures (every literal
// is "outer.funcN", renumbered when code moves), method values ("-fm": the
// receiver is part of the value but not of the name; see Receiver) and
// instantiations of generic functions (the symbol reads "F[...]" for every
// type argument).
func identityOf(fn any) (string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", fmt.Errorf("%w: nil function", ErrInvalidOption)
	}
	rf := runtime.FuncForPC(v.Pointer())
	if rf == nil {
		return "", &IdentityError{Symbol: "<unknown>", Reason: "no symbol"}
	}
	name := rf.Name()
	base := name[strings.LastIndexByte(name, '/')+1:]
	switch {
	case strings.HasSuffix(name, "-fm"):
		return "", &IdentityError{Symbol: name, Reason: "a method value"}
	case closureSymbol.MatchString(base):
		return "", &IdentityError{Symbol: name, Reason: "a closure"}
	case strings.Contains(base, "[...]"):
		return "", &IdentityError{Symbol: name, Reason: "a generic function instantiation"}
	}
	return name, nil
}

// funcIdentity resolves the identity of fn under the Name and Receiver
// options.
func funcIdentity(fc *funcConfig, fn any) (string, error) {
	sym, symErr := identityOf(fn)
	var ie *IdentityError
	methodValue := errors.As(symErr, &ie) && strings.HasSuffix(ie.Symbol, "-fm")
	noIdentityKeys := fc.interop || fc.keyFunc != nil
	switch {
	case fc.receiver != nil && noIdentityKeys:
		return "", fmt.Errorf("%w: Receiver does not apply to Interop or KeyFunc functions (their keys have no identity); "+
			"put the receiver into the namespace or the key", ErrInvalidOption)
	case fc.receiver != nil:
		base := fc.name
		switch {
		case base != "":
		case symErr == nil:
			base = sym
		case methodValue:
			base = strings.TrimSuffix(ie.Symbol, "-fm")
		default:
			return "", symErr
		}
		return base + "@" + *fc.receiver, nil
	case fc.name != "":
		return fc.name, nil
	case symErr == nil:
		return sym, nil
	case errors.Is(symErr, ErrUnnamedFunction) && noIdentityKeys:
		// Keys do not use the identity; it only names the function in logs.
		return "<unnamed>", nil
	}
	return "", symErr
}

// Wrapper holds what every wrapped function shares: its identity, its
// policy and its counters. Func0..Func4 embed it, so Info, Clear, Name and
// Cache are available on each of them.
type Wrapper struct {
	c         *Cache
	p         policy
	identity  string
	ns        string
	interop   bool
	interopNS string
	interopOp string
	keyFunc   func([]any) (string, error)
	keywords  []string // names of the trailing arguments sent as Python kwargs
	integrity bool
	prefix    string // common prefix of every key; "" = none
	pyPrefix  string // WithPythonLayout: PythonKeyPrefix for non-interop keys
	counters  counters
	warn      warnings
	memo      *keyMemo // nil: keys derived on every call (see memo.go)
}

func newWrapper(c *Cache, fn any, opts []FuncOption, shapes ...argShape) (*Wrapper, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil *Cache", ErrInvalidOption)
	}
	var fc funcConfig
	for _, o := range opts {
		if o != nil {
			o(&fc)
		}
	}
	w := &Wrapper{c: c, integrity: c.cfg.integrity, ns: c.cfg.namespace, keyFunc: fc.keyFunc}
	if fc.namespace != nil {
		w.ns = *fc.namespace
	}
	if fc.integrity != nil {
		w.integrity = *fc.integrity
	}
	if v := reflect.ValueOf(fn); v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("%w: nil function", ErrInvalidOption)
	}
	identity, err := funcIdentity(&fc, fn)
	if err != nil {
		return nil, err
	}
	w.identity = identity
	if err := checkKeywords(&fc, fn); err != nil {
		return nil, err
	}
	w.keywords = fc.keywords
	if fc.interop {
		if _, err := interop.Key(fc.interopNS, fc.interopOp, []any{}); err != nil {
			return nil, fmt.Errorf("%w: interop names %q/%q: %w", ErrInvalidOption, fc.interopNS, fc.interopOp, err)
		}
		w.interop, w.interopNS, w.interopOp = true, fc.interopNS, fc.interopOp
	}
	id := c.nextID.Add(1)
	p, err := c.newPolicy(&fc, id, w.identity, &w.warn, stats{cache: &c.counters, fn: &w.counters})
	if err != nil {
		return nil, err
	}
	w.p = *p
	if err := w.p.checkResult(reflect.TypeOf(fn).Out(0)); err != nil {
		return nil, err
	}
	w.prefix = w.keyPrefix()
	if c.cfg.pythonLayout && !w.interop {
		w.pyPrefix = PythonKeyPrefix
	}
	if w.keyFunc == nil {
		var l1c *l1.Cache[l1Entry]
		if c.enc == nil && w.pyPrefix == "" {
			l1c = c.l1 // the L1 key is the logical key: the memo keeps its hash
		}
		w.memo = newKeyMemo(c.memoLimit, &c.memoBudget, l1c, shapes...)
	}
	return w, nil
}

// checkKeywords validates the Keywords option against the function (its
// arguments after the context) and the other options.
func checkKeywords(fc *funcConfig, fn any) error {
	if len(fc.keywords) == 0 {
		return nil
	}
	switch {
	case fc.interop:
		return fmt.Errorf("%w: Keywords does not apply to interop mode (interop keys bind keyword arguments to their positions)", ErrInvalidOption)
	case fc.keyFunc != nil:
		return fmt.Errorf("%w: Keywords does not apply with KeyFunc", ErrInvalidOption)
	}
	if n := reflect.TypeOf(fn).NumIn() - 1; len(fc.keywords) > n {
		return fmt.Errorf("%w: %d keyword names for a function of %d arguments", ErrInvalidOption, len(fc.keywords), n)
	}
	seen := make(map[string]bool, len(fc.keywords))
	for _, k := range fc.keywords {
		if k == "" || seen[k] {
			return fmt.Errorf("%w: keyword names must be distinct and not empty, got %q", ErrInvalidOption, fc.keywords)
		}
		seen[k] = true
	}
	return nil
}

// newPolicy resolves a function's options against the cache's defaults.
func (c *Cache) newPolicy(fc *funcConfig, owner uint64, name string, warn *warnings, st stats) (*policy, error) {
	if len(fc.errs) > 0 {
		return nil, errors.Join(fc.errs...)
	}
	if err := checkNegative(fc.negative); err != nil {
		return nil, err
	}
	if len(fc.negative) > 0 && fc.interop {
		return nil, fmt.Errorf("%w: CacheError does not apply to interop functions (other SDKs would read its marker as a value)", ErrInvalidOption)
	}
	p := &policy{
		negative: fc.negative,
		ttl:      backendTTL(c.ttl),
		swr:      c.cfg.swr,
		useL1:    c.l1 != nil,
		pipe:     c.pipe,
		bypass:   fc.bypass,
		stats:    st,
		owner:    owner,
		name:     name,
		warn:     warn,
		cost:     new(atomic.Int64),
	}
	if fc.ttl != 0 {
		p.ttl = backendTTL(fc.ttl)
	}
	if fc.swr != nil {
		p.swr = *fc.swr
	}
	if fc.l1 != nil {
		p.useL1 = *fc.l1 && c.l1 != nil
	}
	if fc.integrity != nil {
		p.pipe.Mode = entry.Framed
		if !*fc.integrity {
			p.pipe.Mode = entry.FramedRaw
		}
	}
	if fc.interop {
		p.pipe.Mode = entry.Interop
		if c.enc != nil {
			if err := c.enc.InteropError(); err != nil {
				return nil, &ConfigError{Reason: "interop values cannot be encrypted under this configuration", Err: err}
			}
		}
	}
	return p, nil
}

// keyPrefix returns the prefix every key of this wrapper starts with, or ""
// when there is none (custom keys, identities so long that keys get
// shortened).
func (w *Wrapper) keyPrefix() string {
	switch {
	case w.keyFunc != nil:
		return ""
	case w.interop:
		return w.interopNS + ":" + w.interopOp + ":"
	}
	var b strings.Builder
	if w.ns != "" {
		b.WriteString("ns:")
		b.WriteString(strings.NewReplacer(" ", "_", "\n", "_", "\r", "_").Replace(w.ns))
		b.WriteByte(':')
	}
	b.WriteString("func:")
	b.WriteString(key.SanitizeIdentity(w.identity))
	b.WriteString(":args:")
	// A key is the prefix, 64 hex digits and ":1s"; longer than
	// key.MaxKeyLen code points it is shortened and loses the prefix.
	if len([]rune(b.String()))+64+3 > key.MaxKeyLen {
		return ""
	}
	return b.String()
}

// keyFor returns the cache key for one argument list.
func (w *Wrapper) keyFor(args []any) (string, error) {
	var (
		k   string
		err error
	)
	switch {
	case w.keyFunc != nil:
		k, err = w.keyFunc(args)
	case w.interop:
		k, err = interop.Key(w.interopNS, w.interopOp, args)
	case len(w.keywords) > 0 && len(args) >= len(w.keywords):
		pos := len(args) - len(w.keywords)
		kw := make(map[string]any, len(w.keywords))
		for i, name := range w.keywords {
			kw[name] = args[pos+i]
		}
		k, err = key.Build(w.ns, w.identity, args[:pos], kw, w.integrity)
	default:
		k, err = key.Build(w.ns, w.identity, args, nil, w.integrity)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUncacheableArguments, err)
	}
	return k, nil
}

// callKey returns where a call's entry lives, or ok == false when the call
// must run uncached (bypass, closed cache, or arguments the key layer cannot
// encode, which is logged once per function). An error (the tenant cannot be
// resolved) fails the call without running the function.
func (w *Wrapper) callKey(ctx context.Context, args ...any) (s slot, ok bool, err error) {
	if w.c.skip(ctx, &w.p) {
		return slot{}, false, nil
	}
	k, err := w.keyFor(args)
	if err != nil {
		w.uncacheable(err)
		w.c.observeCall(ctx, &w.p, CallBypass, time.Time{})
		return slot{}, false, nil
	}
	if s, err = w.slot(ctx, k); err != nil {
		return slot{}, false, err
	}
	return s, true, nil
}

// uncacheable counts a call whose arguments have no key and logs it once.
func (w *Wrapper) uncacheable(err error) {
	w.p.stats.add(bypassed)
	w.warn.args.Do(func() {
		w.c.log.Warn("cachekit: arguments cannot be encoded into a cache key; calling uncached (logged once per function)",
			"func", w.identity, "err", err)
	})
}

// slot binds a key of this wrapper to the call's tenant and, under
// WithPythonLayout, puts Python's provider prefix in front of a physical key
// that has no tenant prefix yet.
func (w *Wrapper) slot(ctx context.Context, k string) (slot, error) {
	s, err := w.c.slot(ctx, k)
	if err == nil && w.pyPrefix != "" && s.key == s.logical {
		s.key = w.pyPrefix + s.key
	}
	return s, err
}

func (w *Wrapper) invalidate(ctx context.Context, args ...any) error {
	if w.c.closed.Load() {
		return ErrClosed
	}
	k, err := w.keyFor(args)
	if err != nil {
		return err
	}
	s, err := w.slot(ctx, k)
	if err != nil {
		return err
	}
	_, err = w.c.invalidate(ctx, &w.p, s.key)
	return err
}

// Name returns the function identity used in keys (the Go symbol or Name).
func (w *Wrapper) Name() string { return w.identity }

// Cache returns the cache the function is wrapped with.
func (w *Wrapper) Cache() *Cache { return w.c }

// Info returns this function's counters; L1Bytes and L1Entries describe the
// whole cache's in-process tier, which all functions share.
func (w *Wrapper) Info() Info {
	i := w.counters.snapshot()
	w.c.sharedInfo(&i)
	return i
}

// Clear removes this function's entries: every in-process entry it wrote,
// and, when the backend can delete by prefix (backend.PrefixDeleter: the
// memory, Redis and DynamoDB backends) and the function's keys share one, the
// backend entries too. Otherwise the backend entries stay and
// Clear returns ErrClearUnsupported (they expire with their TTL). Loads and
// refreshes running during Clear do not store their results. With a
// multi-tenant encryption the backend entries removed are those of the
// tenant of ctx (in-process entries of every tenant are removed). After the
// cache's Close it returns ErrClosed.
func (w *Wrapper) Clear(ctx context.Context) error {
	c := w.c
	if c.closed.Load() {
		return ErrClosed
	}
	c.bumpEpoch()
	if c.l1 != nil {
		c.l1.DeleteFunc(func(_ string, e l1Entry) bool { return e.owner == w.p.owner })
	}
	if c.be == nil {
		return nil
	}
	pd, ok := c.be.(backend.PrefixDeleter)
	if !ok {
		return fmt.Errorf("%w: backend has no prefix deletion", ErrClearUnsupported)
	}
	if w.prefix == "" {
		return fmt.Errorf("%w: the function's keys share no prefix", ErrClearUnsupported)
	}
	s, err := w.slot(ctx, w.prefix)
	if err != nil {
		return err
	}
	err = c.do(ctx, &w.p, "delete_prefix", s.key, c.guard.opTimeout, false, func(ctx context.Context) error {
		_, err := pd.DeletePrefix(ctx, s.key)
		return err
	})
	if err == nil {
		c.announce(ctx, s.key)
	}
	return err
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
