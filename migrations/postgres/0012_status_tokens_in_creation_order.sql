-- The last random-key B-tree a new secret wrote to (issue 15; see the
-- SQLite migration of the same name): timestamped status tokens are found
-- by (created_at, status_hash), whose new entries go to the index's end;
-- secrets made before this migration (22-character ids, random status
-- tokens) by the hash alone, through a unique index that holds only them.
ALTER TABLE secrets DROP CONSTRAINT secrets_status_hash_key;
CREATE UNIQUE INDEX secrets_status ON secrets (created_at, status_hash);
CREATE UNIQUE INDEX secrets_random_status ON secrets (status_hash) WHERE length(id) = 22;
