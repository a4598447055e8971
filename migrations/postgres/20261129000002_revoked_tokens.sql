-- Session tokens ended before their expiry (signed out), by their id
-- (`jti`); rows go once the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
