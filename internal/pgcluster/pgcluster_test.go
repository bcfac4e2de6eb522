package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tests use small local helpers instead of testify/require: go.sum lacks
// the checksums of testify v1.12.1's dependencies (go.yaml.in/yaml/v3,
// github.com/pmezard/go-difflib), and this package may not edit go.sum.

func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equal[T comparable](t *testing.T, want, got T, what string) {
	t.Helper()
	if want != got {
		t.Fatalf("%s: want %v, got %v", what, want, got)
	}
}

// testOptions returns Options for a fresh data folder, skipping the test
// when this machine has no PostgreSQL server binaries.
func testOptions(t *testing.T, dir string) Options {
	t.Helper()
	if _, err := findBinDir(t.Context(), Options{}, ""); errors.Is(err, ErrServerNotFound) {
		t.Skipf("no PostgreSQL server binaries on this machine (install with `apt-get install postgresql`): %v", err)
	}
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "pg")
	}
	return Options{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// startT starts a cluster and stops it when the test ends.
func startT(t *testing.T, opts Options) *Cluster {
	t.Helper()
	began := time.Now()
	c, err := Start(t.Context(), opts)
	noErr(t, err, "Start")
	t.Logf("Start took %s (initialized=%v reused=%v port=%d)", time.Since(began).Round(time.Millisecond), c.Initialized(), c.Reused(), c.Port())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	noErr(t, err, "connect "+dsn)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func show(t *testing.T, conn *pgx.Conn, setting string) string {
	t.Helper()
	var v string
	noErr(t, conn.QueryRow(t.Context(), "SHOW "+setting).Scan(&v), "SHOW "+setting)
	return v
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := testOptions(t, "")

	c := startT(t, opts)
	equal(t, true, c.Initialized(), "Initialized on first start")
	equal(t, false, c.Reused(), "Reused on first start")
	port := c.Port()
	equal(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/app?sslmode=disable", port), c.DSN("app"), "DSN")

	// Idempotent, and safe for names that need quoting.
	noErr(t, c.CreateDatabase(ctx, "app"), "CreateDatabase")
	noErr(t, c.CreateDatabase(ctx, "app"), "CreateDatabase again")
	noErr(t, c.DropDatabase(ctx, "app"), "DropDatabase")
	noErr(t, c.DropDatabase(ctx, "app"), "DropDatabase of a database that is gone")
	noErr(t, c.CreateDatabase(ctx, "app"), "CreateDatabase after DropDatabase")
	noErr(t, c.CreateDatabase(ctx, `we"ird-Name`), "CreateDatabase quoted")
	if err := c.CreateDatabase(ctx, strings.Repeat("x", 64)); err == nil {
		t.Fatal("CreateDatabase accepted a 64-byte name")
	}

	conn := connect(t, c.DSN("app"))
	_, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
	noErr(t, err, "create table")
	equal(t, "on", show(t, conn, "fsync"), "fsync by default")
	equal(t, "127.0.0.1", show(t, conn, "listen_addresses"), "listen_addresses")
	equal(t, "200", show(t, conn, "max_connections"), "max_connections")
	connect(t, c.DSN(`we"ird-Name`))

	// A second Start while the server runs attaches to it and does not own it.
	opts2 := opts
	opts2.Port = 0
	c2, err := Start(ctx, opts2)
	noErr(t, err, "second Start")
	equal(t, true, c2.Reused(), "second Start Reused")
	equal(t, false, c2.Initialized(), "second Start Initialized")
	equal(t, port, c2.Port(), "second Start port")
	noErr(t, c2.Stop(ctx), "Stop of reused cluster")
	noErr(t, conn.Ping(ctx), "server still up after Stop of reused cluster")
	conn.Close(ctx)

	began := time.Now()
	noErr(t, c.Stop(ctx), "Stop")
	t.Logf("Stop took %s", time.Since(began).Round(time.Millisecond))
	noErr(t, c.Stop(ctx), "Stop is idempotent")
	if _, err := pgx.Connect(ctx, c.DSN("app")); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}

	// Restart: same data, same port.
	c3 := startT(t, opts)
	equal(t, false, c3.Initialized(), "restart Initialized")
	equal(t, false, c3.Reused(), "restart Reused")
	equal(t, port, c3.Port(), "restart keeps the port")
	var v string
	noErr(t, connect(t, c3.DSN("app")).QueryRow(ctx, "SELECT v FROM kept").Scan(&v), "read kept table")
	equal(t, "hello", v, "kept row")
}

func TestFastAndLongPath(t *testing.T) {
	t.Parallel()
	// Too long for a unix socket path: the cluster must fall back to TCP only.
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("p", 50))
	opts := testOptions(t, dir)
	opts.Fast = true
	c := startT(t, opts)

	conn := connect(t, c.DSN("postgres"))
	equal(t, "off", show(t, conn, "fsync"), "fsync")
	equal(t, "off", show(t, conn, "synchronous_commit"), "synchronous_commit")
	equal(t, "off", show(t, conn, "full_page_writes"), "full_page_writes")
	equal(t, "", show(t, conn, "unix_socket_directories"), "unix_socket_directories")
}

func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := testOptions(t, "")
	opts.Fast = true
	c := startT(t, opts)
	noErr(t, c.CreateDatabase(ctx, "app"), "CreateDatabase")
	port := c.Port()

	// kill -9 the postmaster: postmaster.pid stays behind, and the server's
	// other processes take a moment to notice and exit.
	pf, err := readPIDFile(c.Dir())
	noErr(t, err, "read postmaster.pid")
	noErr(t, syscall.Kill(pf.pid, syscall.SIGKILL), "kill postmaster")

	c2 := startT(t, opts)
	equal(t, false, c2.Reused(), "Reused after crash")
	equal(t, port, c2.Port(), "port after crash")
	connect(t, c2.DSN("app"))
	noErr(t, c2.Stop(ctx), "Stop")

	// A postmaster.pid whose pid now belongs to an unrelated process (pid
	// reuse after a crash or container restart) must not block the start.
	sleeper := exec.Command("sleep", "60")
	noErr(t, sleeper.Start(), "start sleep")
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	stale := fmt.Sprintf("%d\n%s\n0\n%d\n\n127.0.0.1\n0 0\nready\n", sleeper.Process.Pid, c.Dir(), port)
	noErr(t, os.WriteFile(filepath.Join(c.Dir(), pidFile), []byte(stale), 0o600), "write stale postmaster.pid")

	c3 := startT(t, opts)
	equal(t, false, c3.Reused(), "Reused with stale pid file")
	connect(t, c3.DSN("app"))
}

func TestAdoptOrphan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := testOptions(t, "")
	opts.Fast = true
	c := startT(t, opts)

	// Pretend the process that started the server has died.
	dead := exec.Command("true")
	noErr(t, dead.Run(), "run true")
	noErr(t, c.writeFile(ownerFile, fmt.Appendf(nil, "%d\n", dead.Process.Pid)), "write owner")

	c2 := startT(t, opts)
	equal(t, true, c2.Reused(), "Reused")
	noErr(t, c2.Stop(ctx), "Stop adopted")
	running, err := c2.postmasterRunning()
	if err == nil && running {
		t.Fatal("adopted server still running after Stop")
	}

	// A start failure reports the cause from server.log.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err, "listen")
	defer l.Close()
	opts.Port = l.Addr().(*net.TCPAddr).Port
	_, err = Start(ctx, opts)
	if err == nil || !strings.Contains(err.Error(), "Address already in use") || !strings.Contains(err.Error(), logFile) {
		t.Fatalf("Start on a busy port: want an error quoting server.log, got %v", err)
	}
	t.Logf("busy port error: %v", err)
}

func TestServerNotFound(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	noPath := func(file string) (string, error) { return "", exec.ErrNotFound }

	_, err := Start(t.Context(), Options{Dir: filepath.Join(t.TempDir(), "pg"), LookPath: noPath, InstallRoot: empty})
	if !errors.Is(err, ErrServerNotFound) {
		t.Fatalf("want ErrServerNotFound, got %v", err)
	}
	t.Logf("not found error: %v", err)
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// An explicit BinDir is authoritative: no fallback to PATH.
	_, err = Start(t.Context(), Options{Dir: filepath.Join(t.TempDir(), "pg"), BinDir: empty})
	if !errors.Is(err, ErrServerNotFound) || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("BinDir without binaries: got %v", err)
	}
}

func TestMajorFromVersionOutput(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]string{
		"postgres (PostgreSQL) 15.14 (Debian 15.14-1.pgdg120+1)\n": "15",
		"postgres (PostgreSQL) 9.6.24\n":                           "9.6",
		"postgres (PostgreSQL) 17beta1\n":                          "17",
		"postgres (PostgreSQL) 16.2\n":                             "16",
	} {
		got, ok := majorFromVersionOutput(out)
		if !ok || got != want {
			t.Errorf("majorFromVersionOutput(%q) = %q, %v; want %q", out, got, ok, want)
		}
	}
	if _, ok := majorFromVersionOutput("something else"); ok {
		t.Error("accepted garbage")
	}
}

func TestVersionMismatch(t *testing.T) {
	t.Parallel()
	opts := testOptions(t, "")
	noErr(t, os.MkdirAll(opts.Dir, 0o700), "mkdir")
	noErr(t, os.WriteFile(filepath.Join(opts.Dir, versionFil), []byte("9.4\n"), 0o600), "write PG_VERSION")
	_, err := Start(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "created by PostgreSQL 9.4") || !strings.Contains(err.Error(), "apt-get install postgresql-9.4") {
		t.Fatalf("want a version mismatch error, got %v", err)
	}
}
