-- Agents (definitions) and their executions, with each execution's events.

CREATE TABLE agents (
    -- UUID v4 as text.
    id               TEXT PRIMARY KEY NOT NULL,
    -- Display name, unique ignoring case (index below).
    name             TEXT NOT NULL,
    -- 'CodeGen' | 'Review' | 'Test' | 'Deploy' | 'Custom' (seed 002's agentType).
    agent_type       TEXT NOT NULL,
    -- JSON array of strings: the argv template, element 0 the program. Never a shell string.
    command          TEXT NOT NULL,
    -- JSON object of extra environment variables for the process.
    env              TEXT NOT NULL,
    -- Wall-clock limit of one execution, in seconds.
    timeout_secs     BIGINT NOT NULL,
    -- Bytes of output stored per execution before the rest is discarded.
    output_cap_bytes BIGINT NOT NULL,
    -- Unix time in milliseconds.
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE UNIQUE INDEX agents_name_lower ON agents (lower(name));

CREATE TABLE executions (
    id            TEXT PRIMARY KEY NOT NULL,
    -- The agent it ran; NULL once that agent is deleted (the snapshot below stays).
    agent_id      TEXT REFERENCES agents (id) ON DELETE SET NULL,
    -- Snapshot of the agent at start, so history survives edits and deletion.
    agent_name    TEXT NOT NULL,
    agent_type    TEXT NOT NULL,
    -- The prompt given, and the argv actually run (JSON array) with placeholders filled.
    prompt        TEXT NOT NULL,
    argv          TEXT NOT NULL,
    -- JSON object of the agent's extra environment at start.
    env           TEXT NOT NULL,
    timeout_secs  BIGINT NOT NULL,
    output_cap_bytes BIGINT NOT NULL,
    -- 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'timed_out'.
    status        TEXT NOT NULL,
    -- 0–100 and the step text from the last `::progress` line.
    progress      BIGINT NOT NULL DEFAULT 0,
    current_step  TEXT,
    -- JSON value from the last `::result` line.
    result        TEXT,
    error_code    TEXT,
    error_message TEXT,
    exit_code     BIGINT,
    -- Signal that ended the process, if one did.
    signal        BIGINT,
    -- rusage of the reaped process: user+system CPU (ms), peak RSS (KiB); wall time (ms).
    cpu_ms        BIGINT,
    peak_memory_kb BIGINT,
    wall_ms       BIGINT,
    -- Username of whoever started it.
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    -- Highest event seq written (events are numbered 1, 2, 3… per execution).
    last_seq      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX executions_created ON executions (created_at);
CREATE INDEX executions_status ON executions (status);
CREATE INDEX executions_agent ON executions (agent_id, created_at);

CREATE TABLE execution_events (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    -- 1, 2, 3… per execution, no gaps; assigned by the single event writer.
    seq          BIGINT NOT NULL,
    -- 'queued' | 'started' | 'progress' | 'log' | 'paused' | 'resumed' | 'finished'.
    kind         TEXT NOT NULL,
    -- The event body as JSON (app::model::EventBody).
    payload      TEXT NOT NULL,
    -- Unix time in milliseconds.
    at_ms        BIGINT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
