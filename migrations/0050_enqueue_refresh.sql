-- nftsync_enqueue_refresh: enqueue refresh jobs from any language with plain
-- SQL, deduplicated exactly as River's Go client deduplicates them.
--
-- The row matches what jobargs.InsertRefreshTx inserts through River
-- v0.51's InsertManyTx: args {"collection_id": N} (plus "manual": true for a
-- manual refresh), the kind's queue, max_attempts 10, the collection's
-- priority (1 when manual), and uniqueness by args over unfinished states:
--   unique_key    = sha256('&kind=<kind>&args={"collection_id":<N>}')
--     (River's dbunique.buildUniqueKeyString: only fields tagged
--     river:"unique", sorted, compact JSON; no period, no queue)
--   unique_states = B'11110001' (available, pending, retryable, running,
--     scheduled; River's uniquestates bit positions)
-- A duplicate of an unfinished job hits river_job_unique_idx and returns
-- the existing job with inserted = false, as InsertManyTx does
-- (UniqueSkippedAsDuplicate). New jobs wake the queue's workers with the
-- NOTIFY River sends (<schema>.river_insert, {"queue": ...}).
--
-- kind: floor_price, volume, metadata, tokens, or all.
CREATE FUNCTION nftsync_enqueue_refresh(
    collection_slug text,
    kind            text    DEFAULT 'all',
    manual          boolean DEFAULT false,
    collection_source text  DEFAULT 'opensea'
) RETURNS TABLE (job_id bigint, job_kind text, job_queue text, inserted boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    c         record;
    job_kinds text[];
    queues    text[];
    job_args  jsonb;
    ukey      bytea;
    dup       boolean;
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
        WHEN 'all' THEN
            job_kinds := ARRAY['fetch_floor_price', 'fetch_volume', 'fetch_collection_metadata', 'sync_tokens'];
            queues    := ARRAY['floor_price', 'volume', 'metadata', 'tokens'];
        WHEN 'floor_price' THEN job_kinds := ARRAY['fetch_floor_price'];         queues := ARRAY['floor_price'];
        WHEN 'volume'      THEN job_kinds := ARRAY['fetch_volume'];              queues := ARRAY['volume'];
        WHEN 'metadata'    THEN job_kinds := ARRAY['fetch_collection_metadata']; queues := ARRAY['metadata'];
        WHEN 'tokens'      THEN job_kinds := ARRAY['sync_tokens'];               queues := ARRAY['tokens'];
        ELSE
            RAISE EXCEPTION 'nftsync_enqueue_refresh: unknown kind %: want floor_price, volume, metadata, tokens or all',
                coalesce(quote_literal(nftsync_enqueue_refresh.kind), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END CASE;

    job_args := jsonb_build_object('collection_id', c.id);
    IF manual THEN
        job_args := job_args || '{"manual": true}'::jsonb;
    END IF;

    FOR i IN 1 .. array_length(job_kinds, 1) LOOP
        ukey := sha256(convert_to('&kind=' || job_kinds[i] || '&args={"collection_id":' || c.id::text || '}', 'UTF8'));
        INSERT INTO river_job AS j (args, kind, max_attempts, metadata, priority, queue, state, tags, unique_key, unique_states)
        VALUES (job_args, job_kinds[i], 10, '{}', CASE WHEN manual THEN 1 ELSE c.priority END, queues[i], 'available', '{}', ukey, B'11110001')
        ON CONFLICT (unique_key)
            WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL AND river_job_state_in_bitmask(unique_states, state)
            DO UPDATE SET kind = j.kind
        RETURNING j.id, j.kind, j.queue, (j.xmax <> 0) INTO job_id, job_kind, job_queue, dup;
        inserted := NOT dup;
        IF inserted THEN
            -- Wake the queue's workers now (delivered at commit), as River does.
            PERFORM pg_notify(current_schema() || '.river_insert', json_build_object('queue', job_queue)::text);
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION nftsync_enqueue_refresh(text, text, boolean, text) IS
    'Enqueue nftsync refresh jobs (kind: floor_price, volume, metadata, tokens or all) for a tracked collection, skipping kinds with an unfinished job exactly like River''s unique insert. Returns one row per kind: job id, job kind, queue, inserted (false = duplicate skipped).';
