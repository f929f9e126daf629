-- The credential register: the non-secret facts of an answer's credential,
-- reported by whoever decrypted it (the collector with its acknowledgement,
-- the PM's browser after retrieving). Never the secret, never the tenant.
-- The app registration's client ID (a GUID).
ALTER TABLE requests ADD COLUMN client_id TEXT;
-- YYYY-MM-DD: the day the client secret expires, as the customer gave it.
ALTER TABLE requests ADD COLUMN secret_expires_on TEXT;
-- Who reported them.
ALTER TABLE requests ADD COLUMN credential_from TEXT
    CHECK (credential_from IN ('collector', 'pm'));
-- The collector target the credential was imported into.
ALTER TABLE requests ADD COLUMN imported_to TEXT;
