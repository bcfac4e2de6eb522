-- name: ScheduleEnsure :exec
-- Schedules a kind with the given interval, due immediately; an existing
-- schedule (and its interval) is left as it is.
INSERT INTO collection_schedules (collection_id, kind, interval_seconds)
VALUES (@collection_id, @kind, sqlc.arg(every_seconds)::integer)
ON CONFLICT (collection_id, kind) DO NOTHING;

-- name: ScheduleClaimDue :many
-- Locks up to max_rows due (collection, kind) pairs of active collections,
-- most urgent first, skipping rows another planner holds. Must run inside the
-- planning transaction, followed by ScheduleAdvance.
SELECT s.collection_id, s.kind, s.next_due_at, c.slug, c.source, c.priority
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id
WHERE s.next_due_at <= @now::timestamptz AND c.status = 'active'
ORDER BY c.priority, s.next_due_at, s.collection_id, s.kind
LIMIT @max_rows
FOR UPDATE OF s SKIP LOCKED;

-- name: ScheduleAdvance :exec
-- Moves claimed pairs' next due time one interval past now (one statement
-- for the whole batch).
UPDATE collection_schedules s
SET next_due_at = sqlc.arg(now)::timestamptz + s.interval_seconds * interval '1 second',
    last_planned_at = sqlc.arg(now)::timestamptz
FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@kinds::text[]) AS kind) AS u
WHERE s.collection_id = u.collection_id AND s.kind = u.kind;

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
