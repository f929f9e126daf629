-- Fewer random-key B-trees per secret (issue 15; see the SQLite migration
-- of the same name): the ciphertext is keyed by the secret's place in
-- creation order, so its row and key go to the end of their B-trees
-- instead of a random page each.
ALTER TABLE secrets ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;

CREATE TABLE new_secret_ciphertexts (
    secret_seq BIGINT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    ciphertext BYTEA NOT NULL
);
INSERT INTO new_secret_ciphertexts (secret_seq, expires_at, ciphertext)
    SELECT s.seq, c.expires_at, c.ciphertext
    FROM secret_ciphertexts c JOIN secrets s ON s.id = c.secret_id;
DROP TABLE secret_ciphertexts;

ALTER TABLE secrets DROP CONSTRAINT secrets_pkey;
ALTER TABLE secrets ALTER COLUMN id SET NOT NULL;
ALTER TABLE secrets ADD PRIMARY KEY (seq);
ALTER TABLE secrets ADD UNIQUE (id);

ALTER TABLE new_secret_ciphertexts RENAME TO secret_ciphertexts;
ALTER INDEX new_secret_ciphertexts_pkey RENAME TO secret_ciphertexts_pkey;
ALTER TABLE secret_ciphertexts
    ADD FOREIGN KEY (secret_seq) REFERENCES secrets (seq) ON DELETE CASCADE;
CREATE INDEX secret_ciphertexts_expires_at ON secret_ciphertexts (expires_at);
