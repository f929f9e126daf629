-- API tokens for machines (the collector). Only the SHA-256 of a token is
-- kept, with a short prefix so that people can tell tokens apart.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    -- Space-separated scopes, e.g. 'collect'.
    scopes       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
