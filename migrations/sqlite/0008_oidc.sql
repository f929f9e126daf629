-- Staff sign-ins through the SOC's identity provider (OpenID Connect) that
-- have left for the provider and not come back yet. A row is taken (deleted)
-- by the one callback that presents its state, so a replayed state finds
-- nothing. Rows live 10 minutes; the purge deletes what was never used.
CREATE TABLE oidc_logins (
    -- SHA-256 of the state: the browser's cookie holds the state itself.
    state_hash    BLOB PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- Where to go after signing in: a local path, or empty.
    next          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX oidc_logins_expires_at ON oidc_logins (expires_at);
