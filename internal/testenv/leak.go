package testenv

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Leak reports how out contains secret, if it does: the encoding found
// ("raw", "hex", "HEX", "base64", "base64url", "raw base64", "raw base64url",
// "%v bytes", "%#v bytes") or "" when none of them occurs. Tests scan
// everything a value prints (fmt, slog, JSON) for a key with it. Secrets
// must be long and random enough that no encoding occurs by chance.
func Leak(out string, secret []byte) string {
	forms := []struct{ name, s string }{
		{"raw", string(secret)},
		{"hex", hex.EncodeToString(secret)},
		{"HEX", strings.ToUpper(hex.EncodeToString(secret))},
		{"base64", base64.StdEncoding.EncodeToString(secret)},
		{"base64url", base64.URLEncoding.EncodeToString(secret)},
		{"raw base64", base64.RawStdEncoding.EncodeToString(secret)},
		{"raw base64url", base64.RawURLEncoding.EncodeToString(secret)},
		{"%v bytes", strings.Trim(fmt.Sprint(secret), "[]")},
		{"%#v bytes", strings.Trim(fmt.Sprintf("%#v", secret), "[]byte{}")},
	}
	for _, f := range forms {
		// A prefix of the encoding is enough to call it a leak (an output
		// may cut or wrap it); 16 characters never occur by chance.
		probe := f.s
		if len(probe) > 16 {
			probe = probe[:16]
		}
		if strings.Contains(out, probe) {
			return f.name
		}
	}
	return ""
}
