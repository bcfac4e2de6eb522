-- Budgets read from the upstream's rate-limit headers (issue 17). An
-- adaptive bucket takes its rate and burst from what its API key reports in
-- X-RateLimit-Limit (requests per window) and X-RateLimit-Reset (the window,
-- estimated as the longest time to a reset seen for that limit), shared by
-- every replica; until the first answer it runs at one request per second.
-- An explicit rate or burst stays an upper cap (rate_cap, burst_cap).
ALTER TABLE rate_limit_buckets
    ADD COLUMN adaptive        boolean          NOT NULL DEFAULT false,
    -- caps on the adopted rate and burst; NULL means none.
    ADD COLUMN rate_cap        double precision CHECK (rate_cap > 0 AND rate_cap < 'Infinity'),
    ADD COLUMN burst_cap       double precision CHECK (burst_cap >= 1 AND burst_cap < 'Infinity'),
    -- the budget the key reported: reported_limit requests per
    -- reported_window seconds, last adopted at reported_at.
    ADD COLUMN reported_limit  bigint           CHECK (reported_limit > 0),
    ADD COLUMN reported_window double precision CHECK (reported_window > 0),
    ADD COLUMN reported_at     timestamptz,
    -- the pacing derived from it before the caps: paced_burst + paced_rate
    -- × window never exceeds reported_limit, so no window of the key's
    -- length (aligned or not) sees more requests than the key allows.
    ADD COLUMN paced_rate      double precision CHECK (paced_rate > 0 AND paced_rate < 'Infinity'),
    ADD COLUMN paced_burst     double precision CHECK (paced_burst >= 1 AND paced_burst < 'Infinity');
