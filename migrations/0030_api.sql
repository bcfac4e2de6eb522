-- Client API: an audit log of operator actions (GraphQL mutations and the
-- CLI share it) and the indexes the API's reads need.

-- One row per operator action: who (actor), what (action, detail), on which
-- collection (id and slug, kept after the collection is untracked), and the
-- River jobs a refresh inserted in the same transaction. The refresh cooldown
-- reads the latest 'refresh' row of a collection.
CREATE TABLE admin_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor         text        NOT NULL,
    action        text        NOT NULL,
    collection_id bigint,
    slug          text        NOT NULL DEFAULT '',
    detail        jsonb       NOT NULL DEFAULT '{}',
    job_ids       bigint[]    NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_collection_idx ON admin_audit (collection_id, action, created_at DESC);

-- token(collection, tokenId) and tokens(orderBy: TOKEN_ID): numeric order of
-- the uint256 token id, with the surrogate key as tie breaker.
CREATE INDEX tokens_collection_token_id_idx ON tokens (collection_id, token_id);
CREATE INDEX tokens_collection_numeric_id_idx ON tokens (collection_id, (token_id::numeric), id);
