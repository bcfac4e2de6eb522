-- name: MigrationLock :exec
-- Serialises migrations of replicas started together (session-level lock).
SELECT pg_advisory_lock(@key::bigint);

-- name: MigrationUnlock :exec
SELECT pg_advisory_unlock(@key::bigint);

-- name: MigrationListApplied :many
SELECT version FROM nftsync_migration ORDER BY version;

-- name: MigrationRecord :exec
INSERT INTO nftsync_migration (version, name) VALUES (@version, @name);

-- name: MigrationFileHashes :many
-- The SHA-256 of each re-applied file as last applied.
SELECT name, sha256 FROM nftsync_migration_file ORDER BY name;

-- name: MigrationFileRecord :exec
INSERT INTO nftsync_migration_file (name, sha256, applied_at) VALUES (@name, @sha256, now())
ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at;
