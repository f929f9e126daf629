-- Fewer random-key B-trees per secret (issue 15). A secret took seven
-- B-trees, three of them keyed by random values (the id, the status hash,
-- and the ciphertext's secret id): each insert into a random-key B-tree
-- dirties a page of its own, 4 KiB of WAL per secret per such tree, and each
-- delete another. The ciphertext is now keyed by the secret's place in
-- creation order (`seq`, SQLite's rowid), so it and its row are written at
-- the B-tree's end, next to the secrets made just before, and the purge
-- deletes runs of neighbouring rows. Two random-key B-trees are left (the
-- id and the status hash, which links look secrets up by).
--
-- SQLite cannot change a table's key in place: the tables are made anew
-- and the rows copied, in creation order.
CREATE TABLE new_secrets (
    id           TEXT NOT NULL UNIQUE,
    template     TEXT NOT NULL,
    passphrase   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- SHA-256 of the status token; the token itself is only in the creator's link.
    status_hash  BLOB NOT NULL UNIQUE,
    read_at      INTEGER,
    destroyed_at INTEGER,
    -- The secret's place in creation order (the rowid).
    seq          INTEGER PRIMARY KEY
);
INSERT INTO new_secrets (id, template, passphrase, created_at, expires_at, status_hash, read_at, destroyed_at)
    SELECT id, template, passphrase, created_at, expires_at, status_hash, read_at, destroyed_at
    FROM secrets ORDER BY created_at, rowid;

-- The one copy a link hands out. Deleting this row is what "read once" means.
CREATE TABLE new_secret_ciphertexts (
    secret_seq INTEGER PRIMARY KEY REFERENCES new_secrets (seq) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL
);
INSERT INTO new_secret_ciphertexts (secret_seq, expires_at, ciphertext)
    SELECT s.seq, c.expires_at, c.ciphertext
    FROM secret_ciphertexts c JOIN new_secrets s ON s.id = c.secret_id
    ORDER BY s.seq;

DROP TABLE secret_ciphertexts;
DROP TABLE secrets;
ALTER TABLE new_secrets RENAME TO secrets;
ALTER TABLE new_secret_ciphertexts RENAME TO secret_ciphertexts;
CREATE INDEX secrets_expires_at ON secrets (expires_at);
CREATE INDEX secret_ciphertexts_expires_at ON secret_ciphertexts (expires_at);
