// Command cachekit computes CacheKit keys and encodes and decodes stored
// entries in the byte formats the Python, Rust and Go SDKs share. It is the
// tool for debugging a cache: which key does this call use, and what is in
// this entry?
//
//	cachekit key --namespace NS --func IDENT [--no-integrity] --args JSON [--kwargs JSON]
//	cachekit interop-key --namespace NS --op OP --args JSON
//	cachekit encode --mode auto|interop --key KEY [--no-integrity] [--tenant T] [--nonce HEX --test-only-fixed-nonce] --value JSON
//	cachekit decode --mode auto|interop --key KEY [--no-integrity] [--tenant T] HEX
//	cachekit envelope pack HEX
//	cachekit envelope unpack HEX
//	cachekit inspect --backend URL [--mode auto|interop] [--tenant T] [--raw] KEY
//
// Values and arguments are tagged JSON (see internal/taggedjson): {"$bytes":
// hex}, {"$datetime": iso}, {"$uuid": s}, {"$float": s}, {"$int": s},
// {"$set": [...]}. Outputs use the same tags. Any HEX or JSON argument may be
// "-" to read it from standard input. The exit status is 0 on success and 1
// with a one-line reason on standard error otherwise.
//
// Encryption: with CACHEKIT_MASTER_KEY set (hex, at least 32 bytes), encode
// writes the encrypted form (auto: the Python @cache.secure frame; interop:
// nonce || ciphertext || tag over the canonical MessagePack) and decode
// decrypts, for the tenant given by --tenant or CACHEKIT_DEPLOYMENT_UUID.
// decode also reads entries written under the keys in
// CACHEKIT_PREVIOUS_MASTER_KEYS. An entry that fails authentication exits 1
// with the reason (tamper, wrong key, wrong tenant, ...). Keys are never
// printed. A fixed nonce (--nonce, for known-answer tests) is accepted only
// with --test-only-fixed-nonce and a warning: two values encrypted under one
// key with one nonce give away their XOR and let anyone forge entries.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  cachekit key --namespace NS --func IDENT [--no-integrity] --args JSON [--kwargs JSON]
  cachekit interop-key --namespace NS --op OP --args JSON
  cachekit encode --mode auto|interop --key KEY [--no-integrity] [--tenant T] [--nonce HEX --test-only-fixed-nonce] --value JSON
  cachekit decode --mode auto|interop --key KEY [--no-integrity] [--tenant T] HEX
  cachekit envelope pack HEX
  cachekit envelope unpack HEX

JSON values are tagged JSON ($bytes, $datetime, $uuid, $float, $int, $set).
Any HEX or JSON argument may be "-" to read it from standard input.
With CACHEKIT_MASTER_KEY set, encode encrypts and decode decrypts for the tenant
--tenant (or CACHEKIT_DEPLOYMENT_UUID); CACHEKIT_PREVIOUS_MASTER_KEYS are tried on decode.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one subcommand: it reads its arguments and writes its result to
// out (warnings to errOut), or returns an error whose message becomes the
// one-line reason.
type command func(args []string, in io.Reader, out, errOut io.Writer) error

var commands = map[string]command{
	"key":         cmdKey,
	"interop-key": cmdInteropKey,
	"encode":      cmdEncode,
	"decode":      cmdDecode,
	"envelope":    cmdEnvelope,
	"inspect":     cmdInspect,
}

func run(args []string, in io.Reader, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(errOut, usage)
		if len(args) == 0 {
			return 1
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "cachekit: unknown command %q (run cachekit --help)\n", args[0])
		return 1
	}
	if err := cmd(args[1:], in, out, errOut); err != nil {
		fmt.Fprintf(errOut, "cachekit %s: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
	return 0
}

// oneLine keeps the reason on a single line whatever the error text holds.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
