// Package doccheck checks the documentation (README.md and docs/*.md) as part
// of the test command: every relative link resolves (file and heading), and
// every Go code block compiles against the code of this repository.
//
// How a ```go block is compiled:
//
//   - a block that starts with "package" is a whole file and is type-checked
//     alone;
//   - any other block is a fragment: its leading import declarations are kept,
//     standard and cachekit packages it names but does not import are added
//     (see autoImports), and the rest is type-checked either as the body of a
//     function returning error or, when it does not parse as statements, as
//     top-level declarations. A fragment sees the names of docContext (ctx, c,
//     rdb, getUserFromDB, ...), the names the pages use without declaring
//     them.
//
// Unused variables and imports are allowed (a fragment shows a call without
// using its result); every other type error fails the check. A block preceded
// by the line "<!-- doccheck:skip <reason> -->" is not compiled; the reason is
// logged, so skips stay visible.
package doccheck

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, relative to this package.
const root = "../.."

// docContext declares the names documentation fragments use without
// declaring them. Keep it small and plain: it is what a reader is assumed to
// have in scope.
const docContext = `package doc

import (
	"context"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/backend/redis"
)

type User struct {
	ID   int64  ` + "`msgpack:\"id\"`" + `
	Name string ` + "`msgpack:\"name\"`" + `
}

type Config struct{ Flags map[string]bool }

type userStore struct{}

func (*userStore) Get(ctx context.Context, id int) (User, error) { return User{}, nil }

var (
	ctx      context.Context
	c        *cachekit.Cache
	rdb      *redis.Backend
	store    *userStore
	usStore  *userStore // one receiver per region (Receiver)
	euStore  *userStore
	getUser  *cachekit.Func1[int, User]
	key      string // a master key in hex
	oldKey   string
	uuid     string
)

func getUserFromDB(ctx context.Context, id int) (User, error)                 { return User{}, nil }
func getUserMap(ctx context.Context, id int) (map[string]any, error)           { return nil, nil }
func loadConfig(ctx context.Context) (Config, error)                            { return Config{}, nil }
func fetchPrices(ctx context.Context, symbol string) (map[string]float64, error) { return nil, nil }
func tenantFromContext(ctx context.Context) (string, error)                     { return "", nil }
func searchCatalog(ctx context.Context, query string, limit int, exact bool) ([]string, error) {
	return nil, nil
}
`

// autoImports are the packages a fragment may name without importing them.
var autoImports = map[string]string{
	"cachekit":   "github.com/cachekit-go/cachekit",
	"redis":      "github.com/cachekit-go/cachekit/backend/redis",
	"memcached":  "github.com/cachekit-go/cachekit/backend/memcached",
	"file":       "github.com/cachekit-go/cachekit/backend/file",
	"cachekitio": "github.com/cachekit-go/cachekit/backend/cachekitio",
	"memory":     "github.com/cachekit-go/cachekit/backend/memory",
	"backend":    "github.com/cachekit-go/cachekit/backend",
	"secret":     "github.com/cachekit-go/cachekit/secret",
	"context":    "context",
	"errors":     "errors",
	"fmt":        "fmt",
	"log":        "log",
	"os":         "os",
	"slog":       "log/slog",
	"time":       "time",
}

// block is one fenced code block of a page.
type block struct {
	page, lang, code string
	line             int    // of the opening fence
	skip             string // reason of a doccheck:skip marker
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

var skipMarker = regexp.MustCompile(`^<!--\s*doccheck:skip\s+(.+?)\s*-->$`)

// pages returns README.md and every page under docs/.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs pages: %v", err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

// parse splits a page into its fenced blocks and its prose (fences removed,
// so links in code are not checked).
func parse(t *testing.T, page string) (blocks []block, prose string) {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var (
		cur    *block
		body   strings.Builder
		text   strings.Builder
		marker string
	)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &block{page: page, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1, skip: marker}
			body.Reset()
		case cur != nil && trimmed == "```":
			cur.code = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		default:
			text.WriteString(line)
			text.WriteByte('\n')
			if m := skipMarker.FindStringSubmatch(trimmed); m != nil {
				marker = m[1]
			} else if trimmed != "" {
				marker = ""
			}
		}
	}
	if cur != nil {
		t.Fatalf("%s: unclosed code block", cur)
	}
	return blocks, text.String()
}

var (
	linkRe    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRe = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)
)

// slug is GitHub's anchor for a heading.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	_, prose := parse(t, page)
	m := map[string]bool{}
	for _, h := range headingRe.FindAllStringSubmatch(prose, -1) {
		m[slug(strings.ReplaceAll(h[1], "`", ""))] = true
	}
	return m
}

// TestRelativeLinks: every relative link of README.md and docs/ names a file
// or directory that exists, and a "#heading" part names a heading of the
// target page.
func TestRelativeLinks(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, page := range pages(t) {
		_, prose := parse(t, page)
		for _, m := range linkRe.FindAllStringSubmatch(prose, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			full := page
			if path != "" {
				full = filepath.Join(filepath.Dir(page), path)
				if _, err := os.Stat(full); err != nil {
					t.Errorf("%s: link %q: %v", page, target, err)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(full, ".md") && !anchors(t, full)[frag] {
				t.Errorf("%s: link %q: no heading #%s in %s", page, target, frag, full)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found: the link pattern is broken")
	}
}

// source is a Go file built from a block, with the module directory whose
// packages it needs.
type source struct {
	b       block
	file    string // the block as a Go file
	context bool   // compiled together with docContext
	imports []string
	own     map[string]bool // top-level names the fragment declares (they replace docContext's)
}

// importDecls matches the import declarations a fragment starts with.
var importDecls = regexp.MustCompile(`^\s*(?:import\s+(?:"[^"]+"|\w+\s+"[^"]+"|\((?s:[^)]*)\))\s*)+`)

// fragmentFile turns a fragment into a Go file of package doc.
func fragmentFile(b block) (source, error) {
	code := b.code
	head := importDecls.FindString(code)
	rest := code[len(head):]
	imported := map[string]string{} // local name -> path
	hf, err := parser.ParseFile(token.NewFileSet(), "", "package doc\n"+head, parser.ImportsOnly)
	if err != nil {
		return source{}, err
	}
	for _, is := range hf.Imports {
		path, _ := strconv.Unquote(is.Path.Value)
		name := path[strings.LastIndexByte(path, '/')+1:]
		if is.Name != nil {
			name = is.Name.Name
		}
		imported[name] = path
	}
	for name, path := range autoImports {
		if _, ok := imported[name]; ok {
			continue
		}
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(rest) {
			imported[name] = path
		}
	}
	var imp strings.Builder
	names := make([]string, 0, len(imported))
	for n := range imported {
		names = append(names, n)
	}
	sort.Strings(names)
	s := source{b: b, context: true}
	for _, n := range names {
		fmt.Fprintf(&imp, "import %s %q\n", n, imported[n])
		s.imports = append(s.imports, imported[n])
	}
	// The fragment's own lines keep their numbers in error messages.
	pad := strings.Repeat("\n", strings.Count(head, "\n"))
	asBody := "package doc\n" + imp.String() + "func _() error {\n" + pad + rest + "\nreturn nil\n}\n"
	if _, err := parser.ParseFile(token.NewFileSet(), "", asBody, 0); err == nil {
		s.file = asBody
		return s, nil
	}
	asDecls := "package doc\n" + imp.String() + pad + rest
	f, err := parser.ParseFile(token.NewFileSet(), "", asDecls, 0)
	if err != nil {
		return s, fmt.Errorf("neither statements nor declarations: %w", err)
	}
	s.file = asDecls
	s.own = map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				s.own[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, sp := range d.Specs {
				switch sp := sp.(type) {
				case *ast.TypeSpec:
					s.own[sp.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						s.own[n.Name] = true
					}
				}
			}
		}
	}
	return s, nil
}

// wholeFile takes a block that is a complete Go file.
func wholeFile(b block) (source, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", b.code, parser.ImportsOnly)
	if err != nil {
		return source{}, err
	}
	s := source{b: b, file: b.code}
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		s.imports = append(s.imports, p)
	}
	return s, nil
}

// moduleDir returns the directory of the module that can build imports: the
// innermost nested module whose path prefixes one of them, else the root.
func moduleDir(t *testing.T, imports []string) string {
	t.Helper()
	best, bestPath := root, ""
	mods, _ := filepath.Glob(filepath.Join(root, "*", "*", "go.mod"))
	for _, gomod := range mods {
		data, err := os.ReadFile(gomod)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(data)
		if m == nil {
			continue
		}
		for _, p := range imports {
			if (p == string(m[1]) || strings.HasPrefix(p, string(m[1])+"/")) && len(m[1]) > len(bestPath) {
				best, bestPath = filepath.Dir(gomod), string(m[1])
			}
		}
	}
	return best
}

// exportData compiles the packages and their dependencies in dir and
// returns where the export data of each one is.
func exportData(t *testing.T, dir string, pkgs []string) map[string]string {
	t.Helper()
	args := append([]string{"list", "-e", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{if .Error}}{{.Error}}{{end}}"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) >= 2 && f[1] != "" {
			m[f[0]] = f[1]
		}
	}
	return m
}

// TestGoBlocksCompile type-checks every Go block of README.md and docs/.
func TestGoBlocksCompile(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed to compile the documentation's code")
	}
	var srcs []source
	skipped := 0
	for _, page := range pages(t) {
		blocks, _ := parse(t, page)
		for _, b := range blocks {
			if b.lang != "go" {
				continue
			}
			if b.skip != "" {
				skipped++
				t.Logf("%s: not compiled: %s", b, b.skip)
				continue
			}
			var (
				s   source
				err error
			)
			if strings.HasPrefix(strings.TrimSpace(b.code), "package ") {
				s, err = wholeFile(b)
			} else {
				s, err = fragmentFile(b)
			}
			if err != nil {
				t.Errorf("%s: %v", b, err)
				continue
			}
			srcs = append(srcs, s)
		}
	}
	if len(srcs) < 10 {
		t.Fatalf("only %d Go blocks found", len(srcs))
	}
	// Group by module, so each module compiles its packages once.
	byDir := map[string][]*source{}
	for i := range srcs {
		imports := srcs[i].imports
		if srcs[i].context {
			imports = append(imports, "context", autoImports["cachekit"], autoImports["redis"])
		}
		dir := moduleDir(t, imports)
		byDir[dir] = append(byDir[dir], &srcs[i])
	}
	for dir, group := range byDir {
		need := map[string]bool{"context": true, autoImports["cachekit"]: true, autoImports["redis"]: true}
		for _, s := range group {
			for _, p := range s.imports {
				need[p] = true
			}
		}
		pkgs := make([]string, 0, len(need))
		for p := range need {
			pkgs = append(pkgs, p)
		}
		sort.Strings(pkgs)
		exports := exportData(t, dir, pkgs)
		for _, s := range group {
			if err := typeCheck(s, exports); err != nil {
				t.Errorf("%s does not compile:\n%v", s.b, err)
			}
		}
	}
	t.Logf("%d Go blocks compiled, %d skipped by marker", len(srcs), skipped)
}

// typeCheck type-checks one block, ignoring soft errors (unused variables
// and imports).
func typeCheck(s *source, exports map[string]string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, s.b.page+" block", s.file, 0)
	if err != nil {
		return err
	}
	files := []*ast.File{f}
	if s.context {
		cf, err := parser.ParseFile(fset, "docContext", docContext, 0)
		if err != nil {
			return err
		}
		dropDecls(cf, s.own)
		files = append(files, cf)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		p, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q (not buildable from this module?)", path)
		}
		return os.Open(p)
	})
	var errs []error
	conf := types.Config{Importer: imp, Error: func(err error) {
		var te types.Error
		if errors.As(err, &te) && te.Soft {
			return
		}
		errs = append(errs, err)
	}}
	_, _ = conf.Check(f.Name.Name, fset, files, nil)
	return errors.Join(errs...)
}

// dropDecls removes from f the top-level declarations of the given names.
func dropDecls(f *ast.File, names map[string]bool) {
	decls := f.Decls[:0]
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && names[d.Name.Name] {
				continue
			}
		case *ast.GenDecl:
			specs := d.Specs[:0]
			for _, sp := range d.Specs {
				switch sp := sp.(type) {
				case *ast.TypeSpec:
					if names[sp.Name.Name] {
						continue
					}
				case *ast.ValueSpec:
					kept := sp.Names[:0]
					for _, n := range sp.Names {
						if !names[n.Name] {
							kept = append(kept, n)
						}
					}
					if sp.Names = kept; len(kept) == 0 {
						continue
					}
				}
				specs = append(specs, sp)
			}
			if d.Specs = specs; len(specs) == 0 && d.Tok != token.IMPORT {
				continue
			}
		}
		decls = append(decls, d)
	}
	f.Decls = decls
}

// The checker itself: a fragment with a type error, a wrong signature or an
// unknown option fails; one with only unused results passes.
func TestCheckerCatchesErrors(t *testing.T) {
	t.Parallel()
	exports := exportData(t, root, []string{"context", autoImports["cachekit"], autoImports["redis"], "time"})
	for code, ok := range map[string]bool{
		"u, err := getUser.Call(ctx, 42)\n":                                      true,
		"u, err := getUser.Call(ctx, \"42\")\n":                                  false,
		"c, err := cachekit.New(cachekit.WithNoSuchOption())\n":                  false,
		"f := cachekit.MustWrap1(c, getUserFromDB, cachekit.TTL(time.Minute))\n": true,
		"func getUserFromDB(ctx context.Context) int { return 1 }\n":             true,
		"func helper() int { return \"x\" }\n":                                   false,
	} {
		s, err := fragmentFile(block{page: "self-test", code: code})
		if err == nil {
			err = typeCheck(&s, exports)
		}
		if (err == nil) != ok {
			t.Errorf("%q: compiled=%v, want %v (%v)", code, err == nil, ok, err)
		}
	}
}
