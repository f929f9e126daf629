-- A secret's metadata outlives its ciphertext, so that the creator's status
-- page can still say when it was read or destroyed.
CREATE TABLE secrets (
    id           TEXT PRIMARY KEY,
    template     TEXT NOT NULL,
    passphrase   BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    -- SHA-256 of the status token; the token itself is only in the creator's link.
    status_hash  BYTEA NOT NULL UNIQUE,
    read_at      BIGINT,
    destroyed_at BIGINT
);
CREATE INDEX secrets_expires_at ON secrets (expires_at);

-- The one copy a link hands out. Deleting this row is what "read once" means.
CREATE TABLE secret_ciphertexts (
    secret_id  TEXT PRIMARY KEY REFERENCES secrets (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    ciphertext BYTEA NOT NULL
);
CREATE INDEX secret_ciphertexts_expires_at ON secret_ciphertexts (expires_at);
