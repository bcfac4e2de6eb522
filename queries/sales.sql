-- The sales ledger: item_sold events and the events backfill, one row per
-- (collection, transaction, order). Reads give amount and eth_price as
-- decimal strings (eth_price '' when unknown).

-- name: SalesInsertBatch :one
-- Inserts sales given as parallel arrays (one element per sale) and returns
-- how many were new: a sale already stored (same collection, transaction
-- and order) is skipped, as is a sale of a collection no longer tracked.
-- amounts and eth_prices are decimal strings; an empty eth_price is
-- unknown.
WITH ins AS (
    INSERT INTO sales (collection_id, tx_hash, order_hash, chain, contract, token_id, amount, currency, decimals,
                       eth_price, quantity, sold_at, buyer, seller, source)
    SELECT u.collection_id, u.tx_hash, u.order_hash, u.chain, u.contract, u.token_id, u.amount::numeric, u.currency,
           u.decimals::smallint, NULLIF(u.eth_price, '')::numeric, u.quantity, u.sold_at, u.buyer, u.seller, u.source
    FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@tx_hashes::text[]) AS tx_hash,
                 unnest(@order_hashes::text[]) AS order_hash, unnest(@chains::text[]) AS chain,
                 unnest(@contracts::text[]) AS contract, unnest(@token_ids::text[]) AS token_id,
                 unnest(@amounts::text[]) AS amount, unnest(@currencies::text[]) AS currency,
                 unnest(@decimals::int[]) AS decimals, unnest(@eth_prices::text[]) AS eth_price,
                 unnest(@quantities::bigint[]) AS quantity, unnest(@sold_ats::timestamptz[]) AS sold_at,
                 unnest(@buyers::text[]) AS buyer, unnest(@sellers::text[]) AS seller,
                 unnest(@sources::text[]) AS source) AS u
    WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = u.collection_id)
    ORDER BY u.collection_id, u.tx_hash, u.order_hash
    ON CONFLICT (collection_id, tx_hash, order_hash) DO NOTHING
    RETURNING 1
)
SELECT count(*)::bigint AS inserted FROM ins;

-- name: SalesLastForTokens :many
-- The newest sale of each given token of a collection (pairs
-- contracts[i], token_ids[i]); tokens never sold have no row.
SELECT DISTINCT ON (s.contract, s.token_id) s.id, s.collection_id, s.tx_hash, s.order_hash, s.chain, s.contract, s.token_id, s.amount::text AS amount, s.currency,
       s.decimals, COALESCE(s.eth_price::text, '')::text AS eth_price, s.quantity, s.sold_at, s.buyer, s.seller, s.source, s.inserted_at
FROM sales s
JOIN (SELECT unnest(@contracts::text[]) AS contract, unnest(@token_ids::text[]) AS token_id) AS u
  ON s.contract = u.contract AND s.token_id = u.token_id
WHERE s.collection_id = @collection_id
ORDER BY s.contract, s.token_id, s.sold_at DESC, s.id DESC;

-- name: SalesRecent :many
-- A collection's newest sales, newest first.
SELECT s.id, s.collection_id, s.tx_hash, s.order_hash, s.chain, s.contract, s.token_id, s.amount::text AS amount, s.currency,
       s.decimals, COALESCE(s.eth_price::text, '')::text AS eth_price, s.quantity, s.sold_at, s.buyer, s.seller, s.source, s.inserted_at
FROM sales s WHERE s.collection_id = @collection_id
ORDER BY s.sold_at DESC, s.id DESC
LIMIT @lim::int;

-- name: SalesAfterID :many
-- A collection's sales stored after the sale with id after_id, in the
-- order stored (the salesAdded subscription).
SELECT s.id, s.collection_id, s.tx_hash, s.order_hash, s.chain, s.contract, s.token_id, s.amount::text AS amount, s.currency,
       s.decimals, COALESCE(s.eth_price::text, '')::text AS eth_price, s.quantity, s.sold_at, s.buyer, s.seller, s.source, s.inserted_at
FROM sales s WHERE s.collection_id = @collection_id AND s.id > @after_id::bigint
ORDER BY s.id
LIMIT @lim::int;

-- name: SalesLastID :one
-- The id of a collection's latest stored sale (0 when none).
SELECT COALESCE(max(id), 0)::bigint AS id FROM sales WHERE collection_id = @collection_id;

-- name: SalesWindowTotals :one
-- A collection's sales at or after since: how many, their volume in ETH
-- (each sale's amount times its eth_price, rounded to 18 decimals; ETH and
-- WETH count one to one),
-- and how many of them have no known ETH price (then the volume is
-- incomplete).
SELECT count(*)::bigint AS sales,
       round(COALESCE(sum(amount * COALESCE(eth_price, CASE WHEN currency IN ('ETH', 'WETH') THEN 1 END)), 0), 18)::numeric(78, 18)::text AS volume_eth,
       count(*) FILTER (WHERE eth_price IS NULL AND currency NOT IN ('ETH', 'WETH'))::bigint AS unpriced
FROM sales
WHERE collection_id = @collection_id AND sold_at >= @since::timestamptz;

-- name: SalesWindowBounds :one
-- A collection's sales in the window [since, until) and around it, for the
-- cross-check of a source's window figure against the ledger: the window
-- itself (sales, volume_eth), the widest count and volume the source may
-- have seen (wide: from since - edge on, including sales stored since
-- until), and the narrowest (narrow: from since + edge to until - edge).
-- Volumes are in ETH as in SalesWindowTotals; unpriced counts the sales of
-- the wide window without a known ETH price (then volumes are incomplete).
WITH p AS (
    SELECT sqlc.arg(since)::timestamptz AS since, sqlc.arg(until)::timestamptz AS until,
           sqlc.arg(edge_seconds)::float8 * interval '1 second' AS edge
), w AS (
    SELECT s.sold_at, s.amount * COALESCE(s.eth_price, CASE WHEN s.currency IN ('ETH', 'WETH') THEN 1 END) AS eth,
           (s.eth_price IS NULL AND s.currency NOT IN ('ETH', 'WETH')) AS unpriced,
           (s.sold_at >= p.since AND s.sold_at < p.until) AS inside,
           (s.sold_at >= p.since + p.edge AND s.sold_at < p.until - p.edge) AS narrow
    FROM sales s, p
    WHERE s.collection_id = sqlc.arg(collection_id) AND s.sold_at >= p.since - p.edge
)
SELECT count(*) FILTER (WHERE inside)::bigint AS sales,
       round(COALESCE(sum(eth) FILTER (WHERE inside), 0), 18)::numeric(78, 18)::text AS volume_eth,
       count(*)::bigint AS wide_sales,
       round(COALESCE(sum(eth), 0), 18)::numeric(78, 18)::text AS wide_volume_eth,
       count(*) FILTER (WHERE narrow)::bigint AS narrow_sales,
       round(COALESCE(sum(eth) FILTER (WHERE narrow), 0), 18)::numeric(78, 18)::text AS narrow_volume_eth,
       count(*) FILTER (WHERE unpriced)::bigint AS unpriced
FROM w;

-- name: SalesDeleteBefore :execrows
-- Deletes up to max_rows sales sold before before_ts, the oldest of each
-- collection first. It walks the collections and reads each one's oldest
-- sales through sales_collection_sold_idx, so a batch costs one index probe
-- per collection plus the rows it deletes, which it finds by id (an array,
-- so the delete probes the id index instead of scanning the table), and it
-- locks only the rows it deletes.
DELETE FROM sales s
WHERE s.id = ANY (ARRAY(
    SELECT o.id
    FROM collections c
    CROSS JOIN LATERAL (
        SELECT x.id FROM sales x
        WHERE x.collection_id = c.id AND x.sold_at < sqlc.arg(before_ts)::timestamptz
        ORDER BY x.sold_at, x.id
        LIMIT sqlc.arg(max_rows)::int
    ) o
    LIMIT sqlc.arg(max_rows)::int
));
