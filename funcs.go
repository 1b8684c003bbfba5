// Func0..Func4 differ only in arity; keep them in step when editing.

package cachekit

import "context"

// Func0 is a cached function of no arguments (after the context), made by
// Wrap0. Call it through Call, or pass Fn where a plain function is expected.
type Func0[R any] struct {
	*Wrapper
	fn func(context.Context) (R, error)
}

// Wrap0 wraps fn, a function of no arguments, in the cache: the Go form of
// Python's @cache decorator. It fails when fn has no stable identity (see
// Name) or an option is invalid, so mistakes surface once, at wrap time.
func Wrap0[R any](c *Cache, fn func(context.Context) (R, error), opts ...FuncOption) (*Func0[R], error) {
	w, err := newWrapper(c, fn, opts)
	if err != nil {
		return nil, err
	}
	return &Func0[R]{Wrapper: w, fn: fn}, nil
}

// MustWrap0 is Wrap0 that panics on error, for package-level setup.
func MustWrap0[R any](c *Cache, fn func(context.Context) (R, error), opts ...FuncOption) *Func0[R] {
	return must(Wrap0(c, fn, opts...))
}

// Call returns the cached result for the arguments, calling the function on
// a miss.
func (f *Func0[R]) Call(ctx context.Context) (R, error) {
	s, ok, err := callKey0(f.Wrapper, ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	if !ok {
		return f.fn(ctx)
	}
	if r, h := lookup[R](f.c, &f.p, s.key); h != miss {
		if h == stale {
			f.c.refresh(ctx, &f.p, s, anyLoader(func(ctx context.Context) (R, error) { return f.fn(ctx) }))
		}
		return r, nil
	}
	return fetch(ctx, f.c, &f.p, s, func(ctx context.Context) (R, error) { return f.fn(ctx) })
}

// Fn returns Call as a plain function value with the wrapped function's
// signature.
func (f *Func0[R]) Fn() func(context.Context) (R, error) { return f.Call }

// Invalidate removes the entry of one argument list from both tiers (with the
// function's namespace, interop names or KeyFunc, exactly as Call derives
// it). A load or refresh of that entry running meanwhile does not store its
// result afterwards, and calls made after Invalidate start a new load rather
// than receive that result.
func (f *Func0[R]) Invalidate(ctx context.Context) error {
	return f.invalidate(ctx)
}

// Key returns the cache key Call uses for the arguments. With a multi-tenant
// encryption it is the logical key; the backend key adds the tenant prefix.
func (f *Func0[R]) Key() (string, error) {
	return f.keyFor([]any{})
}

// Func1 is a cached function of one argument (after the context), made by
// Wrap1. Call it through Call, or pass Fn where a plain function is expected.
type Func1[A, R any] struct {
	*Wrapper
	fn func(context.Context, A) (R, error)
}

// Wrap1 wraps fn, a function of one argument, in the cache: the Go form of
// Python's @cache decorator. It fails when fn has no stable identity (see
// Name) or an option is invalid, so mistakes surface once, at wrap time.
func Wrap1[A, R any](c *Cache, fn func(context.Context, A) (R, error), opts ...FuncOption) (*Func1[A, R], error) {
	w, err := newWrapper(c, fn, opts, shapeOf[A]())
	if err != nil {
		return nil, err
	}
	return &Func1[A, R]{Wrapper: w, fn: fn}, nil
}

// MustWrap1 is Wrap1 that panics on error, for package-level setup.
func MustWrap1[A, R any](c *Cache, fn func(context.Context, A) (R, error), opts ...FuncOption) *Func1[A, R] {
	return must(Wrap1(c, fn, opts...))
}

// Call returns the cached result for the arguments, calling the function on
// a miss.
func (f *Func1[A, R]) Call(ctx context.Context, a A) (R, error) {
	s, ok, err := callKey1(f.Wrapper, ctx, a)
	if err != nil {
		var zero R
		return zero, err
	}
	if !ok {
		return f.fn(ctx, a)
	}
	if r, h := lookup[R](f.c, &f.p, s.key); h != miss {
		if h == stale {
			f.c.refresh(ctx, &f.p, s, anyLoader(func(ctx context.Context) (R, error) { return f.fn(ctx, a) }))
		}
		return r, nil
	}
	return fetch(ctx, f.c, &f.p, s, func(ctx context.Context) (R, error) { return f.fn(ctx, a) })
}

// Fn returns Call as a plain function value with the wrapped function's
// signature.
func (f *Func1[A, R]) Fn() func(context.Context, A) (R, error) { return f.Call }

// Invalidate removes the entry of one argument list from both tiers (with the
// function's namespace, interop names or KeyFunc, exactly as Call derives
// it). A load or refresh of that entry running meanwhile does not store its
// result afterwards, and calls made after Invalidate start a new load rather
// than receive that result.
func (f *Func1[A, R]) Invalidate(ctx context.Context, a A) error {
	return f.invalidate(ctx, a)
}

// Key returns the cache key Call uses for the arguments. With a multi-tenant
// encryption it is the logical key; the backend key adds the tenant prefix.
func (f *Func1[A, R]) Key(a A) (string, error) {
	return f.keyFor([]any{a})
}

// Func2 is a cached function of two arguments (after the context), made by
// Wrap2. Call it through Call, or pass Fn where a plain function is expected.
type Func2[A, B, R any] struct {
	*Wrapper
	fn func(context.Context, A, B) (R, error)
}

// Wrap2 wraps fn, a function of two arguments, in the cache: the Go form of
// Python's @cache decorator. It fails when fn has no stable identity (see
// Name) or an option is invalid, so mistakes surface once, at wrap time.
func Wrap2[A, B, R any](c *Cache, fn func(context.Context, A, B) (R, error), opts ...FuncOption) (*Func2[A, B, R], error) {
	w, err := newWrapper(c, fn, opts, shapeOf[A](), shapeOf[B]())
	if err != nil {
		return nil, err
	}
	return &Func2[A, B, R]{Wrapper: w, fn: fn}, nil
}

// MustWrap2 is Wrap2 that panics on error, for package-level setup.
func MustWrap2[A, B, R any](c *Cache, fn func(context.Context, A, B) (R, error), opts ...FuncOption) *Func2[A, B, R] {
	return must(Wrap2(c, fn, opts...))
}

// Call returns the cached result for the arguments, calling the function on
// a miss.
func (f *Func2[A, B, R]) Call(ctx context.Context, a A, b B) (R, error) {
	s, ok, err := callKey2(f.Wrapper, ctx, a, b)
	if err != nil {
		var zero R
		return zero, err
	}
	if !ok {
		return f.fn(ctx, a, b)
	}
	if r, h := lookup[R](f.c, &f.p, s.key); h != miss {
		if h == stale {
			f.c.refresh(ctx, &f.p, s, anyLoader(func(ctx context.Context) (R, error) { return f.fn(ctx, a, b) }))
		}
		return r, nil
	}
	return fetch(ctx, f.c, &f.p, s, func(ctx context.Context) (R, error) { return f.fn(ctx, a, b) })
}

// Fn returns Call as a plain function value with the wrapped function's
// signature.
func (f *Func2[A, B, R]) Fn() func(context.Context, A, B) (R, error) { return f.Call }

// Invalidate removes the entry of one argument list from both tiers (with the
// function's namespace, interop names or KeyFunc, exactly as Call derives
// it). A load or refresh of that entry running meanwhile does not store its
// result afterwards, and calls made after Invalidate start a new load rather
// than receive that result.
func (f *Func2[A, B, R]) Invalidate(ctx context.Context, a A, b B) error {
	return f.invalidate(ctx, a, b)
}

// Key returns the cache key Call uses for the arguments. With a multi-tenant
// encryption it is the logical key; the backend key adds the tenant prefix.
func (f *Func2[A, B, R]) Key(a A, b B) (string, error) {
	return f.keyFor([]any{a, b})
}

// Func3 is a cached function of three arguments (after the context), made by
// Wrap3. Call it through Call, or pass Fn where a plain function is expected.
type Func3[A, B, C, R any] struct {
	*Wrapper
	fn func(context.Context, A, B, C) (R, error)
}

// Wrap3 wraps fn, a function of three arguments, in the cache: the Go form of
// Python's @cache decorator. It fails when fn has no stable identity (see
// Name) or an option is invalid, so mistakes surface once, at wrap time.
func Wrap3[A, B, C, R any](c *Cache, fn func(context.Context, A, B, C) (R, error), opts ...FuncOption) (*Func3[A, B, C, R], error) {
	w, err := newWrapper(c, fn, opts, shapeOf[A](), shapeOf[B](), shapeOf[C]())
	if err != nil {
		return nil, err
	}
	return &Func3[A, B, C, R]{Wrapper: w, fn: fn}, nil
}

// MustWrap3 is Wrap3 that panics on error, for package-level setup.
func MustWrap3[A, B, C, R any](c *Cache, fn func(context.Context, A, B, C) (R, error), opts ...FuncOption) *Func3[A, B, C, R] {
	return must(Wrap3(c, fn, opts...))
}

// Call returns the cached result for the arguments, calling the function on
// a miss.
func (f *Func3[A, B, C, R]) Call(ctx context.Context, a A, b B, c C) (R, error) {
	s, ok, err := callKey3(f.Wrapper, ctx, a, b, c)
	if err != nil {
		var zero R
		return zero, err
	}
	if !ok {
		return f.fn(ctx, a, b, c)
	}
	if r, h := lookup[R](f.c, &f.p, s.key); h != miss {
		if h == stale {
			f.c.refresh(ctx, &f.p, s, anyLoader(func(ctx context.Context) (R, error) { return f.fn(ctx, a, b, c) }))
		}
		return r, nil
	}
	return fetch(ctx, f.c, &f.p, s, func(ctx context.Context) (R, error) { return f.fn(ctx, a, b, c) })
}

// Fn returns Call as a plain function value with the wrapped function's
// signature.
func (f *Func3[A, B, C, R]) Fn() func(context.Context, A, B, C) (R, error) { return f.Call }

// Invalidate removes the entry of one argument list from both tiers (with the
// function's namespace, interop names or KeyFunc, exactly as Call derives
// it). A load or refresh of that entry running meanwhile does not store its
// result afterwards, and calls made after Invalidate start a new load rather
// than receive that result.
func (f *Func3[A, B, C, R]) Invalidate(ctx context.Context, a A, b B, c C) error {
	return f.invalidate(ctx, a, b, c)
}

// Key returns the cache key Call uses for the arguments. With a multi-tenant
// encryption it is the logical key; the backend key adds the tenant prefix.
func (f *Func3[A, B, C, R]) Key(a A, b B, c C) (string, error) {
	return f.keyFor([]any{a, b, c})
}

// Func4 is a cached function of four arguments (after the context), made by
// Wrap4. Call it through Call, or pass Fn where a plain function is expected.
type Func4[A, B, C, D, R any] struct {
	*Wrapper
	fn func(context.Context, A, B, C, D) (R, error)
}

// Wrap4 wraps fn, a function of four arguments, in the cache: the Go form of
// Python's @cache decorator. It fails when fn has no stable identity (see
// Name) or an option is invalid, so mistakes surface once, at wrap time.
func Wrap4[A, B, C, D, R any](c *Cache, fn func(context.Context, A, B, C, D) (R, error), opts ...FuncOption) (*Func4[A, B, C, D, R], error) {
	w, err := newWrapper(c, fn, opts, shapeOf[A](), shapeOf[B](), shapeOf[C](), shapeOf[D]())
	if err != nil {
		return nil, err
	}
	return &Func4[A, B, C, D, R]{Wrapper: w, fn: fn}, nil
}

// MustWrap4 is Wrap4 that panics on error, for package-level setup.
func MustWrap4[A, B, C, D, R any](c *Cache, fn func(context.Context, A, B, C, D) (R, error), opts ...FuncOption) *Func4[A, B, C, D, R] {
	return must(Wrap4(c, fn, opts...))
}

// Call returns the cached result for the arguments, calling the function on
// a miss.
func (f *Func4[A, B, C, D, R]) Call(ctx context.Context, a A, b B, c C, d D) (R, error) {
	s, ok, err := callKey4(f.Wrapper, ctx, a, b, c, d)
	if err != nil {
		var zero R
		return zero, err
	}
	if !ok {
		return f.fn(ctx, a, b, c, d)
	}
	if r, h := lookup[R](f.c, &f.p, s.key); h != miss {
		if h == stale {
			f.c.refresh(ctx, &f.p, s, anyLoader(func(ctx context.Context) (R, error) { return f.fn(ctx, a, b, c, d) }))
		}
		return r, nil
	}
	return fetch(ctx, f.c, &f.p, s, func(ctx context.Context) (R, error) { return f.fn(ctx, a, b, c, d) })
}

// Fn returns Call as a plain function value with the wrapped function's
// signature.
func (f *Func4[A, B, C, D, R]) Fn() func(context.Context, A, B, C, D) (R, error) { return f.Call }

// Invalidate removes the entry of one argument list from both tiers (with the
// function's namespace, interop names or KeyFunc, exactly as Call derives
// it). A load or refresh of that entry running meanwhile does not store its
// result afterwards, and calls made after Invalidate start a new load rather
// than receive that result.
func (f *Func4[A, B, C, D, R]) Invalidate(ctx context.Context, a A, b B, c C, d D) error {
	return f.invalidate(ctx, a, b, c, d)
}

// Key returns the cache key Call uses for the arguments. With a multi-tenant
// encryption it is the logical key; the backend key adds the tenant prefix.
func (f *Func4[A, B, C, D, R]) Key(a A, b B, c C, d D) (string, error) {
	return f.keyFor([]any{a, b, c, d})
}
