//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// privateDir refuses a directory that is a symlink, belongs to another user
// or is writable by group or others.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("dev certificate directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dev certificate directory %s is not a directory (a symlink?): remove it or give --dev-cert-dir", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("dev certificate directory %s belongs to another user: remove it or give --dev-cert-dir", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("dev certificate directory %s is writable by others: chmod 700 it or give --dev-cert-dir", dir)
	}
	return nil
}

// privateFile reports an error unless path is a regular file of this user
// that nobody else can read or write (the dev key).
func privateFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is not a private file of this user", path)
	}
	return nil
}
