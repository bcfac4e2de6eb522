-- The volume of a collection over all marketplace subgraphs together, per
-- window and currency. Marketplaces cover disjoint trades (each indexes its
-- own exchange contracts), so their figures add up; OpenSea's own totals
-- (source 'opensea') are never part of it, since its trades are the Seaport
-- subgraph's. sources names the marketplaces summed; a marketplace that
-- never traded the collection has no row and adds nothing. fetched_at is
-- the oldest of the summed observations (the total is no fresher than its
-- stalest part), source_as_of the oldest head-block time.
CREATE VIEW volume_all_marketplaces AS
SELECT collection_id, time_window, currency, max(decimals) AS decimals,
       sum(amount) AS amount, sum(sales) AS sales,
       array_agg(source ORDER BY source) AS sources,
       min(last_seen_at) AS fetched_at, min(source_as_of) AS source_as_of
FROM volume_latest
WHERE source LIKE 'subgraph:%'
GROUP BY collection_id, time_window, currency;
