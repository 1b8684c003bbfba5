package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// newFlags returns a FlagSet that reports errors instead of printing usage.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses flags that may be interleaved with positional arguments
// ("decode HEX --mode auto" as well as "decode --mode auto HEX") and returns
// the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// required returns an error naming the first missing flag.
func required(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return fmt.Errorf("--%s is required", n)
		}
	}
	return nil
}

// input resolves an argument that may be "-" for standard input. Standard
// input can be consumed only once per run.
type input struct {
	r    io.Reader
	once sync.Once
	data []byte
	err  error
	used bool
}

func (in *input) resolve(arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	if in.used {
		return nil, errors.New("only one argument can be read from standard input")
	}
	in.used = true
	in.once.Do(func() { in.data, in.err = io.ReadAll(in.r) })
	if in.err != nil {
		return nil, fmt.Errorf("read standard input: %w", in.err)
	}
	return in.data, nil
}

// hexArg decodes a hex argument, ignoring surrounding whitespace and an
// optional 0x prefix.
func (in *input) hexArg(arg string) ([]byte, error) {
	raw, err := in.resolve(arg)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(raw))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid hex input: %w", err)
	}
	return b, nil
}

// jsonArg returns the bytes of a JSON argument.
func (in *input) jsonArg(arg string) ([]byte, error) {
	raw, err := in.resolve(arg)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(raw), nil
}

func printHex(out io.Writer, b []byte) error {
	_, err := fmt.Fprintln(out, hex.EncodeToString(b))
	return err
}
