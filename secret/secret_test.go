package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cachekit-go/cachekit/secret"
)

// TestNeverPrints prints a String, alone and inside a struct, every way the
// standard library can, and finds the value in none of the outputs.
func TestNeverPrints(t *testing.T) {
	const value = "hunter2-a-very-secret-value"
	s := secret.String(value)
	type config struct {
		Name string
		Key  secret.String
		Keys []secret.String
		Ptr  *secret.String
	}
	cfg := config{Name: "n", Key: s, Keys: []secret.String{s, s}, Ptr: &s}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, []secret.String{s}))
	}
	outs = append(outs, fmt.Sprint(s, cfg), fmt.Sprintln(s, cfg))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("msg", "key", s, "cfg", cfg, slog.Any("any", s), slog.Group("g", "k", s))
	}
	outs = append(outs, buf.String())
	for _, v := range []any{s, cfg, &cfg, map[string]secret.String{"k": s}} {
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(js))
	}
	txt, _ := s.MarshalText()
	outs = append(outs, string(txt))
	for _, out := range outs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) || strings.Contains(out, fmt.Sprintf("%X", value)) {
			t.Fatalf("output shows the secret: %s", out)
		}
	}
	if !strings.Contains(buf.String(), secret.Redacted) {
		t.Fatalf("slog output %q does not say it redacted", buf.String())
	}
	if s.Reveal() != value || string(s) != value || s.IsZero() || !secret.String("").IsZero() {
		t.Fatal("the value itself must stay usable")
	}
}

// Example shows the value redacted in print and revealed where it is used.
func Example() {
	key := secret.String("6a9f...hex")
	fmt.Printf("%v %+v %q\n", key, struct{ Key secret.String }{key}, key)
	fmt.Println(len(key.Reveal()))
	// Output:
	// [redacted] {Key:[redacted]} [redacted]
	// 10
}
