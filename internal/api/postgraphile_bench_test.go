package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/benchsize"
)

// PostGraphile 5 is BenchmarkTypicalQuery's baseline: what a user would
// otherwise point at the database. testdata/postgraphile holds everything
// it runs from: package.json and package-lock.json pin PostGraphile and the
// Node it needs (Node 22, from npm's node package, which ships the
// binaries), graphile.config.mjs (the amber preset over the public schema,
// and the smart tags the typical query needs), frequencies.sql (a view of
// every token trait with its value's frequency, as the API reads it) and
// typical.graphql, the typical query written for PostGraphile's schema.
// See docs/benchmarks.md.
const postgraphileDir = "testdata/postgraphile"

// postgraphileQuery is the typical query for PostGraphile's schema.
func postgraphileQuery(tb testing.TB) string {
	tb.Helper()
	q, err := os.ReadFile(filepath.Join(postgraphileDir, "typical.graphql"))
	require.NoError(tb, err)
	return string(q)
}

// postgraphileServer is a running PostGraphile process.
type postgraphileServer struct {
	url string
	cmd *exec.Cmd
}

// cpu is the user and system CPU time the PostGraphile process has used
// (0 where /proc is unavailable).
func (s *postgraphileServer) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14 and stime 15, in clock ticks (100 a second on
	// Linux).
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// startPostGraphile installs the pinned PostGraphile and Node (once per
// lock file, into bin/tools/ of the module, which git ignores), adds the
// frequencies view to the database and starts PostGraphile on it. It
// returns nil when npm is missing at quick size (make bench-quick may skip
// the baseline; make bench may not: at full size a missing npm fails the
// benchmark).
func startPostGraphile(b *testing.B, pool *pgxpool.Pool) *postgraphileServer {
	b.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		if benchsize.Quick(b) {
			b.Logf("PostGraphile baseline SKIPPED: npm not found (%v); make bench needs Node's npm to install it", err)
			return nil
		}
		b.Fatalf("PostGraphile baseline: npm not found (%v): install Node.js with npm (any version; npm installs the pinned Node 22)", err)
	}
	dir, err := installPostGraphile(b, npm)
	if err != nil {
		if benchsize.Quick(b) {
			b.Logf("PostGraphile baseline SKIPPED: %v", err)
			return nil
		}
		b.Fatalf("PostGraphile baseline: %v", err)
	}
	sql, err := os.ReadFile(filepath.Join(postgraphileDir, "frequencies.sql"))
	require.NoError(b, err)
	_, err = pool.Exec(context.Background(), string(sql))
	require.NoError(b, err, "create the view PostGraphile reads frequencies from")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(b, l.Close())
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", "node"), filepath.Join("node_modules", "postgraphile", "dist", "cli-run.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pool.Config().ConnString(), "PORT="+strconv.Itoa(port), "NODE_ENV=production")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(b, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	srv := &postgraphileServer{url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Post(srv.url+"/graphql", "application/json", strings.NewReader(`{"query":"{__typename}"}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv
			}
		}
		select {
		case err := <-exited:
			b.Fatalf("PostGraphile exited (%v):\n%s", err, logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("PostGraphile did not answer within 2 minutes:\n%s", logs.String())
		}
	}
}

// installPostGraphile runs npm ci of testdata/postgraphile's lock file into
// bin/tools/postgraphile-<lock hash>/ unless an earlier run did, and copies
// the configuration there (it imports PostGraphile, so it must sit beside
// node_modules). It returns the folder.
func installPostGraphile(b *testing.B, npm string) (string, error) {
	lock, err := os.ReadFile(filepath.Join(postgraphileDir, "package-lock.json"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(lock)
	tools, err := filepath.Abs(filepath.Join("..", "..", "bin", "tools"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(tools, "postgraphile-"+hex.EncodeToString(sum[:6]))
	node := filepath.Join(dir, "node_modules", ".bin", "node")
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err != nil {
		if err := os.MkdirAll(tools, 0o755); err != nil {
			return "", err
		}
		tmp, err := os.MkdirTemp(tools, ".postgraphile-install-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		for _, f := range []string{"package.json", "package-lock.json"} {
			if err := copyFile(filepath.Join(postgraphileDir, f), filepath.Join(tmp, f)); err != nil {
				return "", err
			}
		}
		b.Logf("installing PostGraphile and Node 22 with npm ci into %s (once)", dir)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("npm ci (PostGraphile, Node 22): %w\n%s", err, out)
		}
		if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
			return "", err
		}
		_ = os.RemoveAll(dir) // a half-made earlier attempt
		if err := os.Rename(tmp, dir); err != nil {
			return "", err
		}
		b.Logf("installed PostGraphile in %s", time.Since(t0).Round(time.Second))
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "v22.") {
		return "", fmt.Errorf("%s --version: %q, %w: want Node 22 (npm's node package for %s/%s)", node, out, err, runtime.GOOS, runtime.GOARCH)
	}
	if err := copyFile(filepath.Join(postgraphileDir, "graphile.config.mjs"), filepath.Join(dir, "graphile.config.mjs")); err != nil {
		return "", err
	}
	return dir, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// syncBuffer is a bytes.Buffer safe for a process's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// typicalAnswer is what both servers' answers to the typical query say,
// in a common shape: the collection's floor and volumes and its 50 rarest
// tokens with their traits and frequencies.
type typicalAnswer struct {
	Floor   string
	Volumes []string
	Tokens  []string
}

// requireSameAnswer checks that PostGraphile's answer to its typical query
// holds what ours does, so the baseline does the same work.
func requireSameAnswer(b *testing.B, client *http.Client, ours, pg string, pgQuery string, slug string) {
	b.Helper()
	post := func(url, query string) []byte {
		body, err := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"slug": slug}})
		require.NoError(b, err)
		req, err := http.NewRequest(http.MethodPost, url+"/graphql", bytes.NewReader(body))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+readToken) // PostGraphile ignores it
		resp, err := client.Do(req)
		require.NoError(b, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode, "%s", raw)
		return raw
	}
	type trait struct {
		Type, Value, TraitType, ValueText string
		Frequency                         float64
	}
	type token struct {
		TokenID, Name, ImageURL string
		Rank                    int
		Score                   float64
		Traits                  []trait
	}
	shape := func(floor string, vols [][2]any, toks []token) typicalAnswer {
		a := typicalAnswer{Floor: floor}
		for _, v := range vols {
			a.Volumes = append(a.Volumes, fmt.Sprint(v[0], " ", v[1]))
		}
		for _, t := range toks {
			s := fmt.Sprintf("%d %s %s %s %g:", t.Rank, t.TokenID, t.Name, t.ImageURL, t.Score)
			for _, tr := range t.Traits {
				s += fmt.Sprintf(" %s%s=%s%s@%g", tr.Type, tr.TraitType, tr.Value, tr.ValueText, tr.Frequency)
			}
			a.Tokens = append(a.Tokens, s)
		}
		return a
	}

	var o struct {
		Data struct {
			Collection struct {
				Floor   struct{ Amount string }
				Volumes []struct{ Window, Amount string }
			}
			Tokens struct {
				Edges []struct {
					Node struct {
						TokenID, Name, ImageURL string
						Rarity                  struct {
							Rank  int
							Score float64
						}
						Traits []trait
					}
				}
			}
		}
	}
	require.NoError(b, json.Unmarshal(post(ours, typicalQuery), &o))
	var ovols [][2]any
	for _, v := range o.Data.Collection.Volumes {
		ovols = append(ovols, [2]any{strings.ToLower(v.Window), v.Amount})
	}
	var otoks []token
	for _, e := range o.Data.Tokens.Edges {
		n := e.Node
		otoks = append(otoks, token{TokenID: n.TokenID, Name: n.Name, ImageURL: n.ImageURL, Rank: n.Rarity.Rank, Score: n.Rarity.Score, Traits: n.Traits})
	}

	var p struct {
		Data struct {
			AllCollections struct {
				Nodes []struct {
					FloorPriceLatestsByCollectionID struct{ Nodes []struct{ Amount string } } `json:"floorPriceLatestsByCollectionId"`
					VolumeLatestsByCollectionID     struct {
						Nodes []struct{ TimeWindow, Amount string }
					} `json:"volumeLatestsByCollectionId"`
					RarityRunsByCollectionID struct {
						Nodes []struct {
							TokenRaritiesByRunID struct {
								Nodes []struct {
									Rank  int
									Score float64
									Token struct {
										TokenID, Name, ImageURL string
										Traits                  struct{ Nodes []trait }
									}
								}
							} `json:"tokenRaritiesByRunId"`
						}
					} `json:"rarityRunsByCollectionId"`
				}
			}
		}
	}
	raw := post(pg, pgQuery)
	require.NoError(b, json.Unmarshal(raw, &p))
	require.Len(b, p.Data.AllCollections.Nodes, 1, "PostGraphile: %.500s", raw)
	c := p.Data.AllCollections.Nodes[0]
	require.Len(b, c.FloorPriceLatestsByCollectionID.Nodes, 1)
	require.Len(b, c.RarityRunsByCollectionID.Nodes, 1)
	var pvols [][2]any
	for _, v := range c.VolumeLatestsByCollectionID.Nodes {
		pvols = append(pvols, [2]any{v.TimeWindow, v.Amount})
	}
	var ptoks []token
	for _, n := range c.RarityRunsByCollectionID.Nodes[0].TokenRaritiesByRunID.Nodes {
		ptoks = append(ptoks, token{TokenID: n.Token.TokenID, Name: n.Token.Name, ImageURL: n.Token.ImageURL, Rank: n.Rank, Score: n.Score, Traits: n.Token.Traits.Nodes})
	}
	want := shape(o.Data.Collection.Floor.Amount, ovols, otoks)
	require.Len(b, want.Tokens, 50)
	require.Equal(b, want, shape(c.FloorPriceLatestsByCollectionID.Nodes[0].Amount, pvols, ptoks), "PostGraphile's answer differs from ours")
}
