-- The audit log: who changed what, when, from where. Append-only (the
-- server only inserts, and deletes entries older than the retention
-- setting). Times are Unix milliseconds.
CREATE TABLE audit_log (
    -- SQLite's rowid: ascending, assigned on insert. (A PostgreSQL store
    -- will need its own file here: BIGINT GENERATED ALWAYS AS IDENTITY.)
    id         INTEGER PRIMARY KEY,
    at         BIGINT NOT NULL,
    -- The person (NULL: nobody signed in, e.g. a failed sign-in or GitHub).
    actor_id   TEXT,
    -- Their username then (for a sign-in: the name that was tried).
    actor_name TEXT,
    -- 'browser' | 'token' | 'api_key' | 'github' | 'anonymous'.
    source     TEXT NOT NULL,
    -- What was done, e.g. 'agents.save', 'executions.cancel', 'auth.login'.
    action     TEXT NOT NULL,
    -- What it was done to, e.g. 'agents/4f0c…' (NULL: nothing in particular).
    target     TEXT,
    -- 'ok' or 'failed' (failures are kept for sign-ins only).
    outcome    TEXT NOT NULL,
    -- The fields sent, as JSON, secrets replaced by "•••" (NULL: none).
    detail     TEXT,
    -- The client's address.
    client     TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id);
