package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// MaxJobPage is the largest page of jobs one call returns.
const MaxJobPage = 500

// JobFilter selects jobs; empty fields match every job.
type JobFilter struct {
	Kind  string
	State string
	Queue string
	// First is the page size (1..MaxJobPage; 0 means 50).
	First int
	// After is the cursor of the previous page's last job ("" = first page).
	After string
}

// JobPage is one page of jobs, newest (highest id) first.
type JobPage struct {
	Jobs []*rivertype.JobRow
	// EndCursor continues after the last job ("" when the page is not full:
	// nothing follows).
	EndCursor string
	// HasNextPage is true when more jobs follow.
	HasNextPage bool
}

// Jobs lists River's jobs through River's client API (JobList), newest
// first.
func (s *Service) Jobs(ctx context.Context, f JobFilter) (*JobPage, error) {
	if f.First == 0 {
		f.First = 50
	}
	if f.First < 1 || f.First > MaxJobPage {
		return nil, newError(CodeBadInput, "first %d: want 1 to %d", f.First, MaxJobPage)
	}
	p := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(f.First)
	if f.Kind != "" {
		p = p.Kinds(f.Kind)
	}
	if f.Queue != "" {
		p = p.Queues(f.Queue)
	}
	if f.State != "" {
		st, err := ParseJobState(f.State)
		if err != nil {
			return nil, err
		}
		p = p.States(st)
	} else {
		p = p.States(rivertype.JobStates()...)
	}
	if f.After != "" {
		var cur river.JobListCursor
		if err := cur.UnmarshalText([]byte(f.After)); err != nil {
			return nil, newError(CodeBadInput, "after: not a job cursor from this API")
		}
		p = p.After(&cur)
	}
	res, err := s.River.JobList(ctx, p)
	if err != nil {
		if strings.Contains(err.Error(), "cursor") {
			return nil, newError(CodeBadInput, "after: cursor does not fit this listing (%v)", err)
		}
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	page := &JobPage{Jobs: res.Jobs}
	if len(res.Jobs) == f.First && res.LastCursor != nil {
		text, err := res.LastCursor.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("encode job cursor: %w", err)
		}
		page.EndCursor = string(text)
		more, err := s.River.JobList(ctx, p.After(res.LastCursor).First(1))
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		page.HasNextPage = len(more.Jobs) > 0
	}
	return page, nil
}

// Job returns one job by id.
func (s *Service) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	j, err := s.River.JobGet(ctx, id)
	if err != nil {
		return nil, jobError(err, id, "get")
	}
	return j, nil
}

// RetryJob makes a job that is not running available again (River adds an
// attempt if they were used up) and audits it.
func (s *Service) RetryJob(ctx context.Context, actor string, id int64) (*rivertype.JobRow, error) {
	j, err := s.River.JobRetry(ctx, id)
	if err != nil {
		return nil, jobError(err, id, "retry")
	}
	return j, s.auditJob(ctx, actor, ActionRetry, j)
}

// CancelJob cancels a queued job at once, or asks a running one to stop, and
// audits it.
func (s *Service) CancelJob(ctx context.Context, actor string, id int64) (*rivertype.JobRow, error) {
	j, err := s.River.JobCancel(ctx, id)
	if err != nil {
		return nil, jobError(err, id, "cancel")
	}
	return j, s.auditJob(ctx, actor, ActionCancel, j)
}

func (s *Service) auditJob(ctx context.Context, actor, action string, j *rivertype.JobRow) error {
	return s.audit(ctx, db.New(s.DB), actor, action, nil, map[string]any{"kind": j.Kind, "state": string(j.State)}, []int64{j.ID})
}

func jobError(err error, id int64, op string) error {
	if errors.Is(err, rivertype.ErrNotFound) {
		return newError(CodeNotFound, "job %d does not exist", id)
	}
	return fmt.Errorf("%s job %d: %w", op, id, err)
}

// ParseJobState accepts a River job state in any case.
func ParseJobState(s string) (rivertype.JobState, error) {
	st := rivertype.JobState(strings.ToLower(s))
	if !slices.Contains(rivertype.JobStates(), st) {
		names := make([]string, 0, len(rivertype.JobStates()))
		for _, s := range rivertype.JobStates() {
			names = append(names, string(s))
		}
		return "", newError(CodeBadInput, "state %q: want one of %s", s, strings.Join(names, ", "))
	}
	return st, nil
}

// JobStats is a summary of River's job table.
type JobStats struct {
	// ByState counts every job per state.
	ByState map[rivertype.JobState]int
	// ByKind counts jobs per kind and state, the finished states River
	// keeps (completed, cancelled, discarded, until its retention periods
	// delete them) included. River's client API has no per-kind count, so
	// they are counted by listing jobs: every unfinished job, and the most
	// recent DefaultFinishedListLimit (Service.FinishedListLimit) jobs of
	// each finished state. Beyond that
	// bound a finished state's per-kind counts are lower bounds (AtLeast);
	// ByState has its exact total.
	ByKind []KindCount
	// Queues has, per queue, its available and running jobs and the age of
	// its oldest available job.
	Queues []QueueStats
}

// KindCount is how many jobs of a kind are in a state.
type KindCount struct {
	Kind  string
	State rivertype.JobState
	Count int
	// AtLeast says Count stopped at the listing bound (finished states
	// only): there are at least Count such jobs.
	AtLeast bool
}

// QueueStats describes one queue.
type QueueStats struct {
	Name      string
	Available int64
	Running   int64
	Paused    bool
	// OldestAvailableAge is how long the oldest available job has been due
	// (0 when none is available).
	OldestAvailableAge time.Duration
}

// unfinished are the states JobStats counts per kind in full.
var unfinished = []rivertype.JobState{ //nolint:gochecknoglobals // read-only
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// finished are the states JobStats counts per kind up to a bound.
var finished = []rivertype.JobState{ //nolint:gochecknoglobals // read-only
	rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded,
}

// DefaultFinishedListLimit is how many jobs of each finished state JobStats
// lists to count them per kind (the most recent ones), unless
// Service.FinishedListLimit says otherwise. A busy deployment keeps far
// more completed jobs than that for a day; listing them all would cost a
// scan of the table on every call.
const DefaultFinishedListLimit = 10000

// JobStats reads River's counts through its client and driver API (the same
// calls River UI makes), never with SQL of our own on River's tables.
func (s *Service) JobStats(ctx context.Context) (*JobStats, error) {
	exec := s.River.Driver().GetExecutor()
	byState, err := exec.JobCountByAllStates(ctx, &riverdriver.JobCountByAllStatesParams{Schema: s.River.Schema()})
	if err != nil {
		return nil, fmt.Errorf("count jobs by state: %w", err)
	}
	st := &JobStats{ByState: byState}
	counts := map[[2]string]int{}
	bounded := map[rivertype.JobState]bool{}
	finishedLimit := cmp.Or(s.FinishedListLimit, DefaultFinishedListLimit)
	// count lists the jobs in states (newest first), up to limit (0 = all).
	count := func(states []rivertype.JobState, limit int) (int, error) {
		const page = 5000
		p := river.NewJobListParams().States(states...).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(page)
		seen := 0
		for {
			if limit > 0 {
				p = p.First(min(page, limit-seen))
			}
			res, err := s.River.JobList(ctx, p)
			if err != nil {
				return 0, err
			}
			for _, j := range res.Jobs {
				counts[[2]string{j.Kind, string(j.State)}]++
			}
			seen += len(res.Jobs)
			if len(res.Jobs) < page || (limit > 0 && seen >= limit) || res.LastCursor == nil {
				return seen, nil
			}
			p = p.After(res.LastCursor)
		}
	}
	if _, err := count(unfinished, 0); err != nil {
		return nil, fmt.Errorf("list unfinished jobs: %w", err)
	}
	for _, state := range finished {
		if byState[state] == 0 {
			continue
		}
		n, err := count([]rivertype.JobState{state}, finishedLimit)
		if err != nil {
			return nil, fmt.Errorf("list %s jobs: %w", state, err)
		}
		bounded[state] = n >= finishedLimit && n < byState[state]
	}
	for k, n := range counts {
		state := rivertype.JobState(k[1])
		st.ByKind = append(st.ByKind, KindCount{Kind: k[0], State: state, Count: n, AtLeast: bounded[state]})
	}
	slices.SortFunc(st.ByKind, func(a, b KindCount) int {
		return strings.Compare(a.Kind+"\x00"+string(a.State), b.Kind+"\x00"+string(b.State))
	})

	queues, err := s.River.QueueList(ctx, river.NewQueueListParams().First(10000))
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	names := make([]string, 0, len(queues.Queues))
	paused := map[string]bool{}
	for _, q := range queues.Queues {
		names = append(names, q.Name)
		paused[q.Name] = q.PausedAt != nil
	}
	// Queues nftsync works are listed even before a worker registered them.
	for q := range jobs.DefaultMaxWorkers() {
		if !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	qc, err := exec.JobCountByQueueAndState(ctx, &riverdriver.JobCountByQueueAndStateParams{QueueNames: names, Schema: s.River.Schema()})
	if err != nil {
		return nil, fmt.Errorf("count jobs by queue: %w", err)
	}
	now := s.now()
	for _, c := range qc {
		q := QueueStats{Name: c.Queue, Available: c.CountAvailable, Running: c.CountRunning, Paused: paused[c.Queue]}
		if c.CountAvailable > 0 {
			oldest, err := s.River.JobList(ctx, river.NewJobListParams().Queues(c.Queue).States(rivertype.JobStateAvailable).
				OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).First(1))
			if err != nil {
				return nil, fmt.Errorf("oldest available job of %s: %w", c.Queue, err)
			}
			if len(oldest.Jobs) == 1 {
				q.OldestAvailableAge = max(0, now.Sub(oldest.Jobs[0].ScheduledAt))
			}
		}
		st.Queues = append(st.Queues, q)
	}
	slices.SortFunc(st.Queues, func(a, b QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}
