-- Batched writes of the stream consumer (internal/streamer): one statement
-- per kind of row for everything collected in a flush interval.

-- name: FloorPriceObserveBatch :exec
-- FloorPriceObserve for many collections of one source in one statement:
-- one element per collection (the caller keeps only the newest observation
-- of each; ON CONFLICT cannot touch a row twice). A NULL amount is a known
-- empty book (no floor). Collections untracked meanwhile are skipped.
WITH u AS (
    SELECT u.* FROM (
        SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@amounts::numeric[]) AS amount,
            unnest(@currencies::text[]) AS currency, unnest(@decimals::smallint[]) AS decimals,
            unnest(@seen_ats::timestamptz[]) AS seen_at, unnest(@source_as_ofs::timestamptz[]) AS source_as_of) AS u
    WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = u.collection_id)
), latest AS (
    INSERT INTO floor_price_latest AS l (collection_id, source, amount, currency, decimals, owners,
        changed_at, row_from, last_seen_at, source_as_of)
    SELECT u.collection_id, @source::text, u.amount, u.currency, u.decimals, NULL,
        u.seen_at, u.seen_at, u.seen_at, u.source_as_of
    FROM u
    ON CONFLICT (collection_id, source) DO UPDATE
    SET changed_at = CASE WHEN (l.amount, l.currency, l.decimals) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals)
                          THEN l.changed_at ELSE EXCLUDED.changed_at END,
        row_from = CASE WHEN (l.amount, l.currency, l.decimals) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals)
                             AND l.row_from >= date_trunc('day', EXCLUDED.last_seen_at, 'UTC')
                        THEN l.row_from ELSE EXCLUDED.row_from END,
        amount = EXCLUDED.amount, currency = EXCLUDED.currency, decimals = EXCLUDED.decimals,
        owners = EXCLUDED.owners, last_seen_at = EXCLUDED.last_seen_at, source_as_of = EXCLUDED.source_as_of
    WHERE l.last_seen_at < EXCLUDED.last_seen_at
    RETURNING l.collection_id, l.source, l.row_from, l.last_seen_at, l.amount, l.currency, l.decimals
)
INSERT INTO floor_price_history (collection_id, source, first_seen_at, last_seen_at, amount, currency, decimals)
SELECT collection_id, source, row_from, last_seen_at, amount, currency, decimals FROM latest
ON CONFLICT (collection_id, source, first_seen_at) DO UPDATE
SET last_seen_at = greatest(floor_price_history.last_seen_at, EXCLUDED.last_seen_at);

-- name: TokensMarkMetadataUpdated :many
-- Marks tokens whose metadata changed upstream (the stream's
-- item_metadata_updated) due for a trait fetch: their listed updated_at
-- moves to the event's time, so TokenTraitsDue selects them. Returns the
-- collections with a token marked (tokens not synced yet are skipped: the
-- token sync lists them with their traits due anyway).
UPDATE tokens t
SET source_updated_at = u.at
FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@contracts::text[]) AS contract,
             unnest(@token_ids::text[]) AS token_id, unnest(@ats::timestamptz[]) AS at) AS u
WHERE t.collection_id = u.collection_id AND t.contract = u.contract AND t.token_id = u.token_id
  AND (t.source_updated_at IS NULL OR t.source_updated_at < u.at)
RETURNING t.collection_id;
