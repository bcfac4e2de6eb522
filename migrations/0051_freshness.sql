-- Freshness as a goal: a target age per refresh kind (overridable per
-- collection) and the achieved age per collection and kind as a view.
CREATE TABLE freshness_targets (
    kind               text    PRIMARY KEY,
    target_age_seconds integer NOT NULL CHECK (target_age_seconds > 0)
);
INSERT INTO freshness_targets (kind, target_age_seconds) VALUES
    ('floor_price', 60), ('volume', 300), ('metadata', 86400), ('tokens', 86400);

-- NULL: the kind's default from freshness_targets.
ALTER TABLE collection_schedules
    ADD COLUMN target_age_seconds integer CHECK (target_age_seconds > 0);

-- Achieved freshness of every tracked collection and kind: the age of the
-- last successful refresh (NULL when none yet), its target, and how far past
-- the target it is (overdue_seconds <= 0 means fresh).
CREATE VIEW collection_freshness AS
SELECT c.id AS collection_id, c.source, c.slug, c.status, s.kind,
       COALESCE(s.target_age_seconds, t.target_age_seconds) AS target_age_seconds,
       s.last_success_at,
       EXTRACT(EPOCH FROM (now() - s.last_success_at))::float8 AS age_seconds,
       (EXTRACT(EPOCH FROM (now() - s.last_success_at)) - COALESCE(s.target_age_seconds, t.target_age_seconds))::float8 AS overdue_seconds,
       (s.last_success_at IS NULL
        OR now() - s.last_success_at > make_interval(secs => COALESCE(s.target_age_seconds, t.target_age_seconds))) AS stale
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id
LEFT JOIN freshness_targets t ON t.kind = s.kind;
