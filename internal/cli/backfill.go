package cli

import (
	"bufio"
	"context"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// slugPattern is what a collection slug may look like (OpenSea slugs are
// lower-case words joined by dashes; we accept a little more).
var slugPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Backfill tracks many collections and enqueues their fetch jobs at bulk
// priority, then (unless --no-wait) follows the workers until every one is
// complete or failed. Collections are tracked and enqueued one transaction
// each, and a second run enqueues only what is still missing, so an
// interrupted run is finished by running it again.
func Backfill(ctx context.Context, cfg *Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fromFile := fs.String("from-file", "", "file with one collection slug per line (# comments)")
	fromSim := fs.Int("from-sim", 0, "the first N collections the simulator at NFTSYNC_OPENSEA_URL lists")
	noWait := fs.Bool("no-wait", false, "track and enqueue, then exit without following progress")
	logEvery := fs.Duration("log-every", 10*time.Second, "progress line interval when stdout is not a terminal")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: backfill: %w", ErrUsage, err)
	}
	if (*fromFile == "") == (*fromSim <= 0) || fs.NArg() > 0 {
		return fmt.Errorf("%w: backfill needs exactly one of --from-file FILE or --from-sim N", ErrUsage)
	}
	var slugs []string
	var err error
	if *fromFile != "" {
		slugs, err = readSlugFile(*fromFile)
	} else {
		slugs, err = simSlugs(ctx, cfg.OpenSeaURL, *fromSim, cfg.HTTPTimeout)
	}
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
	if err != nil {
		return err
	}
	defer pool.Close()

	enq, err := enqueueBackfill(ctx, pool, cfg, slugs)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("backfill interrupted while enqueuing (%w); run the same command again to finish", err)
		}
		return err
	}
	_, _ = fmt.Fprintf(stdout, "backfill: %d collections tracked at bulk priority, %d jobs enqueued, %d already complete, %d inactive (resume them with `nftsync collections resume`)\n",
		len(slugs), enq.jobs, enq.complete, enq.inactive)
	if *noWait {
		return nil
	}
	return followBackfill(ctx, pool, slugs, stdout, *logEvery)
}

// readSlugFile reads one slug per line; blank lines and # comments are
// skipped, duplicates dropped, and a malformed line stops with its number.
func readSlugFile(path string) ([]string, error) {
	f, err := os.Open(path) //nolint:gosec // the operator names the file to read
	if err != nil {
		return nil, fmt.Errorf("backfill: %w", err)
	}
	defer func() { _ = f.Close() }()
	var slugs []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if !slugPattern.MatchString(line) {
			return nil, fmt.Errorf("backfill: %s:%d: %q is not a collection slug", path, n, line)
		}
		if !seen[line] {
			seen[line] = true
			slugs = append(slugs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("backfill: read %s: %w", path, err)
	}
	if len(slugs) == 0 {
		return nil, fmt.Errorf("backfill: %s lists no collections", path)
	}
	return slugs, nil
}

// simSlugs asks the simulator for its collections and returns the first n.
func simSlugs(ctx context.Context, baseURL string, n int, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/_sim/collections", nil)
	if err != nil {
		return nil, fmt.Errorf("backfill: simulator URL: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backfill: list simulator collections at %s: %w", baseURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backfill: list simulator collections at %s: HTTP %d (is NFTSYNC_OPENSEA_URL the simulator?)", baseURL, resp.StatusCode)
	}
	var body struct {
		Collections []struct {
			Slug string `json:"slug"`
		} `json:"collections"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("backfill: decode simulator collections: %w", err)
	}
	if len(body.Collections) < n {
		return nil, fmt.Errorf("backfill: --from-sim %d: the simulator has only %d collections", n, len(body.Collections))
	}
	slugs := make([]string, 0, n)
	for _, c := range body.Collections[:n] {
		slugs = append(slugs, c.Slug)
	}
	return slugs, nil
}

type enqueued struct{ jobs, complete, inactive int }

// missingKinds lists the schedule kinds with nothing stored yet.
func missingKinds(p db.BackfillProgressRow) []string {
	var kinds []string
	if !p.HasFloor {
		kinds = append(kinds, jobs.RefreshFloorPrice)
	}
	if !p.HasVolume {
		kinds = append(kinds, jobs.RefreshVolume)
	}
	if !p.HasMetadata {
		kinds = append(kinds, jobs.RefreshMetadata)
	}
	if !p.TokensComplete {
		kinds = append(kinds, jobs.RefreshTokens)
	}
	return kinds
}

// enqueueBackfill tracks each new collection (at bulk priority, so the
// planner's later refreshes of it stay behind live work too) and inserts bulk
// jobs for the kinds it still lacks, one transaction per collection.
func enqueueBackfill(ctx context.Context, pool *pgxpool.Pool, cfg *Config, slugs []string) (enqueued, error) {
	var out enqueued
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return out, fmt.Errorf("create river client: %w", err)
	}
	before, err := backfillProgress(ctx, pool, slugs)
	if err != nil {
		return out, err
	}
	for _, slug := range slugs {
		p, known := before[slug]
		if known && p.Status != "active" {
			out.inactive++
			continue
		}
		kinds := jobs.ScheduleKinds
		if known {
			kinds = missingKinds(p)
		}
		if len(kinds) == 0 {
			out.complete++
			continue
		}
		id := p.ID
		if !known {
			// New collections are tracked at bulk priority; ones already
			// tracked keep theirs.
			c, err := trackCollection(ctx, pool, cfg, "opensea", slug, "ethereum", jobs.PriorityBulk, "")
			if err != nil {
				return out, err
			}
			id = c.ID
		}
		err = db.WithTx(ctx, pool, func(tx pgx.Tx) error {
			n, err := jobs.EnqueueBulk(ctx, tx, client, id, kinds, time.Now())
			out.jobs += n
			return err
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func backfillProgress(ctx context.Context, pool *pgxpool.Pool, slugs []string) (map[string]db.BackfillProgressRow, error) {
	rows, err := db.New(pool).BackfillProgress(ctx, db.BackfillProgressParams{Source: "opensea", Slugs: slugs})
	if err != nil {
		return nil, fmt.Errorf("backfill progress: %w", err)
	}
	m := make(map[string]db.BackfillProgressRow, len(rows))
	for _, r := range rows {
		m[r.Slug] = r
	}
	return m, nil
}

// backfillStatus is one look at the backfill's collections.
type backfillStatus struct {
	total, complete, failed int
	tokens                  int64
	rateWait                time.Duration
}

func (s backfillStatus) done() int { return s.complete + s.failed }

func readBackfillStatus(ctx context.Context, pool *pgxpool.Pool, slugs []string) (backfillStatus, error) {
	st := backfillStatus{total: len(slugs)}
	m, err := backfillProgress(ctx, pool, slugs)
	if err != nil {
		return st, err
	}
	for _, p := range m {
		st.tokens += p.Tokens
		switch {
		case p.Status != "active":
			st.failed++
		case len(missingKinds(p)) == 0:
			st.complete++
		}
	}
	secs, err := db.New(pool).RateLimitPausedSeconds(ctx)
	if err != nil {
		return st, fmt.Errorf("backfill progress: %w", err)
	}
	st.rateWait = time.Duration(secs * float64(time.Second)).Round(time.Second)
	return st, nil
}

// followBackfill reports progress until every collection is complete or
// failed: a progress bar when stdout is a terminal, a line every logEvery
// otherwise. Interrupting it stops only the reporting: the jobs stay queued
// and the workers finish them.
func followBackfill(ctx context.Context, pool *pgxpool.Pool, slugs []string, stdout io.Writer, logEvery time.Duration) error {
	start := time.Now()
	first, err := readBackfillStatus(ctx, pool, slugs)
	if err != nil {
		return err
	}
	tty := false
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	var bar *progressbar.ProgressBar
	poll := logEvery
	if tty {
		poll = time.Second
		bar = progressbar.NewOptions(len(slugs), progressbar.OptionSetWriter(stdout),
			progressbar.OptionSetDescription("backfill"), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(), progressbar.OptionShowElapsedTimeOnFinish())
	}
	lastChange, lastDone, lastTokens := time.Now(), -1, int64(-1)
	st := first
	for {
		rate := float64(st.tokens-first.tokens) / max(time.Since(start).Seconds(), 1e-3)
		if bar != nil {
			bar.Describe(fmt.Sprintf("collections (tokens %d, %.0f/s, rate-limit wait %s)", st.tokens, rate, st.rateWait))
			_ = bar.Set(st.done())
		} else {
			eta := "unknown"
			if d := st.done() - first.done(); d > 0 {
				eta = (time.Duration(float64(time.Since(start)) / float64(d) * float64(st.total-st.done()))).Round(time.Second).String()
			}
			_, _ = fmt.Fprintf(stdout, "backfill: %d/%d collections complete, %d failed, tokens %d (%.0f/s), rate-limit wait %s, eta %s\n",
				st.complete, st.total, st.failed, st.tokens, rate, st.rateWait, eta)
		}
		if st.done() >= st.total {
			if bar != nil {
				_ = bar.Finish()
				_, _ = fmt.Fprintln(stdout)
			}
			_, _ = fmt.Fprintf(stdout, "backfill: done in %s: %d complete, %d failed (see `nftsync collections list`)\n",
				time.Since(start).Round(time.Second), st.complete, st.failed)
			return nil
		}
		if st.done() != lastDone || st.tokens != lastTokens {
			lastChange, lastDone, lastTokens = time.Now(), st.done(), st.tokens
		} else if time.Since(lastChange) > 2*time.Minute && bar == nil {
			_, _ = fmt.Fprintln(stdout, "backfill: no progress for 2 minutes: are workers (`nftsync worker`) running against this database?")
			lastChange = time.Now()
		}
		select {
		case <-ctx.Done():
			if bar != nil {
				_, _ = fmt.Fprintln(stdout)
			}
			return fmt.Errorf("backfill interrupted with %d of %d collections done; the jobs stay queued, run the same command again to follow or finish it", st.done(), st.total)
		case <-time.After(poll):
		}
		if st, err = readBackfillStatus(ctx, pool, slugs); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
	}
}
