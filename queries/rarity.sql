-- name: RarityRunGet :one
SELECT * FROM rarity_runs WHERE collection_id = @collection_id AND method = @method;

-- name: RarityRunNextID :one
SELECT nextval('rarity_run_seq')::bigint;

-- name: RarityRunUpsert :execrows
-- Stores a run unless the stored one was computed from newer data (a later
-- token sync run, or a later snapshot of the same run): then nothing
-- changes and no row is reported.
INSERT INTO rarity_runs (collection_id, method, run_id, version, input_hash, entropy, token_count, excluded_traits, notes,
    computed_at, sync_run, snapshot_xmax, unknown_count, missing_count)
VALUES (@collection_id, @method, @run_id, @version, @input_hash, @entropy, @token_count, @excluded_traits, @notes,
    @computed_at, @sync_run, @snapshot_xmax, @unknown_count, @missing_count)
ON CONFLICT (collection_id, method) DO UPDATE
SET run_id = EXCLUDED.run_id, version = EXCLUDED.version, input_hash = EXCLUDED.input_hash, entropy = EXCLUDED.entropy,
    token_count = EXCLUDED.token_count, unknown_count = EXCLUDED.unknown_count, missing_count = EXCLUDED.missing_count,
    excluded_traits = EXCLUDED.excluded_traits, notes = EXCLUDED.notes,
    computed_at = EXCLUDED.computed_at, sync_run = EXCLUDED.sync_run, snapshot_xmax = EXCLUDED.snapshot_xmax
WHERE (rarity_runs.sync_run, rarity_runs.snapshot_xmax) <= (EXCLUDED.sync_run, EXCLUDED.snapshot_xmax);

-- name: RarityRunTouch :exec
-- Records that the stored run also holds for newer data whose input hash
-- is the same (nothing else to write but the unranked counts, which the
-- hash does not cover: a failed token that turned out unknown).
UPDATE rarity_runs SET sync_run = @sync_run, snapshot_xmax = @snapshot_xmax,
    unknown_count = @unknown_count, missing_count = @missing_count
WHERE collection_id = @collection_id AND method = @method
  AND (sync_run, snapshot_xmax) < (@sync_run::bigint, @snapshot_xmax::bigint);

-- name: RarityReadSettings :exec
-- Transaction-local planner settings of the rarity job's read: its queries
-- stream whole collections in index order, where parallel workers and JIT
-- only add start-up and gather costs.
SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true);

-- name: RaritySnapshot :one
-- The first statement of the rarity job's REPEATABLE READ read: it fixes the
-- snapshot and reports its xmax, the last completed token sync run it sees
-- (an unfinished run's tokens are partly there, but its number is not
-- claimed) and whether the collection spans several contracts.
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS snapshot_xmax,
    COALESCE((SELECT CASE WHEN s.completed_at IS NULL THEN s.run - 1 ELSE s.run END
              FROM token_sync_state s WHERE s.collection_id = @collection_id), 0)::bigint AS sync_run,
    COALESCE((SELECT min(contract) <> max(contract) FROM tokens WHERE collection_id = @collection_id), false)::boolean AS multi_contract;

-- name: RarityUnranked :one
-- Inside the rarity read's snapshot: the collection's tokens a run leaves
-- unranked, those whose traits the source does not know and those whose
-- traits are not known for another reason (not fetched yet, fetch failed).
SELECT (count(*) FILTER (WHERE traits_unknown))::integer AS unknown,
    (count(*) FILTER (WHERE NOT traits_known AND NOT traits_unknown))::integer AS missing
FROM tokens WHERE collection_id = @collection_id;

-- name: TokenRarityDeleteRun :exec
DELETE FROM token_rarity WHERE run_id = @run_id;

-- name: TokenRarityInsert :copyfrom
INSERT INTO token_rarity (run_id, token_pk, score, rank, unique_count, trait_count)
VALUES (@run_id, @token_pk, @score, @rank, @unique_count, @trait_count);

-- name: TraitValueStatsDeleteForMethod :exec
DELETE FROM trait_value_stats WHERE collection_id = @collection_id AND method = @method;

-- name: TraitValueStatsInsert :copyfrom
INSERT INTO trait_value_stats (collection_id, method, trait_type, value, is_null, count, frequency)
VALUES (@collection_id, @method, @trait_type, @value, @is_null, @count, @frequency);

-- name: TokenRarityList :many
-- A collection's current results for a method, rarest first.
SELECT * FROM token_rarity_current
WHERE collection_id = @collection_id AND method = @method
ORDER BY rank, contract, token_id;

-- name: RarityLock :exec
-- Serialises rarity writes of one collection (transaction-scoped), so two
-- runs finishing together cannot both replace the same previous run.
SELECT pg_advisory_xact_lock(7428814, @collection_id::integer);
