package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runner runs the server tools as the right user: the current one, or,
// when the process is root, an unprivileged one (initdb and postgres refuse
// to run as root).
type runner struct {
	cred     *syscall.Credential // nil: run as the current user
	username string              // for messages; "" for the current user
}

// chooseRunner picks the user that runs initdb and pg_ctl for dir. As root
// that is the non-root owner of an existing data folder, else the postgres
// system user.
func chooseRunner(dir string, initialized bool) (runner, error) {
	if os.Geteuid() != 0 {
		return runner{}, nil
	}
	if initialized {
		if fi, err := os.Stat(dir); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
				name := strconv.FormatUint(uint64(st.Uid), 10)
				var groups []uint32
				if u, err := user.LookupId(name); err == nil {
					name = u.Username
					groups = groupIDs(u)
				}
				return runner{
					cred:     &syscall.Credential{Uid: st.Uid, Gid: st.Gid, Groups: groups},
					username: name,
				}, nil
			}
		}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runner{}, fmt.Errorf("pgcluster: running as root, and initdb/postgres refuse to run as root, "+
			"but there is no postgres system user to run them as (%w); create it "+
			"(Debian/Ubuntu: `apt-get install postgresql` does) or run as a regular user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return runner{}, fmt.Errorf("pgcluster: postgres user ids %s:%s: %w", u.Uid, u.Gid, err)
	}
	return runner{
		cred:     &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groupIDs(u)},
		username: u.Username,
	}, nil
}

func groupIDs(u *user.User) []uint32 {
	ids, _ := u.GroupIds()
	var out []uint32
	for _, s := range ids {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

// name describes the user commands run as.
func (r runner) name() string {
	if r.cred == nil {
		return "current user"
	}
	return r.username
}

// command prepares name args... to run as r's user, in "/" so that an
// unreadable working directory does not matter.
func (r runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	// pg_ctl redirects the server's output to server.log, but guard against
	// a descendant keeping our pipes open.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// chown gives path to r's user (no-op when running as the current user).
func (r runner) chown(path string) error {
	if r.cred == nil {
		return nil
	}
	if err := os.Lchown(path, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: chown %s to %s: %w", path, r.username, err)
	}
	return nil
}

// prepareDir creates dir (mode 0700) for initdb and, as root, hands it to
// r's user and makes sure that user can reach it.
func (r runner) prepareDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: create parent of data folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: create data folder: %w", err)
	}
	if err := r.chown(dir); err != nil {
		return err
	}
	return r.ensureReachable(dir, log)
}

// ensureReachable adds o+x to each ancestor of dir that r's user cannot
// traverse. Only needed as root; see the package documentation.
func (r runner) ensureReachable(dir string, log *slog.Logger) error {
	if r.cred == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgcluster: check access to %s: %w", p, err)
		}
		if !r.canTraverse(fi) {
			mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if err := os.Chmod(p, mode|0o001); err != nil {
				return fmt.Errorf("pgcluster: %s cannot reach the data folder through %s and making it traversable (chmod o+x) failed: %w",
					r.username, p, err)
			}
			log.Warn("made directory traversable (o+x) so that the server user can reach the data folder",
				"path", p, "user", r.username)
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// canTraverse applies the owner/group/other execute bits for r's user.
func (r runner) canTraverse(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == r.cred.Uid:
		return perm&0o100 != 0
	case st.Gid == r.cred.Gid || slices.Contains(r.cred.Groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// writeFile writes a file in the data folder, owned by the server user.
func (c *Cluster) writeFile(name string, data []byte) error {
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("pgcluster: write %s: %w", path, err)
	}
	return c.run.chown(path)
}

// pidFileInfo is what pgcluster uses from postmaster.pid: line 1 is the
// postmaster's pid, line 4 its port.
type pidFileInfo struct {
	pid  int
	port int
}

func readPIDFile(dir string) (pidFileInfo, error) {
	path := filepath.Join(dir, pidFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return pidFileInfo{}, err
		}
		return pidFileInfo{}, fmt.Errorf("pgcluster: read %s: %w", path, err)
	}
	lines := strings.Split(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return pidFileInfo{}, fmt.Errorf("pgcluster: %s: bad pid line %q", path, lines[0])
	}
	info := pidFileInfo{pid: pid}
	if len(lines) > 3 {
		info.port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return info, nil
}

// processState reports whether pid is a live process (zombies count as
// dead) and, where /proc is available, the base name of its argv[0].
func processState(pid int) (alive bool, argv0 string) {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false, ""
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Format: pid (comm) state ...; comm may contain ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false, ""
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 {
		first, _, _ := bytes.Cut(b, []byte{0})
		// The server may rewrite its title to "postgres: ...".
		first, _, _ = bytes.Cut(first, []byte{' '})
		argv0 = strings.TrimSuffix(filepath.Base(string(first)), ":")
	}
	return true, argv0
}

func isPostgresCommand(argv0 string) bool {
	return strings.HasPrefix(argv0, "postgres") || strings.HasPrefix(argv0, "postmaster")
}

// writeOwner records the current process as the one responsible for
// stopping the server.
func (c *Cluster) writeOwner() error {
	return c.writeFile(ownerFile, []byte(strconv.Itoa(os.Getpid())+"\n"))
}

func readOwner(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the content of path after offset (best effort).
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return ""
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(f)
	return buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
