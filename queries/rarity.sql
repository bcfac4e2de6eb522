-- name: RarityRunGet :one
SELECT * FROM rarity_runs WHERE collection_id = @collection_id AND method = @method;

-- name: RarityRunNextID :one
SELECT nextval('rarity_run_seq')::bigint;

-- name: RarityRunUpsert :exec
INSERT INTO rarity_runs (collection_id, method, run_id, version, input_hash, entropy, token_count, excluded_traits, notes, computed_at)
VALUES (@collection_id, @method, @run_id, @version, @input_hash, @entropy, @token_count, @excluded_traits, @notes, @computed_at)
ON CONFLICT (collection_id, method) DO UPDATE
SET run_id = EXCLUDED.run_id, version = EXCLUDED.version, input_hash = EXCLUDED.input_hash, entropy = EXCLUDED.entropy,
    token_count = EXCLUDED.token_count, excluded_traits = EXCLUDED.excluded_traits, notes = EXCLUDED.notes,
    computed_at = EXCLUDED.computed_at;

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
