package cachekit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/internal/testenv"
	"github.com/cachekit-go/cachekit/secret"
)

// randomKey returns a fresh 32-byte master key and its hex form: random, so
// that no encoding of it can occur in an output by chance.
func randomKey(t *testing.T) ([]byte, secret.String) {
	t.Helper()
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k, secret.String(hex.EncodeToString(k))
}

// printedEveryWay renders each value with every fmt verb, through slog's text
// and JSON handlers, and as JSON.
func printedEveryWay(t *testing.T, values map[string]any) map[string]string {
	t.Helper()
	outs := map[string]string{}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
			outs[verb+" of "+name] = fmt.Sprintf(verb, v)
		}
		for hname, mk := range map[string]func(*bytes.Buffer) slog.Handler{
			"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
			"slog JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		} {
			var buf bytes.Buffer
			slog.New(mk(&buf)).Info("config", "value", v, slog.Any("any", v))
			outs[hname+" of "+name] = buf.String()
		}
		if js, err := json.Marshal(v); err == nil {
			outs["JSON of "+name] = string(js)
		}
	}
	return outs
}

// TestMasterKeyNeverPrints: the master keys never appear, in any encoding,
// in what an Encryption, a Cache or its encryption policy print with fmt,
// log through slog or marshal to JSON (issue 12, item 4).
func TestMasterKeyNeverPrints(t *testing.T) {
	t.Parallel()
	raw, key := randomKey(t)
	rawPrev, prev := randomKey(t)
	enc := Encryption{MasterKey: key, PreviousKeys: []secret.String{prev}, Tenant: "acme", FailClosed: true}
	c, err := New(WithBackend(memory.New(memory.Options{})), WithEncryption(enc), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	outs := printedEveryWay(t, map[string]any{
		"Encryption": enc, "*Encryption": &enc, "*Cache": c, "the cache's policy": c.enc,
	})
	js, err := json.Marshal(enc)
	if err != nil || !bytes.Contains(js, []byte(`"MasterKey":"[redacted]"`)) {
		t.Fatalf("JSON of Encryption: %s %v", js, err)
	}
	for where, out := range outs {
		for _, k := range [][]byte{raw, rawPrev, []byte(key.Reveal()), []byte(prev.Reveal())} {
			if enc := testenv.Leak(out, k); enc != "" {
				t.Fatalf("%s shows a master key (%s): %s", where, enc, out)
			}
		}
	}
	// The cache keeps no copy of the key strings once they are parsed.
	if c.cfg.enc.MasterKey != "" || c.cfg.enc.PreviousKeys != nil {
		t.Fatal("the cache's configuration still holds the key strings")
	}
}
