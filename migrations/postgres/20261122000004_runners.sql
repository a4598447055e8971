-- Remote runners (seed 000's providers), their tokens, and leases on executions.

CREATE TABLE runner_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    -- SHA-256 of the token, hex; the token itself is shown once and never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE runners (
    id                TEXT PRIMARY KEY NOT NULL,
    -- A runner is its token plus its name: the same pair reconnecting is the same runner.
    token_id          TEXT NOT NULL REFERENCES runner_tokens (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    -- JSON array of strings, e.g. ["local","docker"].
    capabilities      TEXT NOT NULL,
    version           TEXT NOT NULL,
    concurrency       BIGINT NOT NULL,
    online            BOOLEAN NOT NULL,
    connected_at      BIGINT,
    last_heartbeat_at BIGINT,
    UNIQUE (token_id, name)
);

-- Capabilities an agent needs from the runner that runs it (JSON array); [] = any, local included.
ALTER TABLE agents ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';
-- 'fail' (RUNNER_LOST) or 'requeue' (back to the queue, at most 3 times) when its runner is lost.
ALTER TABLE agents ADD COLUMN on_runner_lost TEXT NOT NULL DEFAULT 'fail';
ALTER TABLE executions ADD COLUMN on_runner_lost TEXT NOT NULL DEFAULT 'fail';

-- Snapshot of the agent's capabilities at start.
ALTER TABLE executions ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';
-- The runner holding the execution, and until when its lease runs (renewed by heartbeats).
ALTER TABLE executions ADD COLUMN runner_id TEXT;
ALTER TABLE executions ADD COLUMN lease_expires_at BIGINT;
-- Highest report seq applied from the runner (reports at or below it are duplicates).
ALTER TABLE executions ADD COLUMN remote_seq BIGINT NOT NULL DEFAULT 0;
-- Task fields of seed 000 (task_create / task_update).
ALTER TABLE executions ADD COLUMN task_name TEXT;
ALTER TABLE executions ADD COLUMN description TEXT;
ALTER TABLE executions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE executions ADD COLUMN metadata TEXT;
CREATE INDEX executions_runner ON executions (runner_id);
