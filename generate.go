package cachekit

// funcs.go and funcs_gen_test.go are generated: Func0..Func4 differ only in
// arity. The test command fails when they are stale.
//go:generate go run ./internal/cmd/genfuncs
