-- API keys: long-lived credentials a person makes for scripts and clients
-- (CC-Anywhere, Team Dashboard, Socket.IO, REST). Each acts as its user,
-- with that user's role.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    -- Whose key it is; deleting the user deletes their keys.
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the person called it ("CI", "dashboard").
    name         TEXT NOT NULL,
    -- SHA-256 of the key, hex. The key (yak_ and 64 hex digits, 256 random
    -- bits) is shown once and never stored.
    key_hash     TEXT NOT NULL UNIQUE,
    -- The key's first characters, so a person can tell their keys apart.
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Updated at most once a minute.
    last_used_at BIGINT,
    -- Set when revoked; a revoked key authenticates nothing.
    revoked_at   BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- A task made without an agent (seed 000's task_create): it has no command
-- and only a runner can take it.
ALTER TABLE executions ADD COLUMN needs_runner BOOLEAN NOT NULL DEFAULT FALSE;
