-- A secret's metadata outlives its ciphertext, so that the creator's status
-- page can still say when it was read or destroyed.
CREATE TABLE secrets (
    id           TEXT PRIMARY KEY,
    template     TEXT NOT NULL,
    passphrase   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- SHA-256 of the status token; the token itself is only in the creator's link.
    status_hash  BLOB NOT NULL UNIQUE,
    read_at      INTEGER,
    destroyed_at INTEGER
);
CREATE INDEX secrets_expires_at ON secrets (expires_at);

-- The one copy a link hands out. Deleting this row is what "read once" means.
CREATE TABLE secret_ciphertexts (
    secret_id  TEXT PRIMARY KEY REFERENCES secrets (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
CREATE INDEX secret_ciphertexts_expires_at ON secret_ciphertexts (expires_at);
