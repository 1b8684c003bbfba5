//go:build !unix

package main

// privateDir and privateFile check owner and mode on Unix only; elsewhere the
// user cache directory's own access control applies.
func privateDir(string) error  { return nil }
func privateFile(string) error { return nil }
