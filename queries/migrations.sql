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
-- Every content (SHA-256) of the re-applied files ever applied, oldest
-- first: the last of a name is its current content.
SELECT name, sha256 FROM nftsync_migration_file ORDER BY name, applied_at, sha256;

-- name: MigrationFileRecord :exec
INSERT INTO nftsync_migration_file (name, sha256, applied_at) VALUES (@name, @sha256, clock_timestamp())
ON CONFLICT (name, sha256) DO UPDATE SET applied_at = EXCLUDED.applied_at;
