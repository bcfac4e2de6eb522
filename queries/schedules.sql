-- name: ScheduleEnsure :exec
-- Schedules a kind with the given interval, due immediately; an existing
-- schedule (and its interval) is left as it is.
INSERT INTO collection_schedules (collection_id, kind, interval_seconds)
VALUES (@collection_id, @kind, sqlc.arg(every_seconds)::integer)
ON CONFLICT (collection_id, kind) DO NOTHING;

-- name: ScheduleClaimDue :many
-- Claims the due (collection, kind) pairs of active collections the planner
-- serves this tick, most urgent first: locks them (skipping rows another
-- planner holds) and moves their next due time one interval past now, in
-- one statement of the planning transaction. Rows come in no order.
--
-- Urgency is score = weight * age / target (see the planner's doc):
--   age    = now - last_success_at; never refreshed: now - created_at + target
--            (a new pair starts as "just at its target" and ages from there);
--   target = the pair's target_age_seconds, else its refresh kind's
--            (refresh_kinds.target_age_seconds);
--   weight = (1 + least(log10(1 + 1-day volume), 6)) * 2^(2 - priority),
--            between 0.25 (cold, priority 4) and 14 (hot, priority 1).
-- Each source takes at most its budget of pairs (budget_sources[i] gets
-- budget_calls[i]; a source not listed is bounded only by max_rows).
--
-- A pair of kind stream_kind (the floor) whose collection is served by a
-- live stream (collection_streams: state live, marked after stream_live_after)
-- is due only for a reconcile: when it was last planned before
-- reconcile_before. A pair of kind ledger_kind (the volume; '' for none) of
-- such a collection whose sales ledger has covered the day
-- (sales_covered_since at or before covered_before) is due only together
-- with that reconcile (its floor pair not planned since reconcile_before),
-- so both share one stats call. A stream that went down or whose mark went
-- stale brings the pairs back to their normal schedule at once.
WITH due AS (
    SELECT s.collection_id, s.kind, s.next_due_at, c.slug, c.source, c.priority,
           ((1 + LEAST(log(1 + COALESCE(v.amount, 0)::float8), 6)) * power(2, 2 - c.priority)
            * CASE WHEN s.last_success_at IS NULL
                   THEN 1 + GREATEST(EXTRACT(EPOCH FROM (sqlc.arg(now)::timestamptz - c.created_at))::float8, 0) / tg.target
                   ELSE GREATEST(EXTRACT(EPOCH FROM (sqlc.arg(now)::timestamptz - s.last_success_at))::float8, 0) / tg.target
              END)::float8 AS score
    FROM collection_schedules s
    JOIN collections c ON c.id = s.collection_id
    JOIN refresh_kinds t ON t.refresh_kind = s.kind
    CROSS JOIN LATERAL (SELECT COALESCE(s.target_age_seconds, t.target_age_seconds)::float8 AS target) tg
    LEFT JOIN volume_latest v ON v.collection_id = c.id AND v.source = c.source AND v.time_window = '1d'
    LEFT JOIN collection_streams cs ON cs.collection_id = s.collection_id AND s.kind IN (@stream_kind::text, @ledger_kind::text)
        AND cs.state = 'live' AND cs.updated_at > @stream_live_after::timestamptz
    LEFT JOIN collection_schedules fs ON cs.collection_id IS NOT NULL AND s.kind = @ledger_kind::text
        AND fs.collection_id = s.collection_id AND fs.kind = @stream_kind::text
    WHERE s.next_due_at <= sqlc.arg(now)::timestamptz AND c.status = 'active'
      AND NOT COALESCE(cs.collection_id IS NOT NULL AND (
              (s.kind = @stream_kind::text AND COALESCE(s.last_planned_at, '-infinity') > @reconcile_before::timestamptz)
           OR (s.kind = @ledger_kind::text AND cs.sales_covered_since <= @covered_before::timestamptz
               AND COALESCE(fs.last_planned_at, '-infinity') > @reconcile_before::timestamptz)), false)
), ranked AS (
    SELECT due.*, row_number() OVER (PARTITION BY due.source ORDER BY due.score DESC, due.collection_id, due.kind) AS n
    FROM due
), picked AS (
    SELECT r.collection_id, r.kind, r.next_due_at, r.slug, r.source, r.priority, r.score
    FROM ranked r
    LEFT JOIN (SELECT unnest(@budget_sources::text[]) AS source, unnest(@budget_calls::bigint[]) AS calls) b ON b.source = r.source
    WHERE b.calls IS NULL OR r.n <= b.calls
    ORDER BY r.score DESC, r.collection_id, r.kind
    LIMIT sqlc.arg(max_rows)
), locked AS (
    SELECT s.collection_id, s.kind
    FROM collection_schedules s
    JOIN picked p ON p.collection_id = s.collection_id AND p.kind = s.kind
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE collection_schedules s
SET next_due_at = sqlc.arg(now)::timestamptz + s.interval_seconds * interval '1 second',
    last_planned_at = sqlc.arg(now)::timestamptz
FROM locked l, picked p
WHERE s.collection_id = l.collection_id AND s.kind = l.kind
  AND p.collection_id = l.collection_id AND p.kind = l.kind
RETURNING p.collection_id, p.kind, p.slug, p.source, p.priority, p.score;

-- name: PlannerOutstanding :many
-- Planned jobs not yet worked that will run before horizon, per source: the
-- upstream calls already committed out of the next tick's budget. Jobs of
-- the source-specific queue name their source; the others belong to their
-- collection's source.
SELECT COALESCE(j.args->>'source', c.source)::text AS source, count(*)::bigint AS jobs
FROM river_job j
JOIN collections c ON c.id = (j.args->>'collection_id')::bigint
WHERE j.state IN ('available', 'pending', 'retryable', 'scheduled')
  AND j.queue = ANY(@queues::text[])
  AND j.scheduled_at <= @horizon::timestamptz
GROUP BY 1;

-- name: ScheduleMarkSuccess :exec
UPDATE collection_schedules SET last_success_at = @at::timestamptz
WHERE collection_id = @collection_id AND kind = @kind;

-- name: ScheduleMakeDue :exec
-- Makes a collection's kinds due now (e.g. after a permanent failure is fixed).
UPDATE collection_schedules SET next_due_at = now() WHERE collection_id = @collection_id;

-- name: ScheduleListForCollection :many
SELECT * FROM collection_schedules WHERE collection_id = @collection_id ORDER BY kind;

-- name: ScheduleGet :one
SELECT * FROM collection_schedules WHERE collection_id = @collection_id AND kind = @kind;

-- name: ScheduleSetInterval :exec
UPDATE collection_schedules SET interval_seconds = sqlc.arg(every_seconds)::integer
WHERE collection_id = @collection_id AND kind = @kind;

-- name: ScheduleMarkSuccessMany :exec
-- Marks several (collection, kind) pairs refreshed at one time.
UPDATE collection_schedules s SET last_success_at = sqlc.arg(at)::timestamptz
FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@kinds::text[]) AS kind) AS u
WHERE s.collection_id = u.collection_id AND s.kind = u.kind;

-- name: ScheduleSetTarget :exec
-- Sets a pair's freshness target; NULL restores its refresh kind's
-- (refresh_kinds.target_age_seconds).
UPDATE collection_schedules SET target_age_seconds = sqlc.narg(target_seconds)::integer
WHERE collection_id = @collection_id AND kind = @kind;

-- name: ScheduleEnsureMany :exec
-- Schedules every given kind (with its interval) for every given collection,
-- due immediately; existing schedules are left as they are.
INSERT INTO collection_schedules (collection_id, kind, interval_seconds)
SELECT c.id, k.kind, k.every_seconds
FROM unnest(@collection_ids::bigint[]) AS c(id)
CROSS JOIN (SELECT unnest(@kinds::text[]) AS kind, unnest(@every_seconds::integer[]) AS every_seconds) AS k
ON CONFLICT (collection_id, kind) DO NOTHING;

-- name: ScheduleRestoreMany :exec
-- Sets the last success and next due time of many pairs at once (restoring
-- a schedule's state, e.g. a benchmark's steady state).
UPDATE collection_schedules s SET last_success_at = u.last_success_at, next_due_at = u.next_due_at
FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@kinds::text[]) AS kind,
             unnest(@last_success_ats::timestamptz[]) AS last_success_at,
             unnest(@next_due_ats::timestamptz[]) AS next_due_at) AS u
WHERE s.collection_id = u.collection_id AND s.kind = u.kind;

-- name: ScheduleAgesAt :many
-- Seconds since the last success of every refreshed pair of one kind of
-- active collections, at a given time.
SELECT EXTRACT(EPOCH FROM (sqlc.arg(now)::timestamptz - s.last_success_at))::float8 AS age_seconds
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id AND c.status = 'active'
WHERE s.kind = @kind AND s.last_success_at IS NOT NULL;
