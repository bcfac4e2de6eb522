-- One answer to "which jobs does a refresh of kind K for collection C mean",
-- shared by every enqueue path: the planner and jobargs.InsertRefreshTx (Go,
-- used by other services, the API's refreshCollection and the CLI) read
-- nftsync_refresh_jobs through sqlc, and nftsync_enqueue_refresh (SQL, for
-- any language) inserts exactly its rows. A refresh of a kind asks each
-- source routed for it (collection_routes, else the collection's own source
-- plus the sources serving the kind by default) and never a source that does
-- not serve the kind (indexer_sources.kinds).

-- nftsync_route_sources: the sources serving kind for the collection, in
-- route order; NULL for an unknown collection. A route may name a source
-- that is no longer configured or no longer serves the kind: it is left out,
-- except the collection's own source when no worker has registered it.
CREATE FUNCTION nftsync_route_sources(route_collection_id bigint, route_kind text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(ARRAY(
        SELECT x.s FROM unnest(COALESCE(r.sources,
            ARRAY[c.source] || ARRAY(SELECT d.source FROM indexer_sources d
                                     WHERE route_kind = ANY (d.default_kinds) AND d.source <> c.source
                                     ORDER BY d.source))) WITH ORDINALITY AS x (s, n)
        WHERE x.s = c.source AND NOT EXISTS (SELECT 1 FROM indexer_sources k WHERE k.source = x.s AND NOT (route_kind = ANY (k.kinds)))
           OR EXISTS (SELECT 1 FROM indexer_sources k WHERE k.source = x.s AND route_kind = ANY (k.kinds))
        ORDER BY x.n), '{}')
    FROM collections c
    LEFT JOIN collection_routes r ON r.collection_id = c.id AND r.kind = route_kind
    WHERE c.id = route_collection_id
$$;

-- nftsync_refresh_job_kinds: the job that asks a source for a kind. The
-- collection's own source has one job per kind; another source is asked for
-- a volume by fetch_source_volume (unique per collection AND source, so each
-- routed subgraph gets its own job) and for metadata by
-- fetch_collection_metadata with "source" (still one per collection: a
-- collection's metadata comes from one source). Floor prices and tokens come
-- only from a collection's own source. These rows mirror the Go types in
-- jobs/jobargs (Kind, InsertOpts); jobargs refuses a row its types disagree
-- with, and a test compares them.
CREATE FUNCTION nftsync_refresh_job_kinds()
RETURNS TABLE (kind text, own_source boolean, job_kind text, job_queue text, max_attempts smallint, unique_by_source boolean)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('floor_price', true,  'fetch_floor_price',         'floor_price',   10::smallint, false),
           ('volume',      true,  'fetch_volume',              'volume',        10::smallint, false),
           ('metadata',    true,  'fetch_collection_metadata', 'metadata',      10::smallint, false),
           ('tokens',      true,  'sync_tokens',               'tokens',        10::smallint, false),
           ('volume',      false, 'fetch_source_volume',       'source_volume', 10::smallint, true),
           ('metadata',    false, 'fetch_collection_metadata', 'metadata',      10::smallint, false)
$$;

-- nftsync_refresh_jobs: the jobs a refresh of kinds[i] for collection_ids[i]
-- means, pair by pair in input order and within a pair in route order. source
-- is the source asked; job_args the job's args without bucket and manual;
-- unique_args the canonical JSON River hashes into the unique key
-- (sha256('&kind=' || job_kind || '&args=' || unique_args)): the fields
-- tagged river:"unique", sorted, compact. Unknown collections and kinds give
-- no rows (callers validate kinds first).
CREATE FUNCTION nftsync_refresh_jobs(collection_ids bigint[], kinds text[])
RETURNS TABLE (collection_id bigint, kind text, source text, own_source boolean, job_kind text, job_queue text,
               max_attempts smallint, job_args jsonb, unique_args text)
LANGUAGE sql STABLE AS $$
    SELECT u.cid, u.k, x.s, m.own_source, m.job_kind, m.job_queue, m.max_attempts,
           jsonb_build_object('collection_id', u.cid)
               || CASE WHEN m.own_source THEN '{}'::jsonb ELSE jsonb_build_object('source', x.s) END,
           '{"collection_id":' || u.cid::text
               || CASE WHEN m.unique_by_source THEN ',"source":' || to_json(x.s)::text ELSE '' END || '}'
    FROM generate_subscripts(kinds, 1) AS i
    CROSS JOIN LATERAL (SELECT collection_ids[i] AS cid, kinds[i] AS k) AS u
    JOIN collections c ON c.id = u.cid
    CROSS JOIN LATERAL unnest(nftsync_route_sources(u.cid, u.k)) WITH ORDINALITY AS x (s, n)
    JOIN nftsync_refresh_job_kinds() m ON m.kind = u.k AND m.own_source = (x.s = c.source)
    ORDER BY i, x.n
$$;

-- nftsync_enqueue_refresh, as in 0050 (River's row, unique key and NOTIFY),
-- now enqueueing the routed set: for each kind, one job per routed source
-- that serves it (a volume refresh: fetch_volume when OpenSea is routed plus
-- one fetch_source_volume per routed subgraph). It returns one row per job,
-- with the refresh kind and the source asked. A kind routed to no source
-- that can serve it enqueues nothing.
DROP FUNCTION nftsync_enqueue_refresh(text, text, boolean, text);
CREATE FUNCTION nftsync_enqueue_refresh(
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

    CASE nftsync_enqueue_refresh.kind
        WHEN 'all' THEN wanted := ARRAY['floor_price', 'volume', 'metadata', 'tokens'];
        WHEN 'floor_price', 'volume', 'metadata', 'tokens' THEN wanted := ARRAY[nftsync_enqueue_refresh.kind];
        ELSE
            RAISE EXCEPTION 'nftsync_enqueue_refresh: unknown kind %: want floor_price, volume, metadata, tokens or all',
                coalesce(quote_literal(nftsync_enqueue_refresh.kind), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END CASE;

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
    'Enqueue nftsync refresh jobs (kind: floor_price, volume, metadata, tokens or all) for a tracked collection: one job per source routed for each kind (nftsync_refresh_jobs), skipping jobs still unfinished exactly like River''s unique insert. Returns one row per job: job id, job kind, queue, inserted (false = duplicate skipped), refresh kind, source asked.';
