-- Staff accounts. Without any row here the request features stay off.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Browser sessions of staff. Only the SHA-256 of the cookie's token is kept.
CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Echoed in every staff form; compared in constant time.
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- A SOC's request for credentials. The row is metadata only: no secret
-- material ever sits here. Timestamps record each step once.
CREATE TABLE requests (
    id            TEXT PRIMARY KEY,          -- in the customer's link /r/{id}
    -- SHA-256 of the id in the PM's private link /p/{id}: like status
    -- tokens, a copy of the database must not hand out the PM's copy.
    retrieval_hash BYTEA NOT NULL UNIQUE,
    customer      TEXT NOT NULL,
    template      TEXT NOT NULL,
    note          TEXT NOT NULL,
    -- age1... recipient of the PM's copy; its identity is only in the PM's link.
    recipient     TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    reissued_from TEXT,
    opened_at     BIGINT,
    answered_at   BIGINT,
    -- SHA-256 of the customer's receipt token, set when the request is answered.
    status_hash   BYTEA UNIQUE,
    -- When the answer's copies expire if nobody retrieves or imports them.
    copies_expire_at BIGINT,
    retrieved_at  BIGINT,
    withdrawn_at  BIGINT,
    cancelled_at  BIGINT,
    expired_at    BIGINT,
    imported_at   BIGINT,
    verified_at   BIGINT,
    verify_ok     BOOLEAN,
    verify_detail TEXT
);
CREATE INDEX requests_created_at ON requests (created_at);
CREATE INDEX requests_expires_at ON requests (expires_at);

-- The answer's ciphertexts: 'pm' (to the request's recipient, revealed once
-- through the retrieval link) and 'sealed' (to the SOC's recipients, for the
-- collector). Deleting a row is what consuming a copy means.
CREATE TABLE request_copies (
    request_id  TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('pm', 'sealed')),
    expires_at  BIGINT NOT NULL,
    ciphertext  BYTEA NOT NULL,
    lease_id    TEXT,
    lease_until BIGINT,
    PRIMARY KEY (request_id, kind)
);
CREATE INDEX request_copies_expires_at ON request_copies (expires_at);

-- The trail: append-only, hash-chained. seq comes from audit_head, which
-- every append updates first, so appends are serialised and gap-free.
CREATE TABLE events (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    request_id  TEXT,
    actor       TEXT NOT NULL,
    client_addr TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX events_request_id ON events (request_id);

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
