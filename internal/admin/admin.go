// Package admin holds the operator operations of nftsync: tracking,
// untracking, pausing and resuming collections, their refresh intervals, the
// manual refresh (with its cooldown and audit row), and River job inspection,
// retry and cancel. The GraphQL API's mutations and admin queries and the CLI
// (`nftsync collections ...`, `nftsync jobs ...`) both call this package: one
// implementation, two doors.
//
// Every state-changing operation writes an admin_audit row (actor, action,
// collection, detail, River job ids) in the same transaction as its change.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/jobs"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// Error codes of Error, stable for clients (GraphQL extensions.code).
const (
	CodeNotFound   = "NOT_FOUND"
	CodeBadInput   = "BAD_USER_INPUT"
	CodeCooldown   = "REFRESH_COOLDOWN"
	CodeConflict   = "CONFLICT"
	SourceOpenSea  = "opensea"
	DefaultChain   = "ethereum"
	ActionRefresh  = "refresh"
	ActionTrack    = "track"
	ActionUntrack  = "untrack"
	ActionPause    = "pause"
	ActionResume   = "resume"
	ActionInterval = "set_intervals"
	ActionTargets  = "set_targets"
	ActionRetry    = "retry_job"
	ActionCancel   = "cancel_job"
)

// Error is a refusal meant for the operator: its Message is safe to show to
// a client and says what was wrong and, where it helps, what to do.
type Error struct {
	Code    string
	Message string
	// RetryAt is when a refused refresh is allowed again (CodeCooldown).
	RetryAt time.Time
}

func (e *Error) Error() string { return e.Message }

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Service runs the operations. DB and River are required; River may be an
// insert-only client.
type Service struct {
	DB    *pgxpool.Pool
	River *river.Client[pgx.Tx]
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// RefreshCooldown is the least time between two manual refreshes of one
	// collection; 0 disables the cooldown.
	RefreshCooldown time.Duration
	// DefaultIntervals are the refresh intervals of a newly tracked
	// collection, per schedule kind.
	DefaultIntervals map[string]time.Duration
	// AfterRefreshInsert, when set, runs inside a refresh's transaction after
	// the jobs and the audit row are inserted; an error rolls everything
	// back. Tests use it to prove the jobs exist only if the transaction
	// commits.
	AfterRefreshInsert func(ctx context.Context, tx pgx.Tx) error
	// FinishedListLimit bounds how many jobs of each finished state
	// JobStats lists to count per kind (0 = DefaultFinishedListLimit).
	FinishedListLimit int
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// TrackParams describe a collection to track. Empty Source and Chain mean
// opensea and ethereum; Priority 0 means 2; Intervals override the defaults
// for the kinds they name.
type TrackParams struct {
	Slug      string
	Source    string
	Chain     string
	Priority  int
	Intervals map[string]time.Duration
	// TraitsSource is where per-token traits come from (opensea or
	// token_uri); empty keeps a tracked collection's setting.
	TraitsSource string
}

// Track starts tracking a collection (or updates chain and priority of a
// tracked one, keeping its schedule) and schedules every kind, due at once.
func (s *Service) Track(ctx context.Context, actor string, p TrackParams) (db.Collection, error) {
	if p.Source == "" {
		p.Source = SourceOpenSea
	}
	if p.Chain == "" {
		p.Chain = DefaultChain
	}
	if p.Priority == 0 {
		p.Priority = 2
	}
	var c db.Collection
	switch {
	case strings.TrimSpace(p.Slug) == "" || len(p.Slug) > 200:
		return c, newError(CodeBadInput, "slug: want 1 to 200 characters")
	case p.Source != SourceOpenSea:
		return c, newError(CodeBadInput, "source %q: the only source is opensea", p.Source)
	case p.Priority < 1 || p.Priority > 4:
		return c, newError(CodeBadInput, "priority %d: want 1 (most urgent) to 4", p.Priority)
	case p.TraitsSource != "" && p.TraitsSource != indexer.TraitSourceOpenSea && p.TraitsSource != indexer.TraitSourceTokenURI:
		return c, newError(CodeBadInput, "traits source %q: want %s or %s", p.TraitsSource, indexer.TraitSourceOpenSea, indexer.TraitSourceTokenURI)
	}
	if err := validIntervals(p.Intervals); err != nil {
		return c, err
	}
	err := db.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		c, err = q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: p.Source, Slug: p.Slug, Chain: p.Chain, Priority: int16(p.Priority), TraitsSource: p.TraitsSource})
		if err != nil {
			return fmt.Errorf("track %s: %w", p.Slug, err)
		}
		for _, kind := range jobs.ScheduleKinds {
			every := s.DefaultIntervals[kind]
			if d, ok := p.Intervals[kind]; ok {
				every = d
			}
			if every <= 0 {
				every = time.Hour
			}
			if err := q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(every / time.Second)}); err != nil {
				return fmt.Errorf("schedule %s %s: %w", p.Slug, kind, err)
			}
			if _, ok := p.Intervals[kind]; ok {
				if _, err := q.AdminScheduleSetInterval(ctx, db.AdminScheduleSetIntervalParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(every / time.Second)}); err != nil {
					return fmt.Errorf("set interval %s %s: %w", p.Slug, kind, err)
				}
			}
		}
		return s.audit(ctx, q, actor, ActionTrack, &c, map[string]any{"chain": p.Chain, "source": p.Source, "priority": p.Priority, "intervals": seconds(p.Intervals)}, nil)
	})
	return c, err
}

// Untrack stops tracking a collection and deletes it with everything stored
// for it (snapshots, metadata, tokens, rarity). Its audit rows stay.
func (s *Service) Untrack(ctx context.Context, actor, slug string) (db.Collection, error) {
	return s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		if err := q.AdminCollectionDelete(ctx, c.ID); err != nil {
			return fmt.Errorf("untrack %s: %w", slug, err)
		}
		return s.audit(ctx, q, actor, ActionUntrack, c, nil, nil)
	})
}

// Pause stops scheduling a collection until Resume; stored data stays.
func (s *Service) Pause(ctx context.Context, actor, slug, reason string) (db.Collection, error) {
	return s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		if reason == "" {
			reason = "paused by " + actor
		}
		if err := q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "paused", StatusReason: clip.Text(reason, 500)}); err != nil {
			return fmt.Errorf("pause %s: %w", slug, err)
		}
		c.Status, c.StatusReason = "paused", clip.Text(reason, 500)
		return s.audit(ctx, q, actor, ActionPause, c, map[string]any{"reason": reason}, nil)
	})
}

// Resume reactivates a paused or failed collection and makes every kind due
// now.
func (s *Service) Resume(ctx context.Context, actor, slug string) (db.Collection, error) {
	return s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		was := map[string]any{"was": c.Status, "reason": c.StatusReason}
		if err := q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "active", StatusReason: ""}); err != nil {
			return fmt.Errorf("resume %s: %w", slug, err)
		}
		if err := q.ScheduleMakeDue(ctx, c.ID); err != nil {
			return fmt.Errorf("resume %s: %w", slug, err)
		}
		c.Status, c.StatusReason = "active", ""
		return s.audit(ctx, q, actor, ActionResume, c, was, nil)
	})
}

// SetIntervals changes the refresh interval of the given kinds (at least one
// second each). A shorter interval brings the next refresh forward.
func (s *Service) SetIntervals(ctx context.Context, actor, slug string, intervals map[string]time.Duration) (db.Collection, error) {
	if len(intervals) == 0 {
		return db.Collection{}, newError(CodeBadInput, "intervals: give at least one kind")
	}
	if err := validIntervals(intervals); err != nil {
		return db.Collection{}, err
	}
	return s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		for _, kind := range sortedKeys(intervals) {
			n, err := q.AdminScheduleSetInterval(ctx, db.AdminScheduleSetIntervalParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(intervals[kind] / time.Second)})
			if err != nil {
				return fmt.Errorf("set %s interval of %s: %w", kind, slug, err)
			}
			if n == 0 {
				if err := q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(intervals[kind] / time.Second)}); err != nil {
					return fmt.Errorf("schedule %s %s: %w", slug, kind, err)
				}
			}
		}
		return s.audit(ctx, q, actor, ActionInterval, c, map[string]any{"intervals": seconds(intervals)}, nil)
	})
}

// SetTargets sets the collection's freshness targets per kind (the age the
// planner tries to keep it under, see the planner's order); a zero duration
// restores the kind's default from freshness_targets. Audited.
func (s *Service) SetTargets(ctx context.Context, actor, slug string, targets map[string]time.Duration) (db.Collection, error) {
	if len(targets) == 0 {
		return db.Collection{}, newError(CodeBadInput, "targets: give at least one kind")
	}
	set := map[string]time.Duration{}
	for kind, d := range targets {
		if d != 0 {
			set[kind] = d
		} else if !slices.Contains(jobs.ScheduleKinds, kind) {
			return db.Collection{}, newError(CodeBadInput, "target kind %q: want one of %s", kind, strings.Join(jobs.ScheduleKinds, ", "))
		}
	}
	if err := validIntervals(set); err != nil {
		return db.Collection{}, err
	}
	return s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		for _, kind := range sortedKeys(targets) {
			target := pgtype.Int4{Int32: int32(targets[kind] / time.Second), Valid: targets[kind] != 0}
			if err := q.ScheduleSetTarget(ctx, db.ScheduleSetTargetParams{CollectionID: c.ID, Kind: kind, TargetSeconds: target}); err != nil {
				return fmt.Errorf("set %s target of %s: %w", kind, slug, err)
			}
		}
		return s.audit(ctx, q, actor, ActionTargets, c, map[string]any{"targets": seconds(targets)}, nil)
	})
}

// RefreshJob is one job of a manual refresh.
type RefreshJob struct {
	Kind string // schedule kind
	// Source is the source the job asks ("opensea", "subgraph:seaport");
	// JobKind the River job kind (fetch_volume, fetch_source_volume, ...).
	Source  string
	JobKind string
	JobID   int64
	// Duplicate is true when a job of this kind was already pending: that
	// job is reported and no new one inserted.
	Duplicate bool
}

// RefreshResult is what a manual refresh enqueued.
type RefreshResult struct {
	Collection db.Collection
	Jobs       []RefreshJob
	AuditID    int64
	At         time.Time
}

// Refresh enqueues one manual job (priority 1, first on the upstream budget)
// of each kind (every kind when kinds is empty) for an active collection. The
// jobs are inserted with InsertManyTx in the same transaction as the audit
// row, under a lock on the collection row, so two replicas cannot both pass
// the cooldown and a failed transaction leaves no job behind. A refresh
// within RefreshCooldown of the previous one is refused with CodeCooldown,
// saying when it is allowed again.
func (s *Service) Refresh(ctx context.Context, actor, slug string, kinds []string) (*RefreshResult, error) {
	if len(kinds) == 0 {
		kinds = jobs.ScheduleKinds
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	for _, k := range kinds {
		if !slices.Contains(jobs.ScheduleKinds, k) {
			return nil, newError(CodeBadInput, "kind %q: want one of %s", k, strings.Join(jobs.ScheduleKinds, ", "))
		}
	}
	res := &RefreshResult{At: s.now()}
	c, err := s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		if c.Status != "active" {
			return newError(CodeConflict, "collection %q is %s (%s): resume it first", slug, c.Status, c.StatusReason)
		}
		if s.RefreshCooldown > 0 {
			last, err := q.AdminAuditLastRefresh(ctx, pgtype.Int8{Int64: c.ID, Valid: true})
			switch {
			case err == nil:
				if next := last.CreatedAt.Add(s.RefreshCooldown); res.At.Before(next) {
					wait := next.Sub(res.At).Round(time.Second)
					return &Error{Code: CodeCooldown, RetryAt: next.UTC(), Message: fmt.Sprintf(
						"collection %q was refreshed at %s; the next refresh is allowed at %s (in %s; cooldown %s)",
						slug, last.CreatedAt.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), max(wait, time.Second), s.RefreshCooldown)}
				}
			case !errors.Is(db.Interpret(err), db.ErrNotFound):
				return fmt.Errorf("last refresh of %s: %w", slug, err)
			}
		}
		inserted, err := jobargs.InsertRefreshTx(ctx, s.River, tx, c.Slug, jobargs.RefreshOpts{Source: c.Source, Kinds: kinds, Manual: true})
		if err != nil {
			return err
		}
		ids := make([]int64, 0, len(inserted))
		for _, r := range inserted {
			res.Jobs = append(res.Jobs, RefreshJob{Kind: r.RefreshKind, Source: r.Source, JobKind: r.Job.Kind, JobID: r.Job.ID, Duplicate: r.UniqueSkippedAsDuplicate})
			ids = append(ids, r.Job.ID)
		}
		a, err := s.auditRow(ctx, q, actor, ActionRefresh, c, map[string]any{"kinds": kinds}, ids)
		if err != nil {
			return err
		}
		res.AuditID = a.ID
		if s.AfterRefreshInsert != nil {
			return s.AfterRefreshInsert(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Collection = c
	return res, nil
}

// withCollection runs fn in a transaction with the collection row locked.
func (s *Service) withCollection(ctx context.Context, slug string, fn func(tx pgx.Tx, q *db.Queries, c *db.Collection) error) (db.Collection, error) {
	var c db.Collection
	err := db.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		q := db.New(tx)
		found, err := q.APICollectionBySlug(ctx, slug)
		if err != nil {
			if errors.Is(db.Interpret(err), db.ErrNotFound) {
				return newError(CodeNotFound, "collection %q is not tracked", slug)
			}
			return fmt.Errorf("look up %s: %w", slug, err)
		}
		c, err = q.AdminCollectionLock(ctx, db.AdminCollectionLockParams{Source: found.Source, Slug: found.Slug})
		if err != nil {
			if errors.Is(db.Interpret(err), db.ErrNotFound) {
				return newError(CodeNotFound, "collection %q is not tracked", slug)
			}
			return fmt.Errorf("lock %s: %w", slug, err)
		}
		return fn(tx, q, &c)
	})
	return c, err
}

func (s *Service) audit(ctx context.Context, q *db.Queries, actor, action string, c *db.Collection, detail map[string]any, jobIDs []int64) error {
	_, err := s.auditRow(ctx, q, actor, action, c, detail, jobIDs)
	return err
}

func (s *Service) auditRow(ctx context.Context, q *db.Queries, actor, action string, c *db.Collection, detail map[string]any, jobIDs []int64) (db.AdminAudit, error) {
	if detail == nil {
		detail = map[string]any{}
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return db.AdminAudit{}, fmt.Errorf("encode audit detail: %w", err)
	}
	p := db.AdminAuditInsertParams{Actor: actor, Action: action, Detail: raw, JobIds: jobIDs, CreatedAt: s.now()}
	if jobIDs == nil {
		p.JobIds = []int64{}
	}
	if c != nil {
		p.CollectionID, p.Slug = pgtype.Int8{Int64: c.ID, Valid: true}, c.Slug
	}
	a, err := q.AdminAuditInsert(ctx, p)
	if err != nil {
		return a, fmt.Errorf("write audit row (%s): %w", action, err)
	}
	return a, nil
}

func validIntervals(m map[string]time.Duration) error {
	for kind, d := range m {
		if !slices.Contains(jobs.ScheduleKinds, kind) {
			return newError(CodeBadInput, "interval kind %q: want one of %s", kind, strings.Join(jobs.ScheduleKinds, ", "))
		}
		if d < time.Second || d > 365*24*time.Hour {
			return newError(CodeBadInput, "interval of %s: %s: want 1s to 365 days", kind, d)
		}
	}
	return nil
}

func seconds(m map[string]time.Duration) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, d := range m {
		out[k] = int64(d / time.Second)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
