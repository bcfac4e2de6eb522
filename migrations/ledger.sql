-- The ledgers of the migration runner, run on every start before it reads
-- them (idempotent). nftsync_migration: the numbered schema files applied
-- (0001_schema.sql and any later one). nftsync_migration_file: every
-- content (SHA-256) of the re-applied files (functions.sql, catalog.sql)
-- ever applied, the latest applied_at being the current one. River's own
-- tables are migrated separately by rivermigrate.
CREATE TABLE IF NOT EXISTS nftsync_migration (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS nftsync_migration_file (
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, sha256)
);
