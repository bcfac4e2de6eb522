-- Routes resolved for a whole batch in one plan. nftsync_route_sources
-- (0063) ran once per (collection, kind) pair through the function
-- executor and subscripted the text array of kinds per row (a walk of the
-- array each time), which tripled the planner's time for a batch of 1,000
-- pairs; nftsync_routes does the same for all pairs in one query that
-- PostgreSQL inlines into its caller (a single-SELECT, STABLE SQL table
-- function), reading the pairs with one unnest.
-- nftsync_refresh_jobs and the CollectionRoutesResolve query read it;
-- nftsync_route_sources stays as a one-pair shorthand over it. What they
-- answer is unchanged.

-- nftsync_routes: per pair i (collection_ids[i], kinds[i]) of a known
-- collection, the sources serving the kind in route order (the
-- collection's own route, else its own source plus the sources serving the
-- kind by default; without sources that cannot serve the kind, except the
-- collection's own source when no worker has registered it) and whether
-- the collection has its own route for the kind.
CREATE FUNCTION nftsync_routes(collection_ids bigint[], kinds text[])
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
    JOIN nftsync_refresh_job_kinds() m ON m.kind = r.kind AND m.own_source = (x.s = r.own_source)
    ORDER BY r.pair, x.n
$$;
