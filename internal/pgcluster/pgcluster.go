// Package pgcluster runs a private PostgreSQL cluster in a local folder. It is
// the "embedded default" behind `nftsync dev` when DATABASE_URL is unset, and a
// cheap real database for tests.
//
// The cluster uses the PostgreSQL server binaries installed on the machine
// (pg_ctl, initdb, postgres); nothing is downloaded. Start creates the data
// folder with initdb the first time, starts the server, and reuses the data on
// later runs; Stop shuts down a server that Start started. Each cluster:
//
//   - listens on 127.0.0.1 only, on a port picked once and then kept across
//     runs, plus a unix socket in its data folder (none when the folder's path
//     is too long for a socket path, about 90 bytes);
//   - trusts every connection from the unix socket and 127.0.0.1 (there is no
//     password), so it must never be exposed beyond the local machine;
//   - has a superuser named postgres: the DSN is
//     postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable.
//
// # Running as root
//
// initdb and postgres refuse to run as root. When the process runs as root (as
// CI does), pgcluster runs initdb and pg_ctl as the postgres system user (for
// an existing data folder: as its owner, unless that is root), switching user
// and group ids in the child process as `runuser -u postgres --` would, without
// depending on runuser or PAM. It creates the data folder with mode 0700 and
// chowns that folder only (not its parents) to the server user. If an
// ancestor directory does not let the server user through — the 0700
// directories made by t.TempDir, or /root — it adds the world-execute bit to
// that ancestor (o+x: others may traverse it, not list it) and logs a warning
// naming it. Files in such a directory that are themselves world-readable
// become readable by other local users who know their names, so keep the data
// folder out of private directories on shared machines.
//
// # Files in the data folder
//
// Besides what initdb creates, the folder holds nftsync.conf (the settings
// above, regenerated on each start and included from postgresql.conf; it is
// also where the port is kept), pg_hba.conf (regenerated on each start),
// server.log (the server's log) and nftsync.owner (the id of the process that
// started the server).
//
// pgcluster is Unix-only.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Names of the files pgcluster reads and writes inside the data folder.
const (
	confFile   = "nftsync.conf"
	hbaFile    = "pg_hba.conf"
	logFile    = "server.log"
	ownerFile  = "nftsync.owner"
	pidFile    = "postmaster.pid"
	versionFil = "PG_VERSION"
)

// Timeouts for server operations. pg_ctl gets startStopTimeout for -t; a
// crashed predecessor gets lockWaitTimeout to finish dying before Start gives
// up.
const (
	startStopTimeout = 60 * time.Second
	lockWaitTimeout  = 30 * time.Second
	pingTimeout      = 15 * time.Second
)

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1: longer names are truncated.
const maxIdentifierLen = 63

// Options configures Start.
type Options struct {
	// Dir is the data folder, for example ".nftsync/pg". It is created if
	// needed (parents with mode 0755, Dir itself with 0700). The caller keeps
	// it out of version control. Required.
	Dir string

	// Port is the TCP port on 127.0.0.1. Zero means: keep the port this
	// folder used before, or pick a free one on first use (or when the kept
	// port has been taken by another program, with a warning). A non-zero
	// Port replaces the kept one; it is ignored, with a warning, when the
	// server is already running.
	Port int

	// Logger receives progress and warnings. Nil discards them.
	Logger *slog.Logger

	// BinDir is a directory holding pg_ctl, initdb and postgres. When set it
	// is the only place searched. When empty, Start looks on PATH (pg_ctl,
	// initdb), then in `pg_config --bindir`, then in InstallRoot/*/bin,
	// newest major version first. When Dir already holds a cluster, the
	// first directory with that cluster's major version wins, and finding
	// only other versions is an error saying which version to install.
	BinDir string

	// Fast turns durability off (fsync, synchronous_commit and
	// full_page_writes off; initdb --no-sync). A crash of the machine can
	// then corrupt the cluster: for tests only, never the dev default.
	Fast bool

	// MaxConnections is the server's max_connections; 0 means 200. It
	// applies when Start starts the server (not to a running one it reuses).
	MaxConnections int

	// LookPath replaces exec.LookPath when searching PATH for pg_ctl,
	// initdb and pg_config. Tests use it to simulate an empty PATH without
	// touching the process environment.
	LookPath func(file string) (string, error)

	// InstallRoot is the directory with one folder per installed major
	// version, each with a bin folder. Empty means "/usr/lib/postgresql",
	// where Debian and Ubuntu install the server.
	InstallRoot string
}

// Cluster is a running PostgreSQL server on a local data folder, returned by
// Start. Its methods are safe for concurrent use.
type Cluster struct {
	dir         string
	port        int
	bin         string
	log         *slog.Logger
	run         runner
	reused      bool
	initialized bool

	mu      sync.Mutex
	pid     int  // postmaster pid, when owned
	owned   bool // Stop stops the server
	stopped bool
}

// Start makes sure a server is running on opts.Dir and returns it.
//
//   - If Dir holds no cluster yet (no PG_VERSION), it runs initdb
//     (-A trust -U postgres -E UTF8 --no-locale).
//   - If a server is already running on Dir (postmaster.pid names a live
//     postgres process that answers on its port), Start connects to it:
//     Reused reports true and Stop leaves it running — unless the process
//     that started it has exited (nftsync crashed or was killed), in which
//     case this Cluster adopts the server and Stop stops it.
//   - Otherwise it writes the configuration and starts the server with
//     `pg_ctl start -w`. A postmaster.pid left by a crash is handled: Start
//     removes one naming an unrelated process and waits (up to 30s) for a
//     killed server's processes to exit.
//
// When no server binaries can be found the error wraps ErrServerNotFound and
// says how to install them. When the server fails to start the error
// includes the end of server.log.
//
// Two processes calling Start on the same uninitialized Dir at the same
// moment is not supported; once the folder exists, concurrent Starts attach
// to whichever server came up first.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is empty")
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pgcluster: Options.Port %d out of range", opts.Port)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: resolve data folder %q: %w", opts.Dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("pgdata", dir)
	opts.Dir = dir

	dataVersion, err := readDataVersion(dir)
	if err != nil {
		return nil, err
	}
	bin, err := findBinDir(ctx, opts, dataVersion)
	if err != nil {
		return nil, err
	}
	run, err := chooseRunner(dir, dataVersion != "")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, log: log, run: run}

	if dataVersion == "" {
		if err := c.initdb(ctx, opts.Fast); err != nil {
			return nil, err
		}
	} else if err := c.run.ensureReachable(dir, log); err != nil {
		return nil, err
	}

	attached, err := c.attach(ctx)
	if err != nil {
		return nil, err
	}
	if attached {
		if opts.Port != 0 && opts.Port != c.port {
			log.Warn("server already running on another port than Options.Port; using it", "port", c.port, "options_port", opts.Port)
		}
		return c, nil
	}
	if err := c.configure(opts); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// DSN returns the connection URL for database dbname, e.g.
// postgres://postgres@127.0.0.1:54321/nftsync?sslmode=disable.
func (c *Cluster) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// Dir returns the absolute path of the data folder.
func (c *Cluster) Dir() string { return c.dir }

// BinDir returns the directory of the server binaries in use.
func (c *Cluster) BinDir() string { return c.bin }

// Reused reports whether the server was already running when Start was
// called (started by another process or an earlier Start).
func (c *Cluster) Reused() bool { return c.reused }

// Initialized reports whether Start created the data folder with initdb,
// i.e. the cluster is brand new and empty.
func (c *Cluster) Initialized() bool { return c.initialized }

// CreateDatabase creates database name unless it already exists (also when
// another connection creates it concurrently). The name is used verbatim as
// a quoted identifier; it must be 1 to 63 bytes.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	if name == "" || len(name) > maxIdentifierLen || strings.ContainsRune(name, 0) {
		return fmt.Errorf("pgcluster: create database %q: name must be 1 to %d bytes without NUL", name, maxIdentifierLen)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: check existing: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: lost a race
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	c.log.Info("created database", "database", name)
	return nil
}

// DropDatabase drops the database name if it exists, disconnecting its
// sessions (WITH (FORCE)).
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: drop database %q: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgcluster: drop database %q: %w", name, err)
	}
	c.log.Info("dropped database", "database", name)
	return nil
}

// Stop shuts the server down (pg_ctl stop -m fast: open sessions are
// disconnected, committed data is kept) if this Cluster started or adopted
// it; for a reused server it does nothing. Stop is idempotent. It runs
// commands under ctx, so on shutdown pass a context that is not already
// cancelled (e.g. context.WithoutCancel plus a timeout).
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.owned || c.stopped {
		return nil
	}
	if pf, err := readPIDFile(c.dir); err != nil || pf.pid != c.pid {
		// Our server is gone; don't stop one another process started since.
		c.stopped = true
		c.log.Info("the server this Cluster started is no longer running; nothing to stop", "port", c.port)
		return nil
	}
	out, err := c.run.command(ctx, c.tool("pg_ctl"), "-D", c.dir, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(startStopTimeout.Seconds())), "stop").CombinedOutput()
	if err != nil {
		if running, _ := c.postmasterRunning(); running {
			return fmt.Errorf("pgcluster: stop server in %s: %w: %s", c.dir, err, strings.TrimSpace(string(out)))
		}
		// Already gone (killed, or stopped by someone else): nothing to do.
		c.stopped = true
		c.log.Info("PostgreSQL was not running", "port", c.port)
		return nil
	}
	c.stopped = true
	if err := os.Remove(filepath.Join(c.dir, ownerFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("could not remove owner file", "err", err)
	}
	c.log.Info("stopped PostgreSQL", "port", c.port)
	return nil
}

// tool returns the path of a server binary.
func (c *Cluster) tool(name string) string { return filepath.Join(c.bin, name) }

// initdb creates the data folder and the cluster in it.
func (c *Cluster) initdb(ctx context.Context, fast bool) error {
	if err := c.run.prepareDir(c.dir, c.log); err != nil {
		return err
	}
	args := []string{"-D", c.dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-instructions"}
	if fast {
		args = append(args, "--no-sync")
	}
	c.log.Info("initializing PostgreSQL data folder", "bin", c.bin, "as", c.run.name())
	began := time.Now()
	out, err := c.run.command(ctx, c.tool("initdb"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: initdb %s (as %s): %w\n%s", c.dir, c.run.name(), err, tail(string(out), 30))
	}
	c.initialized = true
	c.log.Info("initialized PostgreSQL data folder", "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// attach connects to a server already running on the data folder. It
// reports false (and no error) when none is running, after clearing a
// postmaster.pid that names an unrelated live process (a pid reused after a
// crash or a container restart).
func (c *Cluster) attach(ctx context.Context) (bool, error) {
	pf, err := readPIDFile(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	alive, argv0 := processState(pf.pid)
	if !alive {
		c.log.Info("found postmaster.pid of a server that is not running (crashed?); starting a new one", "pid", pf.pid)
		return false, nil
	}
	if argv0 != "" && !isPostgresCommand(argv0) {
		c.log.Warn("postmaster.pid names an unrelated process (stale after a crash); removing it", "pid", pf.pid, "process", argv0)
		if err := os.Remove(filepath.Join(c.dir, pidFile)); err != nil {
			return false, fmt.Errorf("pgcluster: remove stale %s: %w", filepath.Join(c.dir, pidFile), err)
		}
		return false, nil
	}
	if pf.port == 0 {
		return false, fmt.Errorf("pgcluster: a server (pid %d) is running on %s but its postmaster.pid has no port", pf.pid, c.dir)
	}
	c.port = pf.port
	// The server may be starting up, or dying (killed a moment ago): wait
	// until it either answers or is gone.
	deadline := time.Now().Add(lockWaitTimeout)
	for {
		err := ping(ctx, c.DSN("postgres"))
		if err == nil {
			break
		}
		if alive, _ := processState(pf.pid); !alive {
			c.log.Info("the server in postmaster.pid exited (crashed or killed); starting a new one", "pid", pf.pid)
			return false, nil
		}
		if time.Now().After(deadline) || !sleep(ctx, 200*time.Millisecond) {
			return false, fmt.Errorf("pgcluster: a server (pid %d) is running on %s but does not accept connections on 127.0.0.1:%d: %w; stop it with `pg_ctl -D %s stop` and retry",
				pf.pid, c.dir, pf.port, err, c.dir)
		}
	}
	c.reused = true

	// Adopt the server if the process that started it is gone, so that a
	// crashed `nftsync dev` does not leave it running forever.
	if owner, ok := readOwner(c.dir); ok && owner != os.Getpid() {
		if alive, _ := processState(owner); !alive {
			c.owned, c.pid = true, pf.pid
			if err := c.writeOwner(); err != nil {
				c.log.Warn("could not record server owner", "err", err)
			}
		}
	}
	c.log.Info("reusing running PostgreSQL", "port", c.port, "pid", pf.pid, "adopted", c.owned)
	return true, nil
}

// configure picks the port and writes nftsync.conf and pg_hba.conf.
func (c *Cluster) configure(opts Options) error {
	port := opts.Port
	if port == 0 {
		kept := readKeptPort(c.dir)
		switch {
		case kept != 0 && portFree(kept):
			port = kept
		default:
			p, err := freePort()
			if err != nil {
				return fmt.Errorf("pgcluster: pick a free port on 127.0.0.1: %w", err)
			}
			if kept != 0 {
				c.log.Warn("kept port is in use by another program; switching port", "old_port", kept, "port", p)
			}
			port = p
		}
	}
	c.port = port
	if err := c.writeConfig(opts.Fast, opts.MaxConnections); err != nil {
		return err
	}
	return nil
}

// start runs pg_ctl start, retrying while a killed predecessor's processes
// still hold the lock file or shared memory.
func (c *Cluster) start(ctx context.Context) error {
	logPath := filepath.Join(c.dir, logFile)
	if err := c.writeOwner(); err != nil {
		return err
	}
	began := time.Now()
	deadline := began.Add(lockWaitTimeout)
	waitLogged := false
	for {
		offset := fileSize(logPath)
		out, err := c.run.command(ctx, c.tool("pg_ctl"), "-D", c.dir, "-l", logPath, "-w",
			"-t", strconv.Itoa(int(startStopTimeout.Seconds())), "start").CombinedOutput()
		if err == nil {
			break
		}
		logText := readFrom(logPath, offset)
		if isPredecessorConflict(logText) && time.Now().Before(deadline) && ctx.Err() == nil {
			if !waitLogged {
				c.log.Info("waiting for the processes of a previous server to exit")
				waitLogged = true
			}
			if !sleep(ctx, 300*time.Millisecond) {
				return fmt.Errorf("pgcluster: start server in %s: %w", c.dir, ctx.Err())
			}
			continue
		}
		hint := ""
		if strings.Contains(logText, "Address already in use") {
			hint = fmt.Sprintf("\nport %d is taken by another program: set Options.Port or leave it 0 to pick a free one", c.port)
		}
		return fmt.Errorf("pgcluster: start server in %s on 127.0.0.1:%d: %w\npg_ctl: %s\n%s (end):\n%s%s",
			c.dir, c.port, err, strings.TrimSpace(string(out)), logPath, tail(logText, 30), hint)
	}
	pf, err := readPIDFile(c.dir)
	if err != nil {
		return fmt.Errorf("pgcluster: server in %s started but: %w", c.dir, err)
	}
	c.mu.Lock()
	c.owned, c.pid = true, pf.pid
	c.mu.Unlock()
	c.log.Info("started PostgreSQL", "port", c.port, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// postmasterRunning reports whether postmaster.pid names a live process.
func (c *Cluster) postmasterRunning() (bool, error) {
	pf, err := readPIDFile(c.dir)
	if err != nil {
		return false, err
	}
	alive, _ := processState(pf.pid)
	return alive, nil
}

// ping connects to dsn, waiting while the server is still starting up.
func ping(ctx context.Context, dsn string) error {
	deadline := time.Now().Add(pingTimeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		var pgErr *pgconn.PgError
		startingUp := errors.As(err, &pgErr) && pgErr.Code == "57P03" // cannot_connect_now
		if !startingUp || time.Now().After(deadline) || !sleep(ctx, 200*time.Millisecond) {
			return err
		}
	}
}

// isPredecessorConflict reports whether a failed start's log shows that a
// previous server's processes are still around.
func isPredecessorConflict(logText string) bool {
	return strings.Contains(logText, `lock file "postmaster.pid" already exists`) ||
		strings.Contains(logText, "pre-existing shared memory block")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
