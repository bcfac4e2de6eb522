package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nftsync/nftsync/db"
)

// Defaults of Options.
const (
	DefaultMaxWait        = 2 * time.Second
	DefaultLeaseTTL       = time.Minute
	DefaultSlotPoll       = 50 * time.Millisecond
	DefaultSlotRetryAfter = time.Second
	DefaultPause          = 2 * time.Second
	DefaultMaxPause       = 5 * time.Minute
	DefaultSpareSlack     = 250 * time.Millisecond
)

const (
	// priorityHoldSlack is how long a priority hold outlasts the wait it was
	// computed for, to cover the waiter's wake-up and round trip.
	priorityHoldSlack = 100 * time.Millisecond
	// releaseTimeout bounds Release, which runs even when the caller's ctx
	// is already cancelled.
	releaseTimeout = 5 * time.Second
	// statementTimeout bounds one acquire statement, which runs to its end
	// even when the caller's ctx is cancelled meanwhile.
	statementTimeout = 5 * time.Second
	// minSleep keeps a retry loop from spinning on a wait that rounds to 0.
	minSleep = 500 * time.Microsecond
)

// ErrNoBucket is returned (wrapped) by Acquire when the source has no bucket
// (or none of Request.Keys exists): Ensure was not called for it.
var ErrNoBucket = errors.New("no rate limit bucket configured")

// Options configure a Limiter. The zero value is usable.
type Options struct {
	// Logger receives pauses, reclaimed leases and configuration changes.
	// Nil discards.
	Logger *slog.Logger
	// Now is the local clock, used only to turn absolute times (Pause's
	// until, a response's X-RateLimit-Reset) into durations, which are then
	// applied on the database clock. Nil means time.Now.
	Now func() time.Time
	// MaxWait is the longest Acquire waits in total before it gives up with
	// a *WaitError. 0 means DefaultMaxWait; negative means never wait.
	MaxWait time.Duration
	// LeaseTTL is how long a lease holds its slot when it is never released
	// (its process crashed). It must exceed the longest upstream call.
	// 0 means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// SlotPoll is how often Acquire retries while every slot is taken.
	// 0 means DefaultSlotPoll.
	SlotPoll time.Duration
	// SlotRetryAfter is the RetryAfter reported when Acquire gives up
	// because slots stayed taken (their release time is unknown).
	// 0 means DefaultSlotRetryAfter.
	SlotRetryAfter time.Duration
	// DefaultPause is how long PauseOnError and Observe pause a bucket on a
	// rate-limited response that gave no wait. 0 means DefaultPause.
	DefaultPause time.Duration
	// MaxPause caps every pause upstream asks for (429/599, rate-limit
	// headers). 0 means DefaultMaxPause.
	MaxPause time.Duration
	// KeyRejectedPause is how long a key upstream rejected (401/403) stays
	// out of the pool (RejectKey). 0 means DefaultKeyRejectedPause.
	KeyRejectedPause time.Duration
	// OnNoUsableKeyFunc, when set, is called once per pause when a rejected
	// key leaves its source without a usable key, with the time the first
	// key comes back; metrics count it. It must not block.
	OnNoUsableKeyFunc func(source string, until time.Time)
	// OnAcquireFunc, when set, is called at the end of every Acquire that
	// granted a lease or gave up for want of budget (a *WaitError: the job
	// snoozes); metrics record the waits and the give-ups. Cancelled
	// contexts and database errors are not reported. It must not block.
	OnAcquireFunc func(AcquireEvent)
	// Holder names this process in rate_limit_leases.holder. Empty means
	// "hostname:pid".
	Holder string
	// SpareSlack is how long past its wait a refused live or bulk request
	// is still expected back for a token (its wake-up and round trip; a
	// waiter wakes within milliseconds): ClassSpare requests are refused
	// until then. 0 means DefaultSpareSlack.
	SpareSlack time.Duration
}

// Limiter hands out leases from buckets in PostgreSQL. It is safe for
// concurrent use and holds no state besides its configuration, so any number
// of Limiters (in one or many processes) may share the buckets.
type Limiter struct {
	q              *db.Queries
	log            *slog.Logger
	now            func() time.Time
	maxWait        time.Duration
	leaseTTL       time.Duration
	slotPoll       time.Duration
	slotRetryAfter time.Duration
	defaultPause   time.Duration
	maxPause       time.Duration
	holder         string
	spareSlack     time.Duration

	keyRejectedPause time.Duration
	onNoUsableKey    func(source string, until time.Time)
	onAcquire        func(AcquireEvent)

	gatesMu sync.Mutex
	gates   map[gateKey]chan struct{}

	adopted adoptions
}

// New returns a Limiter on pool. Pass a pool (or a single connection used by
// nothing else), never a transaction: each statement must commit on its own.
// New fails on negative durations other than MaxWait.
func New(pool db.DBTX, opts Options) (*Limiter, error) {
	if pool == nil {
		return nil, errors.New("ratelimit: nil database pool")
	}
	for name, d := range map[string]time.Duration{
		"LeaseTTL": opts.LeaseTTL, "SlotPoll": opts.SlotPoll, "SlotRetryAfter": opts.SlotRetryAfter,
		"DefaultPause": opts.DefaultPause, "MaxPause": opts.MaxPause, "KeyRejectedPause": opts.KeyRejectedPause,
		"SpareSlack": opts.SpareSlack,
	} {
		if d < 0 {
			return nil, fmt.Errorf("ratelimit: Options.%s must not be negative, got %s", name, d)
		}
	}
	l := &Limiter{
		q:              db.New(pool),
		log:            opts.Logger,
		now:            opts.Now,
		maxWait:        orDefault(opts.MaxWait, DefaultMaxWait),
		leaseTTL:       orDefault(opts.LeaseTTL, DefaultLeaseTTL),
		slotPoll:       orDefault(opts.SlotPoll, DefaultSlotPoll),
		slotRetryAfter: orDefault(opts.SlotRetryAfter, DefaultSlotRetryAfter),
		defaultPause:   orDefault(opts.DefaultPause, DefaultPause),
		maxPause:       orDefault(opts.MaxPause, DefaultMaxPause),
		holder:         opts.Holder,
		spareSlack:     orDefault(opts.SpareSlack, DefaultSpareSlack),

		keyRejectedPause: orDefault(opts.KeyRejectedPause, DefaultKeyRejectedPause),
		onNoUsableKey:    opts.OnNoUsableKeyFunc,
		onAcquire:        opts.OnAcquireFunc,
		gates:            map[gateKey]chan struct{}{},
	}
	if l.maxWait < 0 {
		l.maxWait = 0
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.holder == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		l.holder = host + ":" + strconv.Itoa(os.Getpid())
	}
	return l, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Ensure creates the configured buckets or updates their configuration; it
// is meant for process start and is safe to run from every replica at once.
// A new bucket starts full. A changed one keeps its held slots and any
// pause, and its tokens are clamped to the new burst; when MaxInFlight is
// lowered, leases beyond the new cap finish uncounted. Buckets missing from
// cfgs are left alone (an older replica may still use them); Acquire only
// picks keys its caller can serve (Request.Keys). All configurations are
// validated before anything is written.
func (l *Limiter) Ensure(ctx context.Context, cfgs []BucketConfig) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[c.Key] {
			errs = append(errs, fmt.Errorf("ratelimit: bucket %q configured twice", c.Key))
		}
		seen[c.Key] = true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	sorted := slices.Clone(cfgs)
	slices.SortFunc(sorted, func(a, b BucketConfig) int { return cmp.Compare(a.Key, b.Key) })
	for _, c := range sorted {
		rate, burst, rateCap, burstCap := c.start()
		n, err := l.q.RateLimitBucketUpsert(ctx, db.RateLimitBucketUpsertParams{
			Key: c.Key, Source: c.Source, Rate: rate, Burst: burst,
			MaxInFlight: int32(c.MaxInFlight), BulkReserve: c.BulkReserve,
			Adaptive: c.Adaptive, RateCap: rateCap, BurstCap: burstCap,
		})
		if err != nil {
			return fmt.Errorf("ratelimit: ensure bucket %q: %w", c.Key, err)
		}
		if err := l.q.RateLimitSlotsSync(ctx, c.Key); err != nil {
			return fmt.Errorf("ratelimit: ensure slots of bucket %q: %w", c.Key, err)
		}
		if n > 0 && c.Adaptive {
			l.log.InfoContext(ctx, "rate limit bucket configured: budget from the key's rate-limit headers", slog.String("bucket", c.Key),
				slog.String("source", c.Source), slog.Float64("rate_cap_per_s", c.Rate), slog.Int("burst_cap", c.Burst),
				slog.Float64("start_rate_per_s", rate), slog.Int("max_in_flight", c.MaxInFlight), slog.Float64("bulk_reserve", c.BulkReserve))
		} else if n > 0 {
			l.log.InfoContext(ctx, "rate limit bucket configured", slog.String("bucket", c.Key),
				slog.String("source", c.Source), slog.Float64("rate_per_s", c.Rate), slog.Int("burst", c.Burst),
				slog.Int("max_in_flight", c.MaxInFlight), slog.Float64("bulk_reserve", c.BulkReserve))
		}
		if !c.Adaptive && c.BulkReserve > 0 && c.BulkReserve*float64(c.Burst) > float64(c.Burst-1) {
			l.log.WarnContext(ctx, "bulk reserve capped at burst-1 tokens; raise burst for a full reserve",
				slog.String("bucket", c.Key), slog.Int("burst", c.Burst), slog.Float64("bulk_reserve", c.BulkReserve))
		}
	}
	return nil
}

// Request says what Acquire should take a lease for.
type Request struct {
	// Source selects the buckets ("opensea").
	Source string
	// Class is the request's class; see ClassFrom for taking it from a ctx.
	Class Class
	// Keys, when not empty, restricts Acquire to these bucket keys of the
	// source (the keys this process has clients for).
	Keys []string
}

// WaitError is returned by Acquire when no lease can be had within
// Options.MaxWait (or the ctx deadline). RetryAfter is how long until one
// could be, computed on the database clock; Reason is "tokens", "paused",
// "priority_hold", "wanted" (spare only: another request is coming back for
// the tokens) or "in_flight" (slots taken; RetryAfter is then
// Options.SlotRetryAfter, since releases cannot be predicted).
type WaitError struct {
	Source     string
	Class      Class
	Reason     string
	RetryAfter time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("ratelimit: %s %s: no budget (%s), retry after %s", e.Source, e.Class, e.Reason, e.RetryAfter)
}

// AcquireEvent is the outcome of one Acquire, for Options.OnAcquireFunc.
type AcquireEvent struct {
	Source string
	Class  Class
	// Key is the granted lease's bucket; empty when Acquire gave up.
	Key string
	// Waited is how long Acquire slept or queued before it returned.
	Waited time.Duration
	// GaveUp says no budget came within the wait allowed (Reason says why:
	// tokens, paused, priority_hold or in_flight).
	GaveUp bool
	Reason string
}

func (l *Limiter) report(e AcquireEvent) {
	if l.onAcquire != nil {
		l.onAcquire(e)
	}
}

// Lease is one granted request. Release it when the upstream call is done.
type Lease struct {
	// ID identifies the lease in its slot row; 0 for a bucket without an
	// in-flight cap, whose leases hold no slot.
	ID int64
	// Key is the bucket the token came from: which API key to use.
	Key    string
	Source string
	Class  Class
	// GrantedAt is the grant time on the database clock.
	GrantedAt time.Time
	// TokensLeft is the bucket's level right after the grant.
	TokensLeft float64
	// Waited is how long Acquire waited before the grant.
	Waited time.Duration

	lim      *Limiter
	slot     int32 // -1 for a bucket without a cap: nothing to release
	released atomic.Bool
}

// Release frees the lease's in-flight slot (a lease of a bucket without a
// cap has none, and Release does nothing). It runs even when ctx is already
// cancelled (bounded by a few seconds) and is idempotent; a lease that
// expired and whose slot went to another request meanwhile is released
// without effect. A failed Release may be retried; if it never succeeds the
// slot frees itself after Options.LeaseTTL.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil || l.slot < 0 || !l.released.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	n, err := l.lim.q.RateLimitRelease(ctx, db.RateLimitReleaseParams{BucketKey: l.Key, Slot: l.slot, LeaseID: l.ID})
	if err != nil {
		l.released.Store(false)
		return fmt.Errorf("ratelimit: release lease %d of %s: %w", l.ID, l.Key, err)
	}
	if n == 0 {
		l.lim.log.DebugContext(ctx, "lease expired before its release; its slot was already free",
			slog.String("bucket", l.Key), slog.Int64("lease", l.ID))
	}
	return nil
}

// Acquire takes a token and an in-flight slot for req from one of the
// source's buckets (pooled: the eligible bucket with the most tokens wins)
// and returns the lease; see the package doc for classes and holds.
//
// When nothing is available it sleeps until something should be and tries
// again, as long as it can be served within Options.MaxWait and before ctx's
// deadline; otherwise it returns a *WaitError with the wait. A ClassSpare
// request never waits: it gets a lease at once or a *WaitError. Within one
// Limiter, only one live and one bulk request per source wait on the
// database at a time; the others queue in the process behind it (priority
// requests do not), so a drained bucket sees one retry per replica and token
// instead of one per waiting goroutine. Errors: ErrNoBucket (wrapped) for a
// source without buckets, ctx's error when it is cancelled, and database
// errors.
func (l *Limiter) Acquire(ctx context.Context, req Request) (*Lease, error) {
	if req.Source == "" {
		return nil, errors.New("ratelimit: acquire: empty source")
	}
	if !req.Class.valid() {
		return nil, fmt.Errorf("ratelimit: acquire %s: invalid %s", req.Source, req.Class)
	}
	keys := req.Keys
	if keys == nil {
		keys = []string{}
	}
	deadline := time.Now().Add(l.maxWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	var waited time.Duration // sleeping and queueing, for Lease.Waited
	var gate chan struct{}   // this process's waiting lane, once joined
	defer func() {
		if gate != nil {
			<-gate
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ratelimit: acquire %s: %w", req.Source, err)
		}
		budget := time.Until(deadline)
		holdMax := -1.0 // only priority requests hold, and only for waits they will sit out
		if req.Class == ClassPriority && budget > 0 {
			holdMax = budget.Seconds()
		}
		// The statement is not cancelled with ctx: a cancel racing the
		// commit would leave a granted lease nobody knows about, holding a
		// slot until its TTL. It is short; a grant that arrives after ctx
		// ended is released at once.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
		row, err := l.q.RateLimitAcquire(sctx, db.RateLimitAcquireParams{
			Source:            req.Source,
			Keys:              keys,
			Class:             req.Class.String(),
			HoldMaxSeconds:    holdMax,
			HoldSlackSeconds:  priorityHoldSlack.Seconds(),
			SpareSlackSeconds: l.spareSlack.Seconds(),
			Holder:            l.holder,
			TtlSeconds:        l.leaseTTL.Seconds(),
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ratelimit: acquire %s: %w", req.Source, err)
		}
		if row.Buckets == 0 {
			return nil, fmt.Errorf("ratelimit: acquire %s (keys %v): %w", req.Source, req.Keys, ErrNoBucket)
		}
		if row.BucketKey != "" {
			lease := &Lease{
				ID: row.LeaseID, Key: row.BucketKey, Source: req.Source, Class: req.Class,
				GrantedAt: row.GrantedAt, TokensLeft: row.TokensLeft, Waited: waited, lim: l, slot: row.Slot,
			}
			if err := ctx.Err(); err != nil {
				return nil, errors.Join(fmt.Errorf("ratelimit: acquire %s: %w", req.Source, err), lease.Release(ctx))
			}
			l.report(AcquireEvent{Source: req.Source, Class: req.Class, Key: lease.Key, Waited: waited})
			return lease, nil
		}
		wait, reason, retryAfter := l.waitFor(row)
		if wait > budget || req.Class == ClassSpare { // spare never waits
			l.report(AcquireEvent{Source: req.Source, Class: req.Class, Waited: waited, GaveUp: true, Reason: reason})
			return nil, &WaitError{Source: req.Source, Class: req.Class, Reason: reason, RetryAfter: retryAfter}
		}
		if gate == nil && req.Class != ClassPriority {
			g := l.gate(req, keys)
			select {
			case g <- struct{}{}: // nobody of this process waits: go on
				gate = g
			default:
				// Queue behind this process's waiter, then try at once: it
				// may have left a token behind.
				queued := time.Now()
				err := joinGate(ctx, g, deadline)
				waited += time.Since(queued)
				if err != nil {
					if ctx.Err() != nil {
						return nil, fmt.Errorf("ratelimit: acquire %s: %w", req.Source, err)
					}
					l.report(AcquireEvent{Source: req.Source, Class: req.Class, Waited: waited, GaveUp: true, Reason: reason})
					return nil, &WaitError{Source: req.Source, Class: req.Class, Reason: reason, RetryAfter: retryAfter}
				}
				gate = g
				continue
			}
		}
		sleep := max(wait, minSleep) + jitter(wait)
		if err := sleepCtx(ctx, sleep); err != nil {
			return nil, fmt.Errorf("ratelimit: acquire %s: %w", req.Source, err)
		}
		waited += sleep
	}
}

// gate returns the process-wide waiting lane of req's source, class and
// keys: a semaphore of one.
func (l *Limiter) gate(req Request, keys []string) chan struct{} {
	k := gateKey{source: req.Source, class: req.Class, keys: strings.Join(keys, "\x00")}
	l.gatesMu.Lock()
	defer l.gatesMu.Unlock()
	g, ok := l.gates[k]
	if !ok {
		g = make(chan struct{}, 1)
		l.gates[k] = g
	}
	return g
}

type gateKey struct {
	source string
	class  Class
	keys   string
}

// joinGate waits for the gate until ctx ends or the deadline passes.
func joinGate(ctx context.Context, g chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errGateTimeout
	}
}

var errGateTimeout = errors.New("waiting lane busy until the deadline")

// waitFor turns a refused attempt into how long to sleep, why, and the
// RetryAfter to report when the sleep does not fit the budget.
func (l *Limiter) waitFor(row db.RateLimitAcquireRow) (wait time.Duration, reason string, retryAfter time.Duration) {
	if row.WaitSeconds < 0 { // every bucket's slots are taken
		return l.slotPoll, "in_flight", l.slotRetryAfter
	}
	wait = time.Duration(row.WaitSeconds * float64(time.Second))
	reason, retryAfter = row.WaitReason, wait
	if row.SlotsFull && l.slotPoll < wait {
		// A bucket with a token but no slot may free one sooner than the
		// others get a token.
		wait = l.slotPoll
		if l.slotRetryAfter < retryAfter {
			reason, retryAfter = "in_flight", l.slotRetryAfter
		}
	}
	return wait, reason, max(retryAfter, minSleep)
}

// jitter spreads waiters that computed the same wake-up time: up to an
// eighth of the wait, at most 5 ms.
func jitter(wait time.Duration) time.Duration {
	j := min(wait/8, 5*time.Millisecond)
	if j <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(j)))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// BucketState is a bucket's configuration and current state.
type BucketState struct {
	Key         string
	Source      string
	Rate        float64
	Burst       float64
	MaxInFlight int
	BulkReserve float64
	// Tokens is the level now, refill included.
	Tokens float64
	// InFlight counts held, unexpired slots; Expired counts slots whose
	// lease ran out without a release (free again); Slots is the number of
	// slot rows (MaxInFlight).
	InFlight int
	Expired  int
	Slots    int
	// PausedUntil and PriorityHoldUntil are zero when never set; both may
	// lie in the past.
	PausedUntil       time.Time
	PriorityHoldUntil time.Time
	// Adaptive buckets take Rate and Burst from their key's headers, under
	// RateCap and BurstCap (0: none). Reported is the budget the key last
	// reported (zero before its first answer).
	Adaptive bool
	RateCap  float64
	BurstCap float64
	Reported Budget
}

// Budget is what a key reported in its rate-limit headers: Limit requests
// per Window (estimated from X-RateLimit-Reset), adopted At (database clock).
type Budget struct {
	Limit  int64
	Window time.Duration
	At     time.Time
}

// IsZero reports whether no budget was reported.
func (b Budget) IsZero() bool { return b.Limit == 0 }

// String renders the budget as "60/1m0s", or "unknown".
func (b Budget) String() string {
	if b.IsZero() {
		return "unknown"
	}
	return strconv.FormatInt(b.Limit, 10) + "/" + b.Window.String()
}

// Buckets returns the state of a source's buckets, ordered by key.
func (l *Limiter) Buckets(ctx context.Context, source string) ([]BucketState, error) {
	rows, err := l.q.RateLimitBucketList(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: list buckets of %s: %w", source, err)
	}
	out := make([]BucketState, 0, len(rows))
	for _, r := range rows {
		st := BucketState{
			Key: r.Key, Source: r.Source, Rate: r.Rate, Burst: r.Burst, MaxInFlight: int(r.MaxInFlight),
			BulkReserve: r.BulkReserve, Tokens: r.Tokens, InFlight: int(r.InFlight), Expired: int(r.Expired), Slots: int(r.Slots),
			PausedUntil: r.PausedUntil.Time, PriorityHoldUntil: r.PriorityHoldUntil.Time,
			Adaptive: r.Adaptive, RateCap: r.RateCap.Float64, BurstCap: r.BurstCap.Float64,
		}
		if r.ReportedLimit.Valid && r.ReportedWindow.Valid {
			st.Reported = Budget{Limit: r.ReportedLimit.Int64, Window: time.Duration(r.ReportedWindow.Float64 * float64(time.Second)), At: r.ReportedAt.Time}
		}
		out = append(out, st)
	}
	return out, nil
}
