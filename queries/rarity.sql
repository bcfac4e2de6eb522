-- name: RarityRunGet :one
SELECT * FROM rarity_runs WHERE collection_id = @collection_id AND method = @method;

-- name: RarityRunUpsert :exec
INSERT INTO rarity_runs (collection_id, method, version, input_hash, entropy, token_count, excluded_traits, notes, computed_at)
VALUES (@collection_id, @method, @version, @input_hash, @entropy, @token_count, @excluded_traits, @notes, @computed_at)
ON CONFLICT (collection_id, method) DO UPDATE
SET version = EXCLUDED.version, input_hash = EXCLUDED.input_hash, entropy = EXCLUDED.entropy,
    token_count = EXCLUDED.token_count, excluded_traits = EXCLUDED.excluded_traits, notes = EXCLUDED.notes,
    computed_at = EXCLUDED.computed_at;

-- name: TokenRarityDeleteForMethod :exec
DELETE FROM token_rarity WHERE collection_id = @collection_id AND method = @method;

-- name: TokenRarityInsert :copyfrom
INSERT INTO token_rarity (collection_id, contract, token_id, method, version, score, rank, unique_count, trait_count, input_hash)
VALUES (@collection_id, @contract, @token_id, @method, @version, @score, @rank, @unique_count, @trait_count, @input_hash);

-- name: TraitValueStatsDeleteForMethod :exec
DELETE FROM trait_value_stats WHERE collection_id = @collection_id AND method = @method;

-- name: TraitValueStatsInsert :copyfrom
INSERT INTO trait_value_stats (collection_id, method, trait_type, value, is_null, count, frequency)
VALUES (@collection_id, @method, @trait_type, @value, @is_null, @count, @frequency);

-- name: TokenRarityList :many
SELECT * FROM token_rarity WHERE collection_id = @collection_id AND method = @method ORDER BY rank, contract, token_id;
