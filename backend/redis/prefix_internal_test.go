package redis

import "testing"

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"ns:app:func:f:args:", "ns:app:func:f:args:"},
		{"a*b", `a\*b`},
		{"a?b", `a\?b`},
		{"[ab]", `\[ab\]`},
		{`a\b`, `a\\b`},
		{`\*`, `\\\*`},
		{"{tag}:^$.%_-", "{tag}:^$.%_-"}, // not special to Redis globs
		{"ü*", `ü\*`},                    // multi-byte UTF-8 passes through
	}
	for _, tc := range tests {
		if got := globEscape(tc.in); got != tc.want {
			t.Errorf("globEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
