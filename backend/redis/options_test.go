package redis_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/redis"
)

// secret is the password in every test URL; no error or String may show it.
const secret = "s3cr3t-Pw"

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want redis.Options
		tls  bool
	}{
		{"redis://localhost", redis.Options{Addrs: []string{"localhost:6379"}}, false},
		{"redis://", redis.Options{Addrs: []string{"localhost:6379"}}, false},
		{"redis://127.0.0.1:7000/3", redis.Options{Addrs: []string{"127.0.0.1:7000"}, DB: 3}, false},
		{"redis://h?db=2", redis.Options{Addrs: []string{"h:6379"}, DB: 2}, false},
		{"REDIS://h/", redis.Options{Addrs: []string{"h:6379"}}, false},
		{"redis://alice:" + secret + "@h:1", redis.Options{Addrs: []string{"h:1"}, Username: "alice", Password: secret}, false},
		{"redis://:" + secret + "@h", redis.Options{Addrs: []string{"h:6379"}, Password: secret}, false},
		{"redis://bob@h", redis.Options{Addrs: []string{"h:6379"}, Username: "bob"}, false},
		{"redis://u:p%40ss%3Aw%2Fd@h", redis.Options{Addrs: []string{"h:6379"}, Username: "u", Password: "p@ss:w/d"}, false},
		{"redis://u:p@ss@h", redis.Options{Addrs: []string{"h:6379"}, Username: "u", Password: "p@ss"}, false}, // last @ ends the user info
		{"redis://[::1]:7000", redis.Options{Addrs: []string{"[::1]:7000"}}, false},
		{"redis://[::1]", redis.Options{Addrs: []string{"[::1]:6379"}}, false},
		{"rediss://u:" + secret + "@cache.example.com:6380/1", redis.Options{Addrs: []string{"cache.example.com:6380"}, Username: "u", Password: secret, DB: 1}, true},
		{"redis://a:1,b:2,c", redis.Options{Addrs: []string{"a:1", "b:2", "c:6379"}}, false},
		{"redis://a:1?addr=b:2&addr=c:3", redis.Options{Addrs: []string{"a:1", "b:2", "c:3"}}, false},
		{"redis://a:1?cluster=true", redis.Options{Addrs: []string{"a:1"}, Mode: redis.ModeCluster}, false},
		{"redis://a:1?cluster=false", redis.Options{Addrs: []string{"a:1"}, Mode: redis.ModeStandalone}, false},
		{"redis://:" + secret + "@s1,s2:26380/2?master_set=mymaster&sentinel_password=sp",
			redis.Options{Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", Password: secret, SentinelPassword: "sp", DB: 2}, false},
		{"redis://h?timeout=250ms&dial_timeout=2s&key_prefix=t:default:&client_name=app&reference_lock_keys=true&sentinel_username=su",
			redis.Options{Addrs: []string{"h:6379"}, Timeout: 250 * time.Millisecond, DialTimeout: 2 * time.Second,
				KeyPrefix: "t:default:", ClientName: "app", ReferenceLockKeys: true, SentinelUsername: "su"}, false},
		{"redis://h#fragment", redis.Options{Addrs: []string{"h:6379"}}, false},
		{"redis://h?conn_timeout=750ms", redis.Options{Addrs: []string{"h:6379"}, ConnTimeout: 750 * time.Millisecond}, false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			got, err := redis.ParseURL(tc.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if (got.TLSConfig != nil) != tc.tls {
				t.Fatalf("TLSConfig = %v, want TLS %v", got.TLSConfig, tc.tls)
			}
			if tc.tls {
				host, _, _ := net.SplitHostPort(got.Addrs[0])
				if got.TLSConfig.ServerName != host || got.TLSConfig.InsecureSkipVerify {
					t.Errorf("TLS ServerName %q (want %q), skip verify %v", got.TLSConfig.ServerName, host, got.TLSConfig.InsecureSkipVerify)
				}
			}
			got.TLSConfig = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseURL = %+v,\nwant %+v", fields(got), fields(tc.want))
			}
		})
	}
}

// fields prints Options with all fields (String hides passwords on purpose).
func fields(o redis.Options) string {
	type plain redis.Options
	return fmt.Sprintf("%+v", plain(o))
}

func TestParseURLSkipVerify(t *testing.T) {
	t.Parallel()
	o, err := redis.ParseURL("rediss://h?skip_verify=true")
	if err != nil || o.TLSConfig == nil || !o.TLSConfig.InsecureSkipVerify {
		t.Fatalf("ParseURL(skip_verify=true) = %+v, %v", o.TLSConfig, err)
	}
}

func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, wantMsg string }{
		{"localhost:6379", "missing scheme"},
		{"http://:" + secret + "@h", "unsupported scheme"},
		{secret + "://h", "unsupported scheme"},
		{"redis://u:" + secret + "@h:notaport", "port must be"},
		{"redis://u:" + secret + "@h:0", "port must be"},
		{"redis://u:" + secret + "@h:65536", "port must be"},
		{"redis://u:" + secret + "%zz@h", "percent-encoding in the password"},
		{"redis://u%zz:" + secret + "@h", "percent-encoding in the user name"},
		{"redis://u:" + secret + "@h/x", "database must be"},
		{"redis://u:" + secret + "@h/-1", "database must be"},
		{"redis://u:" + secret + "@h/1/2", "path must be"},
		{"redis://u:" + secret + "@h/1?db=2", "both in the path"},
		{"redis://u:" + secret + "@h?db=x", "database must be"},
		{"redis://u:" + secret + "@h?bogus=1", `unknown parameter "bogus"`},
		{"redis://u:" + secret + "@h?timeout=5", "timeout must be"},
		{"redis://u:" + secret + "@h?timeout=-1s", "timeout must be"},
		{"redis://h?conn_timeout=soon", "conn_timeout must be"},
		{"redis://u:" + secret + "@h?db=1&db=2", "more than once"},
		{"redis://u:" + secret + "@h?cluster=maybe", "cluster must be"},
		{"redis://u:" + secret + "@a,b?cluster=false", "cluster=false with several"},
		{"redis://u:" + secret + "@a?cluster=true&master_set=m", "exclude each other"},
		{"redis://u:" + secret + "@a,b/1", "only database 0"},
		{"redis://u:" + secret + "@a?master_set=", "master_set is empty"},
		{"redis://u:" + secret + "@a?skip_verify=true", "needs a rediss"},
		{"rediss://u:" + secret + "@a?skip_verify=perhaps", "skip_verify must be"},
		{"redis://u:" + secret + "@a?reference_lock_keys=2", "reference_lock_keys must be"},
		{"redis://u:" + secret + "@a,,b", "empty host"},
		{"redis://u:" + secret + "@::1", "IPv6 addresses must be in brackets"},
		{"redis://u:" + secret + "@[::1", "malformed host:port"},
		{"redis://u:" + secret + "@h%41", "malformed host"},
		{"redis://u:" + secret + "@h?%zz", "malformed query"},
		{"redis://u:" + secret + " @h", "spaces or control"},
		{"redis://u:" + secret + "@h\n", "spaces or control"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			o, err := redis.ParseURL(tc.url)
			if err == nil {
				t.Fatalf("ParseURL succeeded with %v, want an error", o)
			}
			if !errors.Is(err, redis.ErrInvalidURL) {
				t.Errorf("error %v does not match ErrInvalidURL", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q reveals the password", err)
			}
			if !reflect.DeepEqual(o, redis.Options{}) {
				t.Errorf("failed ParseURL returned non-zero Options %v", o)
			}
		})
	}
}

func TestOptionsStringHidesSecrets(t *testing.T) {
	t.Parallel()
	o := redis.Options{Addrs: []string{"h:1"}, Username: "u", Password: secret, SentinelPassword: secret + "2", MasterName: "m"}
	for _, s := range []string{o.String(), fmt.Sprintf("%v", o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), o.LogValue().String()} {
		if strings.Contains(s, secret) {
			t.Errorf("%q reveals a password", s)
		}
		if !strings.Contains(s, "[redacted]") || !strings.Contains(s, `"m"`) || !strings.Contains(s, "sentinel") {
			t.Errorf("%q lacks the redaction marker, master name or mode", s)
		}
	}
	// Verbs that bypass String (%d prints the fields) and encoders: the
	// password fields are secret.String, which redacts itself.
	js, err := json.Marshal(struct{ Password, SentinelPassword any }{o.Password, o.SentinelPassword})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "opts", o, "password", o.Password)
	outs := []string{fmt.Sprintf("%v", o.Password), string(js), buf.String()}
	for _, verb := range []string{"%d", "%x", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, o))
	}
	for _, s := range outs {
		if strings.Contains(s, secret) || strings.Contains(s, hex.EncodeToString([]byte(secret))) {
			t.Errorf("%q reveals a password", s)
		}
	}
}

func TestNewRejectsInconsistentOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []redis.Options{
		{Mode: redis.ModeStandalone, Addrs: []string{"a:1", "b:2"}},
		{Mode: redis.ModeCluster, Addrs: []string{"a:1"}, DB: 1},
		{Mode: redis.ModeSentinel, Addrs: []string{"a:1"}},
		{Mode: "ring", Addrs: []string{"a:1"}},
		{DB: -1, Addrs: []string{"a:1"}},
	} {
		if b, err := redis.New(o); !errors.Is(err, redis.ErrInvalidOptions) {
			if b != nil {
				b.Close()
			}
			t.Errorf("New(%v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// FuzzParseURL: any input gives Options or an ErrInvalidURL error, never a
// panic; parsed addresses are always host:port.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://localhost", "rediss://u:p@h:6380/1?skip_verify=true", "redis://a:1,b:2?cluster=true",
		"redis://:p@s1,s2/0?master_set=m", "redis://[::1]:1", "redis://u:p@ss@h", "redis://h?addr=x:1&addr=[::2]",
		"redis://%zz@h", "redis://h/1/2", "x", "", "redis://,", "redis://@", "redis://[", "redis://h?key_prefix=%7B",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := redis.ParseURL(s)
		if err != nil {
			if !errors.Is(err, redis.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalidURL", s, err)
			}
			return
		}
		if len(o.Addrs) == 0 {
			t.Fatalf("ParseURL(%q) gave no address", s)
		}
		for _, a := range o.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("ParseURL(%q) gave address %q: %v", s, a, err)
			}
		}
	})
}
