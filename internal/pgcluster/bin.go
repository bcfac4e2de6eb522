package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrServerNotFound is wrapped by the error Start returns when no PostgreSQL
// server binaries (pg_ctl, initdb, postgres) can be found.
var ErrServerNotFound = errors.New("PostgreSQL server binaries (pg_ctl, initdb, postgres) not found")

// installHint tells the user how to get a database.
const installHint = "to fix: install the PostgreSQL server (Debian/Ubuntu: `apt-get install postgresql`; " +
	"or set Options.BinDir to its bin directory), or set DATABASE_URL to use an existing PostgreSQL server"

// defaultInstallRoot is where Debian and Ubuntu put one folder per major version.
const defaultInstallRoot = "/usr/lib/postgresql"

// serverTools must all be present in a bin directory.
var serverTools = []string{"pg_ctl", "initdb", "postgres"} //nolint:gochecknoglobals // read-only

// findBinDir returns the directory holding the server binaries, searching
// in the order documented on Options.BinDir. If wantMajor is set (the data
// folder exists), the first directory whose postgres has that major version
// wins, and a mismatch is an error: a server cannot open another major
// version's data folder.
func findBinDir(ctx context.Context, opts Options, wantMajor string) (string, error) {
	if opts.BinDir != "" {
		dir, err := filepath.Abs(opts.BinDir)
		if err != nil {
			return "", fmt.Errorf("pgcluster: resolve BinDir %q: %w", opts.BinDir, err)
		}
		if missing := missingTools(dir); len(missing) > 0 {
			return "", fmt.Errorf("pgcluster: %w: Options.BinDir %s lacks %s; %s", ErrServerNotFound, dir, strings.Join(missing, ", "), installHint)
		}
		if wantMajor != "" {
			got, err := serverMajor(ctx, dir)
			if err != nil {
				return "", err
			}
			if got != wantMajor {
				return "", versionMismatch(opts.Dir, wantMajor, dir, got)
			}
		}
		return dir, nil
	}

	candidates := binCandidates(ctx, opts)
	var first, firstMajor string
	for _, dir := range candidates {
		if len(missingTools(dir)) > 0 {
			continue
		}
		if wantMajor == "" {
			return dir, nil
		}
		got, err := serverMajor(ctx, dir)
		if err != nil {
			continue
		}
		if got == wantMajor {
			return dir, nil
		}
		if first == "" {
			first, firstMajor = dir, got
		}
	}
	if first != "" {
		return "", versionMismatch(opts.Dir, wantMajor, first, firstMajor)
	}
	searched := "PATH (pg_ctl, initdb), pg_config --bindir, " + filepath.Join(installRoot(opts), "*", "bin")
	if len(candidates) > 0 {
		searched += " (" + strings.Join(candidates, ", ") + ")"
	}
	return "", fmt.Errorf("pgcluster: %w; searched %s; %s", ErrServerNotFound, searched, installHint)
}

func versionMismatch(dataDir, wantMajor, binDir, gotMajor string) error {
	return fmt.Errorf("pgcluster: data folder %s was created by PostgreSQL %s but the server in %s is PostgreSQL %s; "+
		"install PostgreSQL %s (Debian/Ubuntu: `apt-get install postgresql-%s`) or set Options.BinDir to it, "+
		"or delete %s to start over with an empty database",
		dataDir, wantMajor, binDir, gotMajor, wantMajor, wantMajor, dataDir)
}

func installRoot(opts Options) string {
	if opts.InstallRoot != "" {
		return opts.InstallRoot
	}
	return defaultInstallRoot
}

// binCandidates lists, without duplicates and in search order, the
// directories that may hold the server binaries.
func binCandidates(ctx context.Context, opts Options) []string {
	lookPath := opts.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	var dirs []string
	add := func(dir string) {
		if dir == "" {
			return
		}
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	// PATH: resolve symlinks such as /usr/local/bin/pg_ctl ->
	// /usr/lib/postgresql/15/bin/pg_ctl to find the sibling binaries.
	for _, name := range []string{"pg_ctl", "initdb"} {
		if p, err := lookPath(name); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			add(filepath.Dir(p))
		}
	}
	if p, err := lookPath("pg_config"); err == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(cctx, p, "--bindir").Output()
		cancel()
		if err == nil {
			add(strings.TrimSpace(string(out)))
		}
	}
	root := installRoot(opts)
	entries, _ := os.ReadDir(root)
	var versions []string
	for _, e := range entries {
		if _, ok := parseVersion(e.Name()); ok {
			versions = append(versions, e.Name())
		}
	}
	slices.SortFunc(versions, func(a, b string) int { // newest first
		va, _ := parseVersion(a)
		vb, _ := parseVersion(b)
		return -slices.Compare(va, vb)
	})
	for _, v := range versions {
		add(filepath.Join(root, v, "bin"))
	}
	return dirs
}

// parseVersion parses a version folder name such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// missingTools lists the server binaries dir lacks (or cannot execute).
func missingTools(dir string) []string {
	var missing []string
	for _, name := range serverTools {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// serverMajor returns the major version of dir/postgres, e.g. "15" for
// "postgres (PostgreSQL) 15.14 (Debian 15.14-1)" or "9.6" for 9.6.24.
func serverMajor(ctx context.Context, dir string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	bin := filepath.Join(dir, "postgres")
	out, err := exec.CommandContext(cctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("pgcluster: %s --version: %w", bin, err)
	}
	major, ok := majorFromVersionOutput(string(out))
	if !ok {
		return "", fmt.Errorf("pgcluster: %s --version: unexpected output %q", bin, strings.TrimSpace(string(out)))
	}
	return major, nil
}

func majorFromVersionOutput(out string) (string, bool) {
	_, rest, ok := strings.Cut(out, "(PostgreSQL) ")
	if !ok {
		return "", false
	}
	ver, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	parts := strings.Split(ver, ".")
	// Keep the leading digits: "16beta1" -> "16".
	first := parts[0]
	if i := strings.IndexFunc(first, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		first = first[:i]
	}
	n, err := strconv.Atoi(first)
	if err != nil {
		return "", false
	}
	// Since 10 the major version is the first number; before, the first two.
	if n < 10 && len(parts) >= 2 {
		return first + "." + parts[1], true
	}
	return first, true
}

// readDataVersion returns the major version recorded in dir/PG_VERSION, or
// "" when dir holds no cluster yet.
func readDataVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, versionFil))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgcluster: read data folder version: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
