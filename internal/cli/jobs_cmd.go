package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/clip"
)

// Jobs is `nftsync jobs list|get|retry|cancel|stats`: the admin
// package's job operations (the same the API's jobs, jobStats, retryJob and
// cancelJob run), as tables or --json.
func Jobs(ctx context.Context, cfg *Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: jobs needs list, get, retry, cancel or stats", ErrUsage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet("jobs "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	kind := fs.String("kind", "", "only jobs of this kind")
	state := fs.String("state", "", "only jobs in this state")
	queue := fs.String("queue", "", "only jobs of this queue")
	limit := fs.Int("limit", 50, "most jobs to list")
	after := fs.String("after", "", "cursor printed after the previous page")
	if err := fs.Parse(reorderFlags(args[1:])); err != nil {
		return fmt.Errorf("%w: jobs %s: %w", ErrUsage, cmd, err)
	}
	var id int64
	switch cmd {
	case "get", "retry", "cancel":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: jobs %s needs one job id", ErrUsage, cmd)
		}
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("jobs %s: %q is not a job id", cmd, fs.Arg(0))
		}
		id = n
	case "list", "stats":
	default:
		return fmt.Errorf("%w: unknown jobs command %q", ErrUsage, cmd)
	}
	svc, pool, err := openAdmin(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	switch cmd {
	case "list":
		page, err := svc.Jobs(ctx, admin.JobFilter{Kind: *kind, State: *state, Queue: *queue, First: *limit, After: *after})
		if err != nil {
			return fmt.Errorf("jobs list: %w", err)
		}
		if *asJSON {
			out := struct {
				Jobs        []jobJSON `json:"jobs"`
				EndCursor   string    `json:"end_cursor"`
				HasNextPage bool      `json:"has_next_page"`
			}{Jobs: []jobJSON{}, EndCursor: page.EndCursor, HasNextPage: page.HasNextPage}
			for _, j := range page.Jobs {
				out.Jobs = append(out.Jobs, toJobJSON(j))
			}
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPT\tSCHEDULED\tARGS\tLAST_ERROR")
		for _, j := range page.Jobs {
			_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.State, j.Attempt, j.MaxAttempts,
				j.ScheduledAt.UTC().Format(time.RFC3339), oneLine(string(j.EncodedArgs), 60), oneLine(lastError(j), 60))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.HasNextPage {
			_, _ = fmt.Fprintf(stdout, "more: nftsync jobs list -after %s\n", page.EndCursor)
		}
		return nil
	case "stats":
		st, err := svc.JobStats(ctx)
		if err != nil {
			return fmt.Errorf("jobs stats: %w", err)
		}
		if *asJSON {
			return writeJSON(stdout, toStatsJSON(st))
		}
		return printStats(stdout, st)
	}
	var j *rivertype.JobRow
	switch cmd {
	case "get":
		j, err = svc.Job(ctx, id)
	case "retry":
		j, err = svc.RetryJob(ctx, cfg.API.Actor, id)
	case "cancel":
		j, err = svc.CancelJob(ctx, cfg.API.Actor, id)
	}
	if err != nil {
		return fmt.Errorf("jobs %s: %w", cmd, err)
	}
	if *asJSON {
		return writeJSON(stdout, toJobJSON(j))
	}
	return printJob(stdout, j)
}

// jobJSON is a job in --json output (snake_case, RFC 3339 times).
type jobJSON struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       string          `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Priority    int             `json:"priority"`
	Args        json.RawMessage `json:"args"`
	Errors      []jobErrorJSON  `json:"errors"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	AttemptedAt *time.Time      `json:"attempted_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
	AttemptedBy []string        `json:"attempted_by"`
}

type jobErrorJSON struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

func toJobJSON(j *rivertype.JobRow) jobJSON {
	out := jobJSON{ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: string(j.State), Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Priority: j.Priority, Args: json.RawMessage(j.EncodedArgs), Errors: []jobErrorJSON{}, CreatedAt: j.CreatedAt,
		ScheduledAt: j.ScheduledAt, AttemptedAt: j.AttemptedAt, FinalizedAt: j.FinalizedAt, AttemptedBy: j.AttemptedBy}
	if len(out.Args) == 0 {
		out.Args = json.RawMessage("{}")
	}
	if out.AttemptedBy == nil {
		out.AttemptedBy = []string{}
	}
	for _, e := range j.Errors {
		out.Errors = append(out.Errors, jobErrorJSON{At: e.At, Attempt: e.Attempt, Error: e.Error})
	}
	return out
}

type statsJSON struct {
	ByState map[string]int `json:"by_state"`
	ByKind  []struct {
		Kind    string `json:"kind"`
		State   string `json:"state"`
		Count   int    `json:"count"`
		AtLeast bool   `json:"at_least,omitempty"`
	} `json:"by_kind"`
	Queues []struct {
		Name                      string  `json:"name"`
		Available                 int64   `json:"available"`
		Running                   int64   `json:"running"`
		Paused                    bool    `json:"paused"`
		OldestAvailableAgeSeconds float64 `json:"oldest_available_age_seconds"`
	} `json:"queues"`
}

func toStatsJSON(st *admin.JobStats) statsJSON {
	out := statsJSON{ByState: map[string]int{}}
	for _, s := range rivertype.JobStates() {
		out.ByState[string(s)] = st.ByState[s]
	}
	for _, k := range st.ByKind {
		out.ByKind = append(out.ByKind, struct {
			Kind    string `json:"kind"`
			State   string `json:"state"`
			Count   int    `json:"count"`
			AtLeast bool   `json:"at_least,omitempty"`
		}{k.Kind, string(k.State), k.Count, k.AtLeast})
	}
	for _, q := range st.Queues {
		out.Queues = append(out.Queues, struct {
			Name                      string  `json:"name"`
			Available                 int64   `json:"available"`
			Running                   int64   `json:"running"`
			Paused                    bool    `json:"paused"`
			OldestAvailableAgeSeconds float64 `json:"oldest_available_age_seconds"`
		}{q.Name, q.Available, q.Running, q.Paused, q.OldestAvailableAge.Seconds()})
	}
	return out
}

func printStats(w io.Writer, st *admin.JobStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "STATE\tJOBS")
	for _, s := range rivertype.JobStates() {
		_, _ = fmt.Fprintf(tw, "%s\t%d\n", s, st.ByState[s])
	}
	_, _ = fmt.Fprintln(tw, "\nKIND\tSTATE\tJOBS")
	for _, k := range st.ByKind {
		more := ""
		if k.AtLeast { // a finished state beyond the listing bound
			more = "+"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%d%s\n", k.Kind, k.State, k.Count, more)
	}
	_, _ = fmt.Fprintln(tw, "\nQUEUE\tAVAILABLE\tRUNNING\tPAUSED\tOLDEST_AVAILABLE")
	for _, q := range st.Queues {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%t\t%s\n", q.Name, q.Available, q.Running, q.Paused, q.OldestAvailableAge.Round(time.Second))
	}
	return tw.Flush()
}

func printJob(w io.Writer, j *rivertype.JobRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { _, _ = fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", strconv.FormatInt(j.ID, 10))
	row("kind", j.Kind)
	row("queue", j.Queue)
	row("state", string(j.State))
	row("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	row("priority", strconv.Itoa(j.Priority))
	row("args", string(j.EncodedArgs))
	row("created", j.CreatedAt.UTC().Format(time.RFC3339))
	row("scheduled", j.ScheduledAt.UTC().Format(time.RFC3339))
	if j.FinalizedAt != nil {
		row("finalized", j.FinalizedAt.UTC().Format(time.RFC3339))
	}
	for _, e := range j.Errors {
		row(fmt.Sprintf("error (attempt %d)", e.Attempt), e.At.UTC().Format(time.RFC3339)+" "+e.Error)
	}
	return tw.Flush()
}

func lastError(j *rivertype.JobRow) string {
	if len(j.Errors) == 0 {
		return ""
	}
	return j.Errors[len(j.Errors)-1].Error
}

// oneLine fits s on one table row of at most n bytes: line breaks become
// spaces and a longer text is cut at a character boundary (clip.Text).
func oneLine(s string, n int) string {
	return clip.Text(strings.ReplaceAll(s, "\n", " "), n)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
