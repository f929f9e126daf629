-- File transfers (issue 14): one manifest and N files, each file cut into
-- pieces of 4 MiB of plaintext, every piece a complete age file the sender
-- encrypted. The server sees counts, ciphertext sizes and times; never a
-- file's name, type or contents (they are inside the manifest and pieces).
CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    -- SHA-256 of the sender's upload token (the token is only in the sender's hands).
    upload_hash   BYTEA NOT NULL UNIQUE,
    -- SHA-256 of the download token, set by the one claim that wins.
    download_hash BYTEA UNIQUE,
    -- The age file of the manifest (names, sizes, message), opaque here.
    manifest      BYTEA,
    files         BIGINT NOT NULL,
    -- Declared ciphertext bytes of all pieces together.
    size          BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    completed_at  BIGINT,
    claimed_at    BIGINT,
    -- Until when the claimer may fetch pieces (claim time + the grace).
    grace_until   BIGINT
);
CREATE INDEX transfers_expires_at ON transfers (expires_at);
CREATE INDEX transfers_grace_until ON transfers (grace_until);

-- What the sender declared for each file: its piece count and ciphertext bytes.
CREATE TABLE transfer_files (
    transfer_id TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    file        BIGINT NOT NULL,
    pieces      BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, file)
);

-- The pieces as uploaded. `digest` (SHA-256 of the ciphertext) tells a
-- repeated upload of the same piece from a different one without reading it.
CREATE TABLE transfer_pieces (
    transfer_id TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    file        BIGINT NOT NULL,
    piece       BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    digest      BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    PRIMARY KEY (transfer_id, file, piece)
);

-- Ciphertext does not compress: store pieces out of line without trying
-- (TOAST's compression would spend CPU on every 4 MiB for nothing).
ALTER TABLE transfer_pieces ALTER COLUMN ciphertext SET STORAGE EXTERNAL;
