-- name: MigrationLock :exec
-- Serialises migrations of replicas started together (session-level lock).
SELECT pg_advisory_lock(@key::bigint);

-- name: MigrationUnlock :exec
SELECT pg_advisory_unlock(@key::bigint);

-- name: MigrationListApplied :many
SELECT version FROM nftsync_migration ORDER BY version;

-- name: MigrationRecord :exec
INSERT INTO nftsync_migration (version, name) VALUES (@version, @name);
