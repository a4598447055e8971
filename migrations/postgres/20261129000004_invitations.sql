-- Invitations: an admin's one-time link by which someone joins with a role,
-- or (with `user_id`) sets a new password for that existing account.
-- Only the SHA-256 of the link's secret is stored. A link works once, until
-- it expires or is revoked. Times are Unix milliseconds. Portable SQL.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    -- Whom it is meant for (a note for admins; not checked on accepting).
    email       TEXT,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    accepted_at BIGINT,
    accepted_by TEXT REFERENCES users (id),
    -- A password reset link for this user (NULL: an invitation).
    user_id     TEXT REFERENCES users (id)
);
CREATE INDEX invitations_created ON invitations (created_at);
