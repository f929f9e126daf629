-- E-mail notifications (src/email.rs). A request may name the customer
-- admin's address (`contact_email`), and the PM may choose to have the
-- request's link e-mailed to it (`email_link`); a rotation request inherits
-- both. The audit trail is the outbox, as for webhooks: a worker turns the
-- events after email_cursor into rows of email_deliveries and moves the
-- cursor in the same transaction, by compare-and-set.
ALTER TABLE requests ADD COLUMN contact_email TEXT;
-- NULL (rows from before this migration) means no.
ALTER TABLE requests ADD COLUMN email_link BOOLEAN;

-- One row: the last event seq already turned into e-mails. It starts at the
-- trail's head, so that history from before the upgrade is never mailed.
CREATE TABLE email_cursor (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO email_cursor (id, seq) SELECT 1, seq FROM audit_head WHERE id = 1;

-- One row per (event, recipient address): the exact message sent, which
-- holds no secret and no capability link but the customer's request link
-- when the PM chose to send it.
CREATE TABLE email_deliveries (
    id              TEXT PRIMARY KEY,        -- in the Message-ID, the same for every attempt
    event_seq       BIGINT NOT NULL,
    recipient       TEXT NOT NULL,           -- the address it goes to
    event           TEXT NOT NULL,           -- the event kind
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Due time of the next attempt; while an attempt runs, the end of its lease.
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    failed_at       BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (event_seq, recipient)
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
