-- Webhooks: the audit trail is the outbox. A worker reads the events after
-- webhook_cursor, turns the ones worth a notification into deliveries, and
-- advances the cursor in the same transaction.

-- One row: the last event seq already turned into deliveries. It starts at
-- the trail's head when this migration runs, so that history from before the
-- upgrade is never sent; events that are more than a day old when the worker
-- first sees them are skipped as well (see src/webhook.rs).
CREATE TABLE webhook_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO webhook_cursor (id, seq) SELECT 1, seq FROM audit_head WHERE id = 1;

-- One row per (event, receiver). The receiver's URL is not stored: Slack and
-- Teams webhook URLs carry a token, so only its SHA-256 is kept and the worker
-- finds the URL in its configuration (a receiver removed from the
-- configuration gets nothing more). The body is the exact JSON sent and holds
-- no secret material.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,        -- sent as X-Handoff-Delivery
    event_seq       INTEGER NOT NULL,
    url_hash        TEXT NOT NULL,           -- hex SHA-256 of the receiver's URL
    event           TEXT NOT NULL,           -- the event kind, sent as X-Handoff-Event
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Due time of the next attempt; while an attempt runs, the end of its lease.
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (event_seq, url_hash)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
