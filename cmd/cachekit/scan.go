package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cachekit-go/cachekit/backend"
)

// scanEntryTimeout bounds the read of one listed entry.
const scanEntryTimeout = 5 * time.Second

// cmdScan lists the entries whose key matches --match (a glob: * any
// sequence, ? one character, [abc] a class, \ escapes), one line each on
// standard output: key, stored size, TTL and shape. Progress goes to
// standard error: a bar on a terminal, a plain line per batch otherwise
// (--progress bar|lines|none overrides).
func cmdScan(args []string, _ io.Reader, out, errOut io.Writer) error {
	fs := newFlags("scan")
	backendURL := backendFlag(fs)
	match := fs.String("match", "*", "glob the keys must match")
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or none")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noPositionals(pos); err != nil {
		return err
	}
	if err := required(fs, "backend"); err != nil {
		return err
	}
	re, err := globRegexp(*match)
	if err != nil {
		return err
	}
	mode := *progress
	switch mode {
	case "auto":
		mode = "lines"
		if isTerminal(errOut) {
			mode = "bar"
		}
	case "bar", "lines", "none":
	default:
		return fmt.Errorf("--progress must be auto, bar, lines or none, not %q", mode)
	}
	b, closeBackend, err := openBackend(*backendURL)
	if err != nil {
		return err
	}
	defer closeBackend()
	lister, ok := b.(backend.KeyLister)
	if !ok {
		return fmt.Errorf("this backend cannot list its keys (%s); use get with a known key", whyNoListing(*backendURL))
	}
	ctx := context.Background()
	total, err := lister.KeyCount(ctx)
	if err != nil {
		return err
	}
	p := &progressMeter{w: errOut, mode: mode, total: total}
	getter, _ := b.(backend.TTLGetter)
	err = lister.ListKeys(ctx, func(examined int, keys []string) error {
		for _, k := range keys {
			if !re.MatchString(k) {
				continue
			}
			line, found, err := describeEntry(ctx, b, getter, k)
			if err != nil {
				return err
			}
			if found {
				p.matched++
				p.clear()
				fmt.Fprintln(out, line)
			}
		}
		p.add(examined)
		return nil
	})
	p.done()
	return err
}

// describeEntry reads key and returns its line: key, size, TTL, shape.
func describeEntry(ctx context.Context, b backend.Backend, getter backend.TTLGetter, key string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, scanEntryTimeout)
	defer cancel()
	var (
		stored []byte
		found  bool
		ttl    string
		err    error
	)
	if getter != nil {
		var rem time.Duration
		stored, rem, found, err = getter.GetWithTTL(ctx, key)
		ttl = "no expiry"
		if rem > 0 {
			ttl = rem.Round(time.Millisecond).String()
		}
	} else {
		stored, found, err = b.Get(ctx, key)
		if err == nil && found {
			ttl = describeTTL(ctx, b, key)
		}
	}
	if err != nil || !found { // a key that vanished meanwhile is skipped
		return "", false, err
	}
	return fmt.Sprintf("%s\t%d bytes\tttl %s\t%s", key, len(stored), ttl, describeShape(stored)), true, nil
}

// whyNoListing says why a backend kind cannot list its keys.
func whyNoListing(url string) string {
	scheme, _, _ := strings.Cut(strings.ToLower(url), "://")
	switch scheme {
	case "file":
		return "file names are hashes of the keys, and the files do not hold them"
	case "memcached":
		return "memcached has no key listing"
	case "https":
		return "the CacheKit API has no key listing"
	}
	return "it does not implement backend.KeyLister"
}

// globRegexp compiles a Redis-style glob into an anchored regexp.
func globRegexp(glob string) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString(`^`)
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			sb.WriteString(`.*`)
		case '?':
			sb.WriteString(`.`)
		case '\\':
			if i+1 < len(glob) {
				i++
				sb.WriteString(regexp.QuoteMeta(glob[i : i+1]))
			}
		case '[':
			end := strings.IndexByte(glob[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("--match %q: unclosed [", glob)
			}
			class := glob[i+1 : i+end]
			if strings.HasPrefix(class, "^") {
				class = "^" + strings.ReplaceAll(class[1:], `\`, `\\`)
			} else {
				class = strings.ReplaceAll(class, `\`, `\\`)
			}
			sb.WriteString("[" + class + "]")
			i += end
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	sb.WriteString(`$`)
	re, err := regexp.Compile(sb.String())
	if err != nil {
		return nil, fmt.Errorf("--match %q: %w", glob, errors.Unwrap(err))
	}
	return re, nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressMeter reports a scan's progress: keys examined of the store's
// total, and entries matched.
type progressMeter struct {
	w        io.Writer
	mode     string // bar, lines, none
	total    int64
	examined int64
	matched  int
	drawn    bool
	lastLine time.Time
}

const barWidth = 30

func (p *progressMeter) add(n int) {
	p.examined += int64(n)
	switch p.mode {
	case "bar":
		frac := 1.0
		if p.total > 0 {
			frac = min(float64(p.examined)/float64(p.total), 1)
		}
		fill := int(frac * barWidth)
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d keys examined, %d matched",
			strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), frac*100, p.examined, p.total, p.matched)
		p.drawn = true
	case "lines":
		if time.Since(p.lastLine) >= time.Second || p.lastLine.IsZero() {
			fmt.Fprintf(p.w, "scan: %d/%d keys examined, %d matched\n", p.examined, p.total, p.matched)
			p.lastLine = time.Now()
		}
	}
}

// clear removes the bar before an entry line is printed (stdout and
// stderr share a terminal).
func (p *progressMeter) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progressMeter) done() {
	if p.mode == "none" {
		return
	}
	p.clear()
	fmt.Fprintf(p.w, "scan: done, %d keys examined, %d matched\n", p.examined, p.matched)
}
