package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/cachekit-go/cachekit/internal/entry"
	"github.com/cachekit-go/cachekit/internal/taggedjson"
	"github.com/cachekit-go/cachekit/protocol/codec"
	"github.com/cachekit-go/cachekit/protocol/envelope"
	"github.com/cachekit-go/cachekit/protocol/interop"
	"github.com/cachekit-go/cachekit/protocol/key"
)

func cmdKey(args []string, stdin io.Reader, out io.Writer) error {
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

func cmdInteropKey(args []string, stdin io.Reader, out io.Writer) error {
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
}

func newPipelineFlags(name string) (*flag.FlagSet, *pipelineFlags) {
	fs := newFlags(name)
	return fs, &pipelineFlags{
		mode:        fs.String("mode", "auto", "auto (Python @cache frame) or interop (plain MessagePack)"),
		key:         fs.String("key", "", "the cache key (binds encrypted entries)"),
		noIntegrity: fs.Bool("no-integrity", false, "auto mode: raw MessagePack in the frame, no envelope"),
	}
}

func (pf *pipelineFlags) pipeline() (entry.Pipeline, error) {
	switch *pf.mode {
	case "auto":
		if *pf.noIntegrity {
			return entry.Pipeline{Mode: entry.FramedRaw}, nil
		}
		return entry.Pipeline{Mode: entry.Framed}, nil
	case "interop":
		return entry.Pipeline{Mode: entry.Interop}, nil
	}
	return entry.Pipeline{}, fmt.Errorf("--mode must be auto or interop, not %q", *pf.mode)
}

func cmdEncode(args []string, stdin io.Reader, out io.Writer) error {
	fs, pf := newPipelineFlags("encode")
	valueJSON := fs.String("value", "", "the value as tagged JSON")
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
	p, err := pf.pipeline()
	if err != nil {
		return err
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
	return printHex(out, stored)
}

func cmdDecode(args []string, stdin io.Reader, out io.Writer) error {
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
	p, err := pf.pipeline()
	if err != nil {
		return err
	}
	stored, err := (&input{r: stdin}).hexArg(pos[0])
	if err != nil {
		return err
	}
	doc, err := p.Open(*pf.key, stored)
	if err != nil {
		return err
	}
	var v any
	if p.Mode == entry.Interop {
		v, err = interop.DecodeValue(doc)
	} else {
		v, err = codec.Decode(doc)
	}
	if err != nil {
		return err
	}
	js, err := taggedjson.Format(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", js)
	return err
}

func cmdEnvelope(args []string, stdin io.Reader, out io.Writer) error {
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
