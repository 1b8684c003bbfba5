package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/secure"
	"github.com/cachekit-go/cachekit/internal/taggedjson"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/crypto"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/interop"
	"github.com/cachekit-go/cachekit/protocol/key"
)

func cmdKey(args []string, stdin io.Reader, out, _ io.Writer) error {
	fs := newFlags("key")
	ns := fs.String("namespace", "", "namespace (empty: no ns: segment)")
	ident := fs.String("func", "", "function identity before sanitizing, e.g. __main__.get_user")
	noIntegrity := fs.Bool("no-integrity", false, "key of an entry written with integrity checking off")
	argsJSON := fs.String("args", "[]", "positional arguments as a tagged-JSON array")
	kwargsJSON := fs.String("kwargs", "{}", "keyword arguments as a tagged-JSON object")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if err := required(fs, "func"); err != nil {
		return err
	}
	in := &input{r: stdin}
	callArgs, err := arrayArg(in, "--args", *argsJSON)
	if err != nil {
		return err
	}
	kwargs, err := objectArg(in, "--kwargs", *kwargsJSON)
	if err != nil {
		return err
	}
	k, err := key.Build(*ns, *ident, callArgs, kwargs, !*noIntegrity)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, k)
	return err
}

func cmdInteropKey(args []string, stdin io.Reader, out, _ io.Writer) error {
	fs := newFlags("interop-key")
	ns := fs.String("namespace", "", "interop namespace")
	op := fs.String("op", "", "interop operation")
	argsJSON := fs.String("args", "[]", "arguments as a tagged-JSON array, in signature order")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if err := required(fs, "namespace", "op"); err != nil {
		return err
	}
	callArgs, err := arrayArg(&input{r: stdin}, "--args", *argsJSON)
	if err != nil {
		return err
	}
	k, err := interop.Key(*ns, *op, callArgs)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, k)
	return err
}

// pipelineFlags are the flags encode and decode share.
type pipelineFlags struct {
	mode        *string
	key         *string
	noIntegrity *bool
	tenant      *string
}

func newPipelineFlags(name string) (*flag.FlagSet, *pipelineFlags) {
	fs := newFlags(name)
	return fs, &pipelineFlags{
		mode:        fs.String("mode", "auto", "auto (Python @cache frame) or interop (plain MessagePack)"),
		key:         fs.String("key", "", "the cache key (binds encrypted entries)"),
		noIntegrity: fs.Bool("no-integrity", false, "auto mode: raw MessagePack in the frame, no envelope"),
		tenant:      fs.String("tenant", "", "encryption tenant id (default: "+secure.EnvDeploymentUUID+"); needs "+secure.EnvMasterKey),
	}
}

// pipeline returns the value pipeline of the flags and, when
// CACHEKIT_MASTER_KEY is set, the encryption scope (nil otherwise). For auto
// mode the scope is the pipeline's Sealer; interop values are sealed and
// opened around the pipeline (entry has no interop hook).
func (pf *pipelineFlags) pipeline(nonce func() [crypto.NonceSize]byte) (entry.Pipeline, *secure.Scope, error) {
	var p entry.Pipeline
	switch *pf.mode {
	case "auto":
		p.Mode = entry.Framed
		if *pf.noIntegrity {
			p.Mode = entry.FramedRaw
		}
	case "interop":
		p.Mode = entry.Interop
	default:
		return p, nil, fmt.Errorf("--mode must be auto or interop, not %q", *pf.mode)
	}
	scope, err := pf.scope(nonce)
	if err != nil || scope == nil {
		return p, nil, err
	}
	if p.Mode != entry.Interop {
		p.Sealer = scope
	}
	return p, scope, nil
}

// scope builds the encryption scope from CACHEKIT_MASTER_KEY,
// CACHEKIT_PREVIOUS_MASTER_KEYS and --tenant (or CACHEKIT_DEPLOYMENT_UUID).
// The CLI never falls back to the machine-local deployment UUID file: it
// inspects entries of other processes and must not create one.
func (pf *pipelineFlags) scope(nonce func() [crypto.NonceSize]byte) (*secure.Scope, error) {
	master, previous, err := secure.KeysFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if master == nil {
		if *pf.tenant != "" {
			return nil, fmt.Errorf("--tenant needs %s (the entry is encrypted with a key derived from it)", secure.EnvMasterKey)
		}
		return nil, nil
	}
	cfg := secure.Config{MasterKey: master, PreviousKeys: previous, Tenant: *pf.tenant, NonceSource: nonce}
	if cfg.Tenant == "" && os.Getenv(secure.EnvDeploymentUUID) == "" {
		// The policy would fall back to the deployment UUID file.
		return nil, fmt.Errorf("%s is set: give the tenant with --tenant or %s", secure.EnvMasterKey, secure.EnvDeploymentUUID)
	}
	policy, err := secure.New(cfg)
	if err != nil {
		return nil, err
	}
	return policy.Bind(context.Background())
}

// encryptionHint makes "encrypted entry, no key" actionable.
func encryptionHint(err error) error {
	if errors.Is(err, entry.ErrEncrypted) {
		return fmt.Errorf("%w (set %s and --tenant)", err, secure.EnvMasterKey)
	}
	return err
}

// fixedNonceFlag must accompany --nonce: reusing a nonce under one AES-GCM
// key breaks both confidentiality and authenticity, so the CLI does it only
// when asked twice.
const fixedNonceFlag = "test-only-fixed-nonce"

func cmdEncode(args []string, stdin io.Reader, out, errOut io.Writer) error {
	fs, pf := newPipelineFlags("encode")
	valueJSON := fs.String("value", "", "the value as tagged JSON")
	nonceHex := fs.String("nonce", "", "encryption only: a fixed 12-byte nonce in hex, for known-answer tests; needs --"+fixedNonceFlag)
	fixedNonce := fs.Bool(fixedNonceFlag, false, "allow --nonce: test keys only, a nonce reused under a real key exposes values and allows forgeries")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if err := required(fs, "key", "value"); err != nil {
		return err
	}
	var nonceSrc func() [crypto.NonceSize]byte
	if *nonceHex != "" {
		if !*fixedNonce {
			return fmt.Errorf("--nonce encrypts with a fixed nonce, which must never be used with a real master key (a nonce reused under one key exposes the XOR of the values and lets anyone forge entries); for known-answer tests with a test key, add --%s", fixedNonceFlag)
		}
		n, err := hex.DecodeString(*nonceHex)
		if err != nil || len(n) != crypto.NonceSize {
			return fmt.Errorf("--nonce must be %d bytes of hex", crypto.NonceSize)
		}
		nonceSrc = func() [crypto.NonceSize]byte { return [crypto.NonceSize]byte(n) }
	}
	p, scope, err := pf.pipeline(nonceSrc)
	if err != nil {
		return err
	}
	if nonceSrc != nil && scope == nil {
		return fmt.Errorf("--nonce needs %s", secure.EnvMasterKey)
	}
	if nonceSrc != nil {
		fmt.Fprintf(errOut, "cachekit encode: WARNING: encrypting with the FIXED nonce %s (--%s). Never do this with a real master key: "+
			"a second value encrypted under this key and nonce exposes both values and lets anyone forge entries.\n", *nonceHex, fixedNonceFlag)
	}
	raw, err := (&input{r: stdin}).jsonArg(*valueJSON)
	if err != nil {
		return err
	}
	v, err := taggedjson.Parse(raw)
	if err != nil {
		return fmt.Errorf("--value: %w", err)
	}
	stored, err := p.Encode(*pf.key, v)
	if err != nil {
		return err
	}
	if scope != nil && p.Mode == entry.Interop {
		if stored, err = scope.SealInterop(*pf.key, stored); err != nil {
			return err
		}
	}
	return printHex(out, stored)
}

func cmdDecode(args []string, stdin io.Reader, out, _ io.Writer) error {
	fs, pf := newPipelineFlags("decode")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := required(fs, "key"); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("expected exactly one HEX argument (or - for standard input)")
	}
	p, scope, err := pf.pipeline(nil)
	if err != nil {
		return err
	}
	stored, err := (&input{r: stdin}).hexArg(pos[0])
	if err != nil {
		return err
	}
	js, err := decodeStored(p, scope, *pf.key, stored)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", js)
	return err
}

// decodeStored opens stored bytes with the pipeline (and the encryption
// scope, when there is one) and returns the value as tagged JSON.
func decodeStored(p entry.Pipeline, scope *secure.Scope, key string, stored []byte) ([]byte, error) {
	var err error
	if scope != nil && p.Mode == entry.Interop {
		if stored, err = scope.OpenInterop(key, stored); err != nil {
			return nil, err
		}
	}
	doc, err := p.Open(key, stored)
	if err != nil {
		return nil, encryptionHint(err)
	}
	var v any
	if p.Mode == entry.Interop {
		v, err = interop.DecodeValue(doc)
	} else {
		v, err = codec.Decode(doc)
	}
	if err != nil {
		return nil, err
	}
	return taggedjson.Format(v)
}

func cmdEnvelope(args []string, stdin io.Reader, out, _ io.Writer) error {
	if len(args) != 2 || (args[0] != "pack" && args[0] != "unpack") {
		return errors.New("usage: cachekit envelope pack|unpack HEX")
	}
	data, err := (&input{r: stdin}).hexArg(args[1])
	if err != nil {
		return err
	}
	var res []byte
	if args[0] == "pack" {
		res, err = envelope.Pack(data)
	} else {
		res, err = envelope.Unpack(data)
	}
	if err != nil {
		return err
	}
	return printHex(out, res)
}

func noPositionals(pos []string) error {
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	return nil
}

func arrayArg(in *input, name, arg string) ([]any, error) {
	raw, err := in.jsonArg(arg)
	if err != nil {
		return nil, err
	}
	v, err := taggedjson.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a JSON array", name)
	}
	return arr, nil
}

func objectArg(in *input, name, arg string) (map[string]any, error) {
	raw, err := in.jsonArg(arg)
	if err != nil {
		return nil, err
	}
	v, err := taggedjson.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a JSON object", name)
	}
	return m, nil
}
