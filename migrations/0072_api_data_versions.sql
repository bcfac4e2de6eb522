-- Per-collection data version for the API's response cache, and change
-- notifications for its subscriptions.
--
-- Every statement that writes data the client API serves bumps the version
-- of each collection it touched, in the writing transaction (statement-level
-- triggers with transition tables, so writers need no code for it). The API
-- caches a response with the versions of the collections it read, read
-- before the data; it serves the cached response only while those versions
-- are unchanged, so a cached answer is never stale past a commit. The bump
-- holds the version row's lock until commit; one transaction bumps a
-- collection at most once, and a statement bumps its collections in id
-- order, so writers of different collections never wait for each other.
CREATE TABLE collection_data_versions (
    collection_id bigint  PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    version       bigint  NOT NULL DEFAULT 1 CHECK (version >= 1),
    changed_xact  xid8    NOT NULL
);

-- nftsync_bump_data_versions bumps the versions of ids, once per
-- transaction and collection.
CREATE OR REPLACE FUNCTION nftsync_bump_data_versions(ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO collection_data_versions AS v (collection_id, version, changed_xact)
    SELECT id, 1, pg_current_xact_id()
    FROM (SELECT DISTINCT id FROM unnest(ids) AS u (id) WHERE id IS NOT NULL) s
    -- Only collections that still exist: a delete of the collection itself
    -- cascades here.
    WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = s.id)
    ORDER BY id
    ON CONFLICT (collection_id) DO UPDATE
        SET version = v.version + 1, changed_xact = EXCLUDED.changed_xact
        WHERE v.changed_xact <> EXCLUDED.changed_xact
$$;

-- nftsync_data_change_kind names the kind of served data a table holds,
-- as the API's DataChange enum does.
CREATE OR REPLACE FUNCTION nftsync_data_change_kind(table_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN table_name LIKE 'floor\_price\_%' THEN 'FLOOR'
        WHEN table_name LIKE 'volume\_%' THEN 'VOLUME'
        WHEN table_name IN ('tokens', 'token_traits') THEN 'TOKENS'
        WHEN table_name IN ('rarity_runs', 'token_rarity', 'trait_value_stats') THEN 'RARITY'
        WHEN table_name = 'data_quality_events' THEN 'QUALITY'
        WHEN table_name = 'collection_routes' THEN 'ROUTES'
        ELSE 'METADATA'
    END
$$;

-- The trigger function: the changed rows are in the transition table
-- "changed"; TG_ARGV[0] is a query over it that yields their collection ids.
CREATE OR REPLACE FUNCTION nftsync_touch_data_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    EXECUTE 'SELECT array_agg(DISTINCT id) FROM (' || TG_ARGV[0] || ') s (id)' INTO ids;
    IF ids IS NOT NULL THEN
        PERFORM nftsync_bump_data_versions(ids);
        -- Delivered at commit, to every API replica listening (a rolled
        -- back write sends nothing); identical payloads of one transaction
        -- are sent once, so a transaction that writes a floor's current
        -- row and its history tells once that the floor changed.
        PERFORM pg_notify('nftsync_data_changed', id::text || ' ' || nftsync_data_change_kind(TG_TABLE_NAME)) FROM unnest(ids) AS u (id);
    END IF;
    RETURN NULL;
END
$$;

-- nftsync_api_data_tables lists the tables whose rows the cacheable API
-- answers read, each with the query over "changed" that yields the
-- collections of changed rows. A table with a
-- collection id that is not listed must be in nftsync_api_unversioned_tables
-- with the reason (a test checks that every such table is one or the other).
CREATE OR REPLACE FUNCTION nftsync_api_data_tables() RETURNS TABLE (table_name text, collection_ids text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT t, 'SELECT collection_id FROM changed' FROM unnest(ARRAY[
        'collection_contracts', 'collection_metadata', 'collection_routes',
        'floor_price_latest', 'floor_price_history', 'floor_price_hourly', 'floor_price_daily',
        'volume_latest', 'volume_history', 'volume_hourly', 'volume_daily',
        'tokens', 'token_traits', 'rarity_runs', 'trait_value_stats', 'data_quality_events']) AS t
    UNION ALL VALUES
        ('collections', 'SELECT id FROM changed'),
        ('token_rarity', 'SELECT r.collection_id FROM changed JOIN rarity_runs r ON r.run_id = changed.run_id')
$$;

-- nftsync_api_unversioned_tables: tables with a collection id that do not
-- bump versions, and why.
CREATE OR REPLACE FUNCTION nftsync_api_unversioned_tables() RETURNS TABLE (table_name text, reason text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('collection_data_versions', 'the versions themselves'),
           ('collection_schedules', 'planner state, written every tick; read only by freshness, which is never cached'),
           ('token_sync_state', 'sync cursors, not served'),
           ('token_sync_runs', 'sync bookkeeping, not served'),
           ('stats_fetches', 'single-flight leases of the market statistics call, not served'),
           ('source_cross_checks', 'not served by cacheable fields'),
           ('admin_audit', 'the audit log, not served by cacheable fields'),
           ('floor_price_snapshots', 'per-run snapshots, not served'),
           ('volume_snapshots', 'per-run snapshots, not served')
$$;

-- Install (or reinstall) the triggers: idempotent, so this block can be run
-- again whenever the list changes.
DO $$
DECLARE
    t record;
    ev text;
BEGIN
    FOR t IN SELECT * FROM nftsync_api_data_tables() LOOP
        FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS nftsync_data_version_%s ON %I', ev, t.table_name);
            EXECUTE format('CREATE TRIGGER nftsync_data_version_%s AFTER %s ON %I REFERENCING %s TABLE AS changed '
                           'FOR EACH STATEMENT EXECUTE FUNCTION nftsync_touch_data_versions(%L)',
                           ev, upper(ev), t.table_name, CASE ev WHEN 'delete' THEN 'OLD' ELSE 'NEW' END, t.collection_ids);
        END LOOP;
    END LOOP;
END
$$;
