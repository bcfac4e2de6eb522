-- nftsync's SQL functions. Every statement here is idempotent (CREATE OR
-- REPLACE): the migration runner applies this file whenever its content is
-- one the database never had (it keeps the SHA-256 of every content applied
-- in nftsync_migration_file), before the numbered schema files, with
-- check_function_bodies off as pg_dump restores do. So a function changes by
-- editing it here, never by a migration. A change of a function's result
-- type or arguments needs a DROP FUNCTION IF EXISTS of the old signature
-- before its CREATE OR REPLACE.

-- nftsync_ensure_partitions creates the missing partitions of parent that
-- cover from_ts .. to_ts, named <parent>_p<YYYYMMDD> after their lower bound
-- (UTC), each one day, week (starting Monday) or month; it returns how many
-- it created. The maintain_history job keeps them ahead of time.
CREATE OR REPLACE FUNCTION nftsync_ensure_partitions(parent regclass, unit text, from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    lo      timestamp;
    hi      timestamp;
    step    interval;
    name    text;
    created integer := 0;
BEGIN
    IF unit NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'nftsync_ensure_partitions: unit must be day, week or month, not %', unit;
    END IF;
    step := ('1 ' || unit)::interval;
    lo := date_trunc(unit, from_ts AT TIME ZONE 'UTC');
    WHILE lo < (to_ts AT TIME ZONE 'UTC') LOOP
        hi := lo + step;
        name := parent::text || '_p' || to_char(lo, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                name, parent, lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        lo := hi;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the partitions of parent whose upper bound is at or before
-- before_ts, and returns how many it dropped.
CREATE OR REPLACE FUNCTION nftsync_drop_partitions(parent regclass, before_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS rel,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
    LOOP
        IF part.upper_bound IS NOT NULL AND part.upper_bound <= before_ts THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;

-- nftsync_check_refresh_kinds: a row trigger of indexer_sources that
-- refuses a kinds array naming something not in refresh_kinds (arrays
-- cannot have foreign keys).
CREATE OR REPLACE FUNCTION nftsync_check_refresh_kinds() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    SELECT x INTO unknown FROM unnest(NEW.kinds) AS x
    WHERE NOT EXISTS (SELECT 1 FROM refresh_kinds k WHERE k.refresh_kind = x) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: source % names unknown refresh kind %', TG_TABLE_NAME, NEW.source, quote_literal(unknown)
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;

-- One answer to "which jobs does a refresh of kind K for collection C mean",
-- shared by every enqueue path: the planner and jobargs.InsertRefreshTx (Go,
-- used by other services, the API's refreshCollection and the CLI) read
-- nftsync_refresh_jobs through sqlc, and nftsync_enqueue_refresh (SQL, for
-- any language) inserts exactly its rows. A refresh of a kind asks each
-- source routed for it (collection_routes, else the collection's own source
-- plus the sources serving the kind by default) and never a source that does
-- not serve the kind (indexer_sources.kinds); the job that asks a source is
-- the refresh_kind_jobs row of the kind (one for the collection's own
-- source, one for any other).
--
-- nftsync_routes: per pair i (collection_ids[i], kinds[i]) of a known
-- collection, the sources serving the kind in route order (the
-- collection's own route, else its own source plus the sources serving the
-- kind by default; without sources that cannot serve the kind, except the
-- collection's own source when no worker has registered it) and whether
-- the collection has its own route for the kind. It is a single-SELECT,
-- STABLE SQL table function, so PostgreSQL inlines it into its caller and a
-- batch of 1,000 pairs is one plan.
CREATE OR REPLACE FUNCTION nftsync_routes(collection_ids bigint[], kinds text[])
RETURNS TABLE (pair bigint, collection_id bigint, kind text, own_source text, sources text[], routed boolean)
LANGUAGE sql STABLE AS $$
    SELECT u.i, c.id, u.k, c.source,
           COALESCE(ARRAY(
               SELECT x.s FROM unnest(COALESCE(r.sources,
                   ARRAY[c.source] || ARRAY(SELECT d.source FROM indexer_sources d
                                            WHERE u.k = ANY (d.default_kinds) AND d.source <> c.source
                                            ORDER BY d.source))) WITH ORDINALITY AS x (s, n)
               LEFT JOIN indexer_sources k ON k.source = x.s
               WHERE CASE WHEN k.source IS NULL THEN x.s = c.source ELSE u.k = ANY (k.kinds) END
               ORDER BY x.n), '{}'),
           r.collection_id IS NOT NULL
    FROM unnest(collection_ids, kinds) WITH ORDINALITY AS u (cid, k, i)
    JOIN collections c ON c.id = u.cid
    LEFT JOIN collection_routes r ON r.collection_id = u.cid AND r.kind = u.k
$$;

CREATE OR REPLACE FUNCTION nftsync_route_sources(route_collection_id bigint, route_kind text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT sources FROM nftsync_routes(ARRAY[route_collection_id], ARRAY[route_kind])
$$;

CREATE OR REPLACE FUNCTION nftsync_refresh_jobs(collection_ids bigint[], kinds text[])
RETURNS TABLE (collection_id bigint, kind text, source text, own_source boolean, job_kind text, job_queue text,
               max_attempts smallint, job_args jsonb, unique_args text)
LANGUAGE sql STABLE AS $$
    SELECT r.collection_id, r.kind, x.s, m.own_source, m.job_kind, m.job_queue, m.max_attempts,
           jsonb_build_object('collection_id', r.collection_id)
               || CASE WHEN m.own_source THEN '{}'::jsonb ELSE jsonb_build_object('source', x.s) END,
           '{"collection_id":' || r.collection_id::text
               || CASE WHEN m.unique_by_source THEN ',"source":' || to_json(x.s)::text ELSE '' END || '}'
    FROM nftsync_routes(collection_ids, kinds) AS r
    CROSS JOIN LATERAL unnest(r.sources) WITH ORDINALITY AS x (s, n)
    JOIN refresh_kind_jobs m ON m.refresh_kind = r.kind AND m.own_source = (x.s = r.own_source)
    ORDER BY r.pair, x.n
$$;

-- nftsync_enqueue_refresh: enqueue refresh jobs from any language with plain
-- SQL, deduplicated exactly as River's Go client deduplicates them: one job
-- per source routed for each refresh kind (nftsync_refresh_jobs).
--
-- The row matches what jobargs.InsertRefreshTx inserts through River's
-- InsertManyTx: the job's args (plus "manual": true for a manual refresh),
-- queue and max_attempts from refresh_kind_jobs, the collection's priority
-- (1 when manual), and uniqueness by args over unfinished states:
--   unique_key    = sha256('&kind=<job kind>&args=<unique args>')
--     (River's dbunique.buildUniqueKeyString: only fields tagged
--     river:"unique", sorted, compact JSON; no period, no queue)
--   unique_states = B'11110001' (available, pending, retryable, running,
--     scheduled; River's uniquestates bit positions)
-- A duplicate of an unfinished job hits river_job_unique_idx and returns
-- the existing job with inserted = false, as InsertManyTx does
-- (UniqueSkippedAsDuplicate). New jobs wake the queue's workers with the
-- NOTIFY River sends (<schema>.river_insert, {"queue": ...}). A kind routed
-- to no source that can serve it enqueues nothing.
CREATE OR REPLACE FUNCTION nftsync_enqueue_refresh(
    collection_slug text,
    kind            text    DEFAULT 'all',
    manual          boolean DEFAULT false,
    collection_source text  DEFAULT 'opensea'
) RETURNS TABLE (job_id bigint, job_kind text, job_queue text, inserted boolean, refresh_kind text, job_source text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    c      record;
    wanted text[];
    j      record;
    ukey   bytea;
    dup    boolean;
BEGIN
    SELECT id, status, status_reason, priority INTO c
    FROM collections
    WHERE source = nftsync_enqueue_refresh.collection_source AND slug = nftsync_enqueue_refresh.collection_slug;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'nftsync_enqueue_refresh: collection %/% is not tracked (add it with `nftsync collections add`)',
            collection_source, collection_slug USING ERRCODE = 'no_data_found';
    END IF;
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'nftsync_enqueue_refresh: collection %/% is % (%): resume it first',
            collection_source, collection_slug, c.status, c.status_reason USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    IF nftsync_enqueue_refresh.kind = 'all' THEN
        wanted := ARRAY(SELECT k.refresh_kind FROM refresh_kinds k ORDER BY k.position);
    ELSIF EXISTS (SELECT 1 FROM refresh_kinds k WHERE k.refresh_kind = nftsync_enqueue_refresh.kind) THEN
        wanted := ARRAY[nftsync_enqueue_refresh.kind];
    ELSE
        RAISE EXCEPTION 'nftsync_enqueue_refresh: unknown kind %: want %, or all',
            coalesce(quote_literal(nftsync_enqueue_refresh.kind), 'NULL'),
            (SELECT string_agg(k.refresh_kind, ', ' ORDER BY k.position) FROM refresh_kinds k)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR j IN SELECT * FROM nftsync_refresh_jobs(array_fill(c.id, ARRAY[cardinality(wanted)]), wanted) LOOP
        ukey := sha256(convert_to('&kind=' || j.job_kind || '&args=' || j.unique_args, 'UTF8'));
        INSERT INTO river_job AS rj (args, kind, max_attempts, metadata, priority, queue, state, tags, unique_key, unique_states)
        VALUES (CASE WHEN manual THEN j.job_args || '{"manual": true}'::jsonb ELSE j.job_args END,
                j.job_kind, j.max_attempts, '{}', CASE WHEN manual THEN 1 ELSE c.priority END, j.job_queue,
                'available', '{}', ukey, B'11110001')
        ON CONFLICT (unique_key)
            WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL AND river_job_state_in_bitmask(unique_states, state)
            DO UPDATE SET kind = rj.kind
        RETURNING rj.id, rj.kind, rj.queue, (rj.xmax <> 0) INTO job_id, job_kind, job_queue, dup;
        inserted := NOT dup;
        refresh_kind := j.kind;
        job_source := j.source;
        IF inserted THEN
            -- Wake the queue's workers now (delivered at commit), as River does.
            PERFORM pg_notify(current_schema() || '.river_insert', json_build_object('queue', job_queue)::text);
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION nftsync_enqueue_refresh(text, text, boolean, text) IS
    'Enqueue nftsync refresh jobs (kind: a refresh kind of the refresh_kinds table, or all) for a tracked collection: one job per source routed for each kind (nftsync_refresh_jobs), skipping jobs still unfinished exactly like River''s unique insert. Returns one row per job: job id, job kind, queue, inserted (false = duplicate skipped), refresh kind, source asked.';

-- The API's data versions and change notifications: see
-- collection_data_versions in 0001_schema.sql.
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
        WHEN table_name = 'sales' THEN 'SALES'
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

-- nftsync_data_changed bumps the data versions of ids and tells the API's
-- subscriptions that data of kind (a DataChange) changed, as the trigger
-- does, for writers whose table is not versioned by a trigger (a table
-- written far more often than what the API serves from it changes).
CREATE OR REPLACE FUNCTION nftsync_data_changed(ids bigint[], kind text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM nftsync_bump_data_versions(ids);
    PERFORM pg_notify('nftsync_data_changed', id::text || ' ' || kind)
    FROM (SELECT DISTINCT id FROM unnest(ids) AS u (id) WHERE id IS NOT NULL) s;
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
        'tokens', 'token_traits', 'rarity_runs', 'trait_value_stats', 'data_quality_events', 'sales']) AS t
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
           ('volume_snapshots', 'per-run snapshots, not served'),
           ('collection_streams', 'stream bookkeeping touched with every batch of events; the writes that change what the API serves (a state change: live or polled) bump explicitly through nftsync_data_changed')
$$;
