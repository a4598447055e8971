-- Where each person is signed in: one row per session token issued (by its
-- `jti`), so "Your account" can list them and end one. The token itself
-- stays the credential; a row goes once its token has expired.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    -- Unix milliseconds.
    created_at BIGINT NOT NULL,
    -- The token's `exp` (Unix seconds).
    expires_at BIGINT NOT NULL,
    user_agent TEXT,
    client     TEXT
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);
