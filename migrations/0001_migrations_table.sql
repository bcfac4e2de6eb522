-- The ledger of applied nftsync migrations. The runner executes this file on
-- every start (it is idempotent) before it reads the ledger; River's own
-- tables are migrated separately by rivermigrate.
CREATE TABLE IF NOT EXISTS nftsync_migration (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
