-- File transfers (issue 14): one manifest and N files, each file cut into
-- pieces of 4 MiB of plaintext, every piece a complete age file the sender
-- encrypted. The server sees counts, ciphertext sizes and times; never a
-- file's name, type or contents (they are inside the manifest and pieces).
CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    -- SHA-256 of the sender's upload token (the token is only in the sender's hands).
    upload_hash   BLOB NOT NULL UNIQUE,
    -- SHA-256 of the download token, set by the one claim that wins.
    download_hash BLOB UNIQUE,
    -- The age file of the manifest (names, sizes, message), opaque here.
    manifest      BLOB,
    files         INTEGER NOT NULL,
    -- Declared ciphertext bytes of all pieces together.
    size          INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    completed_at  INTEGER,
    claimed_at    INTEGER,
    -- Until when the claimer may fetch pieces (claim time + the grace).
    grace_until   INTEGER
);
CREATE INDEX transfers_expires_at ON transfers (expires_at);
CREATE INDEX transfers_grace_until ON transfers (grace_until);

-- What the sender declared for each file: its piece count and ciphertext bytes.
CREATE TABLE transfer_files (
    transfer_id TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    file        INTEGER NOT NULL,
    pieces      INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, file)
);

-- The pieces as uploaded. `digest` (SHA-256 of the ciphertext) tells a
-- repeated upload of the same piece from a different one without reading it.
CREATE TABLE transfer_pieces (
    transfer_id TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    file        INTEGER NOT NULL,
    piece       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    digest      BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    PRIMARY KEY (transfer_id, file, piece)
);
