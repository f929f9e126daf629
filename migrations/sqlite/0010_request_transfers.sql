-- Files requests (issue 14, part 4): a transfer made for a request. The
-- customer's browser binds it at creation; the answer names it, and from then
-- on its pieces are read by each of the request's readers (the PM, the
-- collector) with a download token of its own, never through a claim.
-- The request it was made for; NULL for a transfer from the public page.
ALTER TABLE transfers ADD COLUMN request_id TEXT REFERENCES requests (id);
CREATE INDEX transfers_request_id ON transfers (request_id);

-- The transfer the answer named (no foreign key: the request outlives its
-- pieces, which the purge deletes once every reader is done).
ALTER TABLE requests ADD COLUMN transfer_id TEXT;

-- One row per reader of a request's transfer: 'pm' (made when the PM's copy
-- is retrieved) and 'sealed' (made, or replaced, by each collector lease).
CREATE TABLE transfer_readers (
    transfer_id   TEXT NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    reader        TEXT NOT NULL CHECK (reader IN ('pm', 'sealed')),
    -- SHA-256 of the reader's download token.
    download_hash BLOB NOT NULL UNIQUE,
    -- Until when the token reads pieces; a finish or an acknowledgement ends it.
    grace_until   INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, reader)
);
