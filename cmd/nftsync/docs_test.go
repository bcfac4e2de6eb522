package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/jobs"
)

// repoRoot is the module root seen from this package's directory, where
// `go test` runs its tests.
const repoRoot = "../.."

// docLine is one line of a Markdown file with what the checks need: the
// whole text and the parts that are code (inline code spans and fenced
// blocks), where commands, targets and paths are named.
type docLine struct {
	file string   // relative to the module root, e.g. docs/api.md
	n    int      // 1-based line number
	text string   // with Markdown's escaped pipes (\|) unescaped
	raw  string   // as written, for table cells
	code []string // code spans and fenced lines, pipes unescaped
}

func (l docLine) where() string { return fmt.Sprintf("%s:%d", l.file, l.n) }

// docFiles is README.md and every docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, more, "docs/*.md")
	for _, f := range more {
		files = append(files, filepath.ToSlash(strings.TrimPrefix(f, repoRoot+string(filepath.Separator))))
	}
	return files
}

// readDoc splits a Markdown file into lines and marks what is code. A
// backtick outside a fenced block opens or closes an inline code span,
// which may continue on the next line.
func readDoc(t *testing.T, file string) []docLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	require.NoError(t, err)
	return parseDoc(file, string(b))
}

// parseDoc is readDoc of the given content.
func parseDoc(file, content string) []docLine {
	var out []docLine
	fenced, inline := false, false
	for i, text := range strings.Split(content, "\n") {
		l := docLine{file: file, n: i + 1, text: strings.ReplaceAll(text, `\|`, "|"), raw: text}
		if strings.HasPrefix(strings.TrimSpace(text), "```") {
			fenced = !fenced
			out = append(out, l)
			continue
		}
		if fenced {
			l.code = []string{l.text}
			out = append(out, l)
			continue
		}
		parts := strings.Split(l.text, "`")
		for j, p := range parts {
			if j > 0 {
				inline = !inline
			}
			if inline && p != "" {
				l.code = append(l.code, p)
			}
		}
		out = append(out, l)
	}
	return out
}

// allDocLines reads every documentation file.
func allDocLines(t *testing.T) []docLine {
	t.Helper()
	var all []docLine
	for _, f := range docFiles(t) {
		all = append(all, readDoc(t, f)...)
	}
	return all
}

// TestDocs keeps every statement of README.md and docs/*.md that names a
// command, a make target, an environment variable, a queue, a test or
// benchmark, a repository path or another document true, and the generated
// regions well-formed. Each failure names the file and line.
func TestDocs(t *testing.T) {
	t.Parallel()
	lines := allDocLines(t)

	t.Run("ConfigTable", func(t *testing.T) { t.Parallel(); report(t, checkConfigTable(t)) })
	t.Run("Variables", func(t *testing.T) { t.Parallel(); report(t, checkVariables(t, lines)) })
	t.Run("Commands", func(t *testing.T) { t.Parallel(); report(t, checkCommands(t, lines)) })
	t.Run("MakeTargets", func(t *testing.T) { t.Parallel(); report(t, checkMakeTargets(t, lines)) })
	t.Run("Queues", func(t *testing.T) { t.Parallel(); report(t, checkQueues(t, lines)) })
	t.Run("TestsAndBenchmarks", func(t *testing.T) { t.Parallel(); report(t, checkTestNames(t, lines)) })
	t.Run("Paths", func(t *testing.T) { t.Parallel(); report(t, checkPaths(t, lines)) })
	t.Run("Links", func(t *testing.T) { t.Parallel(); report(t, checkLinks(t, lines)) })
	t.Run("GeneratedRegions", func(t *testing.T) { t.Parallel(); report(t, checkRegions(t, lines)) })
}

// report fails t with every problem, one line each.
func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// TestDocsCatchDrift feeds the checks a document that names what does not
// exist and requires each check to say so, with the file and line.
func TestDocsCatchDrift(t *testing.T) {
	t.Parallel()
	lines := parseDoc("docs/drift.md", strings.Join([]string{
		"Run `nftsync frobnicate`, `nftsync collections fly` and `make deploy`.",
		"Set `NFTSYNC_NO_SUCH` and `NFTSYNC_SUBGRAPH_<NAME>_COLOUR` (queue `no_queue`).",
		"See [a](missing.md), [b](architecture.md#nowhere), `BenchmarkNope` and `internal/nowhere/x.go`.",
		"<!-- BEGIN GENERATED: config (make generate; do not edit) -->",
		"<!-- END GENERATED: queues -->",
		"<!-- BEGIN GENERATED: colours (make generate; do not edit) -->",
	}, "\n"))
	for _, tc := range []struct {
		name  string
		check func(*testing.T, []docLine) []string
		want  []string
	}{
		{"Commands", checkCommands, []string{"docs/drift.md:1: `nftsync frobnicate` is not a command", "docs/drift.md:1: `nftsync collections fly` is not a command"}},
		{"MakeTargets", checkMakeTargets, []string{"docs/drift.md:1: `make deploy` is not a Makefile target"}},
		{"Variables", checkVariables, []string{"docs/drift.md:2: NFTSYNC_NO_SUCH is not a variable", "docs/drift.md:2: NFTSYNC_SUBGRAPH_<NAME>_COLOUR is not a variable"}},
		{"Queues", checkQueues, []string{`docs/drift.md:2: "no_queue" is named as a queue`}},
		{"Links", checkLinks, []string{"docs/drift.md:3: link missing.md", "docs/drift.md:3: link architecture.md#nowhere"}},
		{"TestsAndBenchmarks", checkTestNames, []string{"docs/drift.md:3: BenchmarkNope is not a test"}},
		{"Paths", checkPaths, []string{"docs/drift.md:3: internal/nowhere/x.go does not exist"}},
		{"GeneratedRegions", checkRegions, []string{"docs/drift.md:5: END of region queues without its BEGIN", `docs/drift.md:6: unknown generated region "colours"`, "docs/drift.md:6: region colours opened there is not closed"}},
	} {
		problems := strings.Join(tc.check(t, lines), "\n")
		for _, w := range tc.want {
			require.Contains(t, problems, w, tc.name)
		}
	}
}

// documentedVars is the program's table of variables (config.go,
// config_subgraph.go), which the config region renders.
func documentedVars() []envVar {
	return append(append(append([]envVar(nil), envVars...), catalogEnvVars()...), subgraphEnvVars...)
}

// checkConfigTable compares the `config` region of docs/configuration.md
// with the program's table row by row, and the table with the variables
// config.go actually reads.
func checkConfigTable(t *testing.T) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	const file = "docs/configuration.md"
	region, at := generatedRegion(t, file, "config")
	rows := map[string]envVar{}
	rowAt := map[string]int{}
	for i, line := range region {
		cells := tableCells(line)
		if len(cells) != 3 || !strings.HasPrefix(cells[0], "`") {
			continue
		}
		for j := range cells {
			cells[j] = strings.ReplaceAll(cells[j], `\|`, "|")
		}
		name := strings.Trim(cells[0], "`")
		if _, dup := rows[name]; dup {
			bad("%s:%d: %s is listed twice", file, at+i, name)
		}
		rows[name] = envVar{Name: name, Default: strings.Trim(cells[1], "`"), Meaning: cells[2]}
		rowAt[name] = at + i
	}
	for _, v := range documentedVars() {
		row, ok := rows[v.Name]
		if !ok {
			bad("%s:%d: the config table lacks %s (run make generate)", file, at, v.Name)
			continue
		}
		if row.Default != v.Default || row.Meaning != v.Meaning {
			bad("%s:%d: the row of %s differs from cmd/nftsync's table (run make generate):\n doc:  %q %q\n code: %q %q",
				file, rowAt[v.Name], v.Name, row.Default, row.Meaning, v.Default, v.Meaning)
		}
		delete(rows, v.Name)
	}
	for name := range rows {
		bad("%s:%d: the config table lists %s, which the program does not read", file, rowAt[name], name)
	}

	// Every NFTSYNC_ variable config.go reads is in the program's table.
	var src []byte
	for _, f := range []string{"config.go", "config_subgraph.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		src = append(src, b...)
	}
	for _, field := range strings.FieldsFunc(string(src), func(r rune) bool { return r == '"' }) {
		if strings.HasPrefix(field, "NFTSYNC_") && !strings.HasSuffix(field, "_") && !strings.Contains(field, " ") {
			if !slices.ContainsFunc(documentedVars(), func(v envVar) bool { return v.Name == field }) {
				bad("cmd/nftsync/config.go: %s is read but missing from envVars, so %s cannot list it", field, file)
			}
		}
	}
	return problems
}

// testOnlyVars are variables the test and benchmark harnesses read, not the
// program: they are not in the configuration table.
var testOnlyVars = []string{"NFTSYNC_BENCH_SIZE", "NFTSYNC_TEST_ARTIFACTS"}

var varRE = regexp.MustCompile(`NFTSYNC_[A-Z0-9_<>*]*`)

// placeholderRE matches a <NAME> placeholder in a variable name.
var placeholderRE = regexp.MustCompile(`<[A-Z]+>`)

// checkVariables: every NFTSYNC_ variable the docs name is in the
// configuration table. NFTSYNC_SIM_* and NFTSYNC_WORKERS_ name families (a
// prefix of some variable); NFTSYNC_SUBGRAPH_SEAPORT_URL is an instance of
// NFTSYNC_SUBGRAPH_<NAME>_URL and NFTSYNC_WORKERS_<QUEUE> a pattern.
func checkVariables(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var names []string
	for _, v := range documentedVars() {
		names = append(names, v.Name)
	}
	go2 := goSources(t)
	for _, v := range testOnlyVars {
		require.Contains(t, go2, `"`+v+`"`, "%s is listed as read by the tests but no Go file names it", v)
	}
	names = append(names, testOnlyVars...)
	known := func(name string) bool {
		if slices.Contains(names, name) {
			return true
		}
		if prefix, ok := strings.CutSuffix(name, "*"); ok {
			return slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix) })
		}
		if strings.HasSuffix(name, "_") {
			return slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, name) })
		}
		asPattern := func(s string) *regexp.Regexp {
			return regexp.MustCompile("^" + placeholderRE.ReplaceAllString(regexp.QuoteMeta(s), `[A-Z0-9_<>]+`) + "$")
		}
		if strings.Contains(name, "<") && slices.ContainsFunc(names, asPattern(name).MatchString) {
			return true
		}
		return slices.ContainsFunc(names, func(n string) bool {
			return strings.Contains(n, "<") && asPattern(n).MatchString(name)
		})
	}
	for _, l := range lines {
		for _, name := range varRE.FindAllString(l.text, -1) {
			if name == "NFTSYNC_" {
				continue // the prefix itself, in prose
			}
			if !known(name) {
				bad("%s: %s is not a variable of the configuration table (cmd/nftsync/config.go)", l.where(), name)
			}
		}
	}
	return problems
}

var commandRE = regexp.MustCompile(`(?:^|[\s(/])nftsync\s+([a-z][a-z-]*)(?:\s+([a-z][a-z|-]*))?`)

// cliCommands is the binary's command list: the first word of every
// command line of `nftsync help`, and for commands with subcommands
// (collections, jobs) the subcommands that help names and those the
// command's own usage error lists ("collections needs add, list ... or
// route").
func cliCommands(t *testing.T) map[string][]string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, envOf(nil), &out, &out))
	cmds := map[string][]string{}
	lineCount := map[string]int{}
	inList := false
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "Commands:") {
			inList = true
			continue
		}
		if !inList || !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		f := strings.Fields(line)
		if _, ok := cmds[f[0]]; !ok {
			cmds[f[0]] = nil
		}
		lineCount[f[0]]++
		if len(f) > 1 && regexp.MustCompile(`^[a-z]+(\|[a-z]+)*$`).MatchString(f[1]) {
			cmds[f[0]] = append(cmds[f[0]], strings.Split(f[1], "|")...)
		}
	}
	// Only a command listed on several lines (collections, jobs) has
	// subcommands; on one line the second word is its description.
	for cmd, n := range lineCount {
		if n < 2 {
			cmds[cmd] = nil
		}
	}
	require.Contains(t, cmds, "worker", "nftsync help lists the commands:\n%s", out.String())
	needsRE := regexp.MustCompile(`needs ([a-z, ]+) or ([a-z]+)`)
	for cmd, subs := range cmds {
		if len(subs) == 0 {
			continue // never run a command that would start work
		}
		var stderr bytes.Buffer
		err := run(context.Background(), []string{cmd}, envOf(nil), &stderr, &stderr)
		require.Error(t, err, "nftsync %s without a subcommand", cmd)
		if m := needsRE.FindStringSubmatch(err.Error()); m != nil {
			cmds[cmd] = append(cmds[cmd], append(strings.Split(m[1], ", "), m[2])...)
		}
	}
	return cmds
}

// checkCommands: every `nftsync <command> [<subcommand>]` named in code is a
// command of the binary.
func checkCommands(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	cmds := cliCommands(t)
	for _, l := range lines {
		for _, c := range l.code {
			for _, m := range commandRE.FindAllStringSubmatch(c, -1) {
				subs, ok := cmds[m[1]]
				if !ok {
					bad("%s: `nftsync %s` is not a command (see nftsync help)", l.where(), m[1])
					continue
				}
				if len(subs) == 0 || m[2] == "" {
					continue
				}
				for _, sub := range strings.Split(m[2], "|") {
					if !slices.Contains(subs, sub) {
						bad("%s: `nftsync %s %s` is not a command (want one of %s)", l.where(), m[1], sub, strings.Join(subs, ", "))
					}
				}
			}
		}
	}
	return problems
}

var makeRE = regexp.MustCompile(`(?:^|[\s(])make\s+([a-z][a-z/-]*)`)

// checkMakeTargets: every `make <target>` named in code is a target of the
// Makefile.
func checkMakeTargets(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	require.NoError(t, err)
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z/-]*):`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	require.Contains(t, targets, "test")
	for _, l := range lines {
		for _, c := range l.code {
			for _, m := range makeRE.FindAllStringSubmatch(c, -1) {
				if !targets[m[1]] {
					bad("%s: `make %s` is not a Makefile target", l.where(), m[1])
				}
			}
		}
	}
	return problems
}

var (
	queueAfterRE  = regexp.MustCompile("\\b[Qq]ueues?:? ((?:`[a-z_]+`(?:,? and |,? or |, )?)+)")
	queueBeforeRE = regexp.MustCompile("`([a-z_]+)` queue\\b")
	queueParenRE  = regexp.MustCompile(`\(queue ([a-z_]+)[),;]`)
	codeNameRE    = regexp.MustCompile("`([a-z_]+)`")
)

// checkQueues: every queue the docs name as a queue ("queue `tokens`",
// "`tokens` queue", "(queue tokens)", or a table column headed "queue") is
// a queue of the worker, and every queue of the worker is named somewhere.
func checkQueues(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	queues := map[string]bool{}
	for q := range jobs.DefaultMaxWorkers() {
		queues[q] = false
	}
	require.NotEmpty(t, queues)
	use := func(l docLine, q string) {
		if _, ok := queues[q]; !ok {
			bad("%s: %q is named as a queue but the worker has no such queue (jobs.DefaultMaxWorkers)", l.where(), q)
			return
		}
		queues[q] = true
	}
	queueCol := -1
	for _, l := range lines {
		for _, m := range queueAfterRE.FindAllStringSubmatch(l.text, -1) {
			for _, n := range codeNameRE.FindAllStringSubmatch(m[1], -1) {
				use(l, n[1])
			}
		}
		for _, m := range queueBeforeRE.FindAllStringSubmatch(l.text, -1) {
			use(l, m[1])
		}
		for _, m := range queueParenRE.FindAllStringSubmatch(l.text, -1) {
			use(l, m[1])
		}
		cells := tableCells(l.raw)
		switch {
		case cells == nil:
			queueCol = -1
		case queueCol < 0:
			queueCol = slices.IndexFunc(cells, func(c string) bool { return strings.EqualFold(c, "queue") })
			if queueCol < 0 {
				queueCol = -2 // a table without a queue column
			}
		case queueCol < len(cells):
			for _, n := range codeNameRE.FindAllStringSubmatch(cells[queueCol], -1) {
				use(l, n[1])
			}
		}
	}
	for q, named := range queues {
		if !named {
			bad("queue %s is named nowhere in README.md or docs/*.md (docs/architecture.md lists the queues)", q)
		}
	}
	return problems
}

// tableCells returns the trimmed cells of a Markdown table row, nil for
// another line.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	var cells []string
	for _, c := range strings.Split(strings.ReplaceAll(line[1:len(line)-1], `\|`, "\x00"), "|") {
		cells = append(cells, strings.ReplaceAll(strings.TrimSpace(c), "\x00", `\|`))
	}
	return cells
}

// goSources is the text of every Go file of the module.
func goSources(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	require.NoError(t, filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != repoRoot || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sb.Write(b)
		}
		return nil
	}))
	return sb.String()
}

var testNameRE = regexp.MustCompile(`\b((?:Test|Benchmark)[A-Z][A-Za-z0-9_]*)`)

// checkTestNames: every test or benchmark function the docs name exists.
func checkTestNames(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	src := goSources(t)
	for _, l := range lines {
		for _, c := range l.code {
			for _, m := range testNameRE.FindAllStringSubmatch(c, -1) {
				if !strings.Contains(src, "func "+m[1]+"(") {
					bad("%s: %s is not a test or benchmark of the module", l.where(), m[1])
				}
			}
		}
	}
	return problems
}

var pathRE = regexp.MustCompile(`(?:^|[\s(=])\.?/?((?:cmd|jobs|internal|db|deploy|migrations|queries|docs|\.ci)/[A-Za-z0-9_./*<>{}-]*)`)

// checkPaths: every repository path named in code (cmd/..., jobs/...,
// internal/..., ...) exists. Globs and placeholders are left alone.
func checkPaths(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, l := range lines {
		for _, c := range l.code {
			for _, m := range pathRE.FindAllStringSubmatch(c, -1) {
				p := strings.TrimRight(m[1], "./")
				if strings.ContainsAny(p, "*<>{}") || strings.Contains(p, "...") {
					continue
				}
				if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
					bad("%s: %s does not exist in the repository", l.where(), p)
				}
			}
		}
	}
	return problems
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingSlugs returns the anchors GitHub makes of a Markdown file's
// headings: lower case, punctuation dropped, spaces to hyphens, and -1, -2
// ... for repeats.
func headingSlugs(t *testing.T, file string) map[string]bool {
	t.Helper()
	slugs := map[string]bool{}
	seen := map[string]int{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, l := range readDoc(t, file) {
		if len(l.code) > 0 && l.code[0] == l.text { // inside a fenced block
			continue
		}
		h, ok := strings.CutPrefix(l.text, "#")
		if !ok {
			continue
		}
		h = strings.TrimLeft(h, "#")
		if !strings.HasPrefix(h, " ") {
			continue
		}
		s := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
		if n := seen[s]; n > 0 {
			slugs[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			slugs[s] = true
		}
		seen[s]++
	}
	return slugs
}

// checkLinks: every relative link resolves to a file, and an anchor to a
// heading of the Markdown file it points to.
func checkLinks(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, l := range lines {
		if len(l.code) > 0 && l.code[0] == l.text {
			continue // fenced code
		}
		for _, m := range linkRE.FindAllStringSubmatch(l.text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := l.file
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(l.file), path))
				if _, err := os.Stat(filepath.Join(repoRoot, file)); err != nil {
					bad("%s: link %s: %s does not exist", l.where(), target, file)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !headingSlugs(t, file)[anchor] {
				bad("%s: link %s: %s has no heading #%s", l.where(), target, file, anchor)
			}
		}
	}
	return problems
}

// generatedHome says where each generated region lives (the names agreed
// with the generator behind make generate).
var generatedHome = map[string]string{
	"config":        "docs/configuration.md",
	"job-kinds":     "docs/enqueueing.md",
	"refresh-kinds": "docs/architecture.md",
	"sources":       "docs/architecture.md",
	"queues":        "docs/architecture.md",
}

var markerRE = regexp.MustCompile(`<!--\s*(BEGIN|END) GENERATED:\s*([^ ]*)`)

// checkRegions: every generated region is a BEGIN line and an END line of
// one known name, exactly as the generator writes them, not nested, and
// each known region is in its home file.
func checkRegions(t *testing.T, lines []docLine) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	found := map[string][]string{}
	open, openAt := "", ""
	for i, l := range lines {
		if i > 0 && lines[i-1].file != l.file && open != "" {
			bad("%s: region %s opened there is not closed", openAt, open)
			open = ""
		}
		m := markerRE.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		name := m[2]
		if _, ok := generatedHome[name]; !ok {
			bad("%s: unknown generated region %q (want one of %s)", l.where(), name, strings.Join(sortedKeys(generatedHome), ", "))
		}
		switch m[1] {
		case "BEGIN":
			if want := "<!-- BEGIN GENERATED: " + name + " (make generate; do not edit) -->"; strings.TrimSpace(l.text) != want {
				bad("%s: marker line should read %s", l.where(), want)
			}
			if open != "" {
				bad("%s: region %s begins inside region %s opened at %s", l.where(), name, open, openAt)
			}
			open, openAt = name, l.where()
			found[name] = append(found[name], l.file)
		case "END":
			if want := "<!-- END GENERATED: " + name + " -->"; strings.TrimSpace(l.text) != want {
				bad("%s: marker line should read %s", l.where(), want)
			}
			if open != name {
				bad("%s: END of region %s without its BEGIN", l.where(), name)
			}
			open = ""
		}
	}
	if open != "" {
		bad("%s: region %s opened there is not closed", openAt, open)
	}
	for name, home := range generatedHome {
		if !slices.Contains(found[name], home) {
			bad("%s: the generated region %s is missing", home, name)
		}
	}
	return problems
}

// generatedRegion returns the lines between a region's markers in file, as
// written, and the line number of the first of them.
func generatedRegion(t *testing.T, file, name string) ([]string, int) {
	t.Helper()
	lines := readDoc(t, file)
	begin := slices.IndexFunc(lines, func(l docLine) bool {
		return strings.HasPrefix(strings.TrimSpace(l.text), "<!-- BEGIN GENERATED: "+name+" ")
	})
	require.GreaterOrEqual(t, begin, 0, "%s: no generated region %s", file, name)
	end := slices.IndexFunc(lines[begin:], func(l docLine) bool {
		return strings.TrimSpace(l.text) == "<!-- END GENERATED: "+name+" -->"
	})
	require.Positive(t, end, "%s:%d: region %s is not closed", file, lines[begin].n, name)
	var out []string
	for _, l := range lines[begin+1 : begin+end] {
		out = append(out, l.raw)
	}
	return out, lines[begin+1].n
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
