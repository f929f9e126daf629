-- Rotation requests: the server asks a customer for a new client secret
-- before the one it holds expires. `rotates` is the id of the request whose
-- credential this one replaces. Unique, so one credential gets one rotation,
-- however many server instances run the timer at once (NULLs, the requests
-- that rotate nothing, are distinct on both engines).
ALTER TABLE requests ADD COLUMN rotates TEXT;
CREATE UNIQUE INDEX requests_rotates ON requests (rotates);
