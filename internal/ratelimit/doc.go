// Package ratelimit is a rate and concurrency limiter for upstream APIs that
// every nftsync replica shares through PostgreSQL (no Redis). N replicas
// together stay within one budget per source and API key, instead of N times
// a per-process limit.
//
// # Buckets
//
// Each bucket is a row of rate_limit_buckets, keyed by a string such as
// "opensea" or KeyFor("opensea", apiKey) = "opensea/key-<12 hex digits of
// sha256(apiKey)>" (the key itself is never stored or logged). A bucket has a
// rate (requests per second), a burst (capacity), an optional cap on requests
// in flight, and a bulk reserve. Ensure creates or reconfigures buckets at
// process start; every replica may call it, and a changed configuration takes
// effect at once for all of them.
//
// # Acquire
//
// Acquire takes one token and, for a bucket with MaxInFlight > 0, one
// in-flight slot, in a single SQL statement: it locks the source's bucket
// rows (in key order, so acquirers never deadlock), refills them with
// least(burst, tokens + elapsed × rate) computed on the database clock
// (clock_timestamp(), so replicas with skewed clocks agree), locks a free
// slot row (FOR UPDATE SKIP LOCKED) where a token is available, and takes the
// token and the slot from the eligible bucket with the most tokens. Several
// buckets of one source (several API keys) are pooled this way, each keeping
// its own budget; Lease.Key says which one was chosen. The statement commits
// asynchronously (synchronous_commit off for that transaction only), so the
// row lock is never held across a WAL flush; a database crash can only forget
// the last moments of grants.
//
// When nothing can be granted the statement also says how long until it
// could be (missing tokens, a pause, a priority hold). Acquire sleeps and
// retries while the total wait stays within Options.MaxWait (default 2 s)
// and the ctx deadline; otherwise it returns a *WaitError carrying that wait,
// which Indexer turns into an indexer.ClassRateLimited error so the River
// worker snoozes instead of holding its slot (no attempt is spent). Taken
// slots have no computable wait: Acquire polls every SlotPoll and reports
// SlotRetryAfter when it gives up. There is no queue in the database:
// waiters retry when a token should be there, and the first one wins. To keep
// that from costing one statement per waiting goroutine and token, the live
// (and, separately, the bulk) waiters of one Limiter queue in the process
// behind a single one that waits on the database; so a drained bucket sees
// about one retry per replica and token.
//
// Lease.Release frees the slot; it touches only the slot row, never the
// bucket row. A slot whose lease was never released (its process crashed)
// frees itself at the lease's expiry, Options.LeaseTTL after the grant, and a
// late release of such a lease cannot free the slot's next lease.
//
// # Classes and the reserved budget
//
// Every request has a Class, normally carried on the ctx (WithClass,
// ClassFrom; default ClassLive) so a worker sets it once:
//   - ClassLive (periodic floor/volume refreshes) takes any token and any
//     slot.
//   - ClassBulk (token backfills) takes a token only when at least
//     BulkReserve × Burst tokens remain afterwards (capped at Burst-1, so a
//     bucket with burst 1 has no reserve), and only the slots numbered below
//     MaxInFlight − ⌈BulkReserve × MaxInFlight⌉ (at least 1); it takes the
//     lowest free slot, the other classes the highest. While live requests
//     keep the bucket drained, bulk ones get nothing; when live traffic is
//     idle, bulk gets the whole rate.
//   - ClassSpare (optional work: audits of streamed books) takes tokens
//     and slots like bulk, but only while no live or bulk request is
//     coming back for one: a live or bulk request refused a token marks
//     every bucket it could use as wanted until its wait (a waiter wakes
//     then; a job that gave up snoozes that long) plus Options.SpareSlack,
//     and spare is refused meanwhile. So spare never takes a token another
//     request is waiting for, and gets the whole rate when nobody waits.
//     It never waits itself. A priority hold refuses it too.
//   - ClassPriority (manual "refresh now") takes tokens and slots like live,
//     and goes first: when it has to wait (at most MaxWait), it holds the
//     bucket it will be served from until its wait plus a small slack.
//     While a hold is on, live and bulk requests are refused that bucket, so
//     the next token and the next free slot go to the priority request. A
//     grant to a priority request ends the hold; a hold whose owner died
//     lapses on its own. Priority never exceeds the rate or MaxInFlight.
//
// # Adapting to the upstream
//
// An adaptive bucket (BucketConfig.Adaptive) reads its budget from its key's
// answers: Observe hands it X-RateLimit-Limit (L requests per window) and
// the time to X-RateLimit-Reset, and the bucket row adopts them for every
// replica. The window is the longest time to a reset seen for that limit
// (an answer in the middle of a window sees only its rest; whole seconds,
// see windowSeconds). The bucket then runs at rate (L − B)/window with a
// small burst B (2 up to 2 s of the rate, at most L/20), so B + rate ×
// window ≤ L: no stretch of one window's length, aligned with the key's
// windows or not, sees more than L, and the budget is spread over the window
// instead of spent at its start, which keeps the bulk reserve (a share of
// B) free for live requests at every moment. Before the first answer the
// bucket runs at StartRate (1/s) with burst 1; a configured rate and burst
// are upper caps (and the start). Malformed or contradictory headers are
// ignored with a warning.
//
// Pause (or PauseFor) stops a bucket for every replica until a time on the
// database clock; the bucket then restarts empty and refills at its rate, so
// the budget resumes smoothly instead of in a burst. PauseOnError pauses on a
// rate-limited *indexer.Error (429/599) for its RetryAfter (or
// Options.DefaultPause when the source gave none); Observe pauses on a
// 429/599 for its Retry-After, else until X-RateLimit-Reset, and when a
// response reports X-RateLimit-Remaining = 0 until X-RateLimit-Reset. Pauses
// only ever extend and are capped at Options.MaxPause.
//
// # Indexer wrapper
//
// NewIndexer wraps one indexer.Indexer client per bucket key of a source:
// each call acquires (class from ctx), calls the chosen key's client,
// releases, and on a rate-limited error pauses that key's bucket before
// returning the error unchanged. Workers need no change.
//
// All SQL lives in queries/ratelimit.sql. Pass a pool, not a transaction:
// every statement must commit on its own, or the bucket rows stay locked.
package ratelimit
