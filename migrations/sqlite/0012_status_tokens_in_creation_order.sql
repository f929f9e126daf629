-- The last random-key B-tree a new secret wrote to (issue 15). A secret's
-- status token was found by its SHA-256 alone, through a unique index on
-- the hash: each new secret put its entry on a random page of that index,
-- 4 KiB of WAL per secret in a file of a million, and the checkpoints then
-- copied those pages back to random places in the file. Status tokens (and
-- ids) are now timestamped (src/id.rs): the token starts with the second
-- the secret was made, so it is found by (created_at, status_hash), an index
-- whose new entries go to its end. Secrets made before this migration have
-- 22-character ids and random status tokens; they are still found by the
-- hash alone, through a unique index that holds only them.
--
-- A column's UNIQUE cannot be dropped in place: the tables are made anew and
-- the rows copied in creation order (the ciphertexts too, since dropping the
-- secrets would cascade to them).
CREATE TABLE new_secrets (
    id           TEXT NOT NULL UNIQUE,
    template     TEXT NOT NULL,
    passphrase   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- SHA-256 of the status token; the token itself is only in the creator's link.
    status_hash  BLOB NOT NULL,
    read_at      INTEGER,
    destroyed_at INTEGER,
    -- The secret's place in creation order (the rowid).
    seq          INTEGER PRIMARY KEY
);
INSERT INTO new_secrets (id, template, passphrase, created_at, expires_at, status_hash, read_at, destroyed_at, seq)
    SELECT id, template, passphrase, created_at, expires_at, status_hash, read_at, destroyed_at, seq
    FROM secrets ORDER BY seq;

CREATE TABLE new_secret_ciphertexts (
    secret_seq INTEGER PRIMARY KEY REFERENCES new_secrets (seq) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
INSERT INTO new_secret_ciphertexts (secret_seq, expires_at, ciphertext)
    SELECT secret_seq, expires_at, ciphertext FROM secret_ciphertexts ORDER BY secret_seq;

DROP TABLE secret_ciphertexts;
DROP TABLE secrets;
ALTER TABLE new_secrets RENAME TO secrets;
ALTER TABLE new_secret_ciphertexts RENAME TO secret_ciphertexts;
CREATE INDEX secrets_expires_at ON secrets (expires_at);
CREATE INDEX secret_ciphertexts_expires_at ON secret_ciphertexts (expires_at);
CREATE UNIQUE INDEX secrets_status ON secrets (created_at, status_hash);
CREATE UNIQUE INDEX secrets_random_status ON secrets (status_hash) WHERE length(id) = 22;
