-- Repositories and issues, workflow definitions and runs, notifications.

CREATE TABLE repositories (
    id          TEXT PRIMARY KEY NOT NULL,
    -- Display name, unique ignoring case (index below).
    name        TEXT NOT NULL,
    -- 'owner/name' on GitHub when the repository mirrors one.
    github      TEXT,
    -- A checkout on the server's machine.
    local_path  TEXT,
    -- The number the next issue gets (issues are numbered 1, 2, 3… per repository).
    next_number BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX repositories_name_lower ON repositories (lower(name));

CREATE TABLE issues (
    id            TEXT PRIMARY KEY NOT NULL,
    repository_id TEXT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    number        BIGINT NOT NULL,
    title         TEXT NOT NULL,
    -- Markdown as written.
    body          TEXT NOT NULL,
    -- 'open' | 'closed'.
    state         TEXT NOT NULL,
    -- JSON array of strings.
    labels        TEXT NOT NULL,
    assignee      TEXT,
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (repository_id, number)
);

CREATE INDEX issues_updated ON issues (updated_at);

CREATE TABLE workflows (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- An issue getting this label starts the workflow on it.
    trigger_label TEXT,
    -- JSON (app::model::WorkflowDefinition): stages of parallel steps.
    definition    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE UNIQUE INDEX workflows_name_lower ON workflows (lower(name));

CREATE TABLE workflow_runs (
    id            TEXT PRIMARY KEY NOT NULL,
    -- NULL once the workflow is deleted (the snapshot below stays).
    workflow_id   TEXT REFERENCES workflows (id) ON DELETE SET NULL,
    workflow_name TEXT NOT NULL,
    -- The definition as it was when the run started (JSON).
    definition    TEXT NOT NULL,
    issue_id      TEXT REFERENCES issues (id) ON DELETE SET NULL,
    -- 'running' | 'waiting_approval' | 'completed' | 'failed' | 'cancelled' | 'rejected'.
    status        TEXT NOT NULL,
    error         TEXT,
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    -- The run this one re-runs from a step.
    rerun_of      TEXT REFERENCES workflow_runs (id) ON DELETE SET NULL,
    -- Highest event seq of the run's stream (1, 2, 3… per run).
    last_seq      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX workflow_runs_created ON workflow_runs (created_at);
CREATE INDEX workflow_runs_status ON workflow_runs (status);
CREATE INDEX workflow_runs_issue ON workflow_runs (issue_id);

CREATE TABLE workflow_steps (
    run_id       TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    stage        BIGINT NOT NULL,
    step_index   BIGINT NOT NULL,
    step_key     TEXT NOT NULL,
    agent_id     TEXT,
    agent_name   TEXT NOT NULL,
    agent_type   TEXT NOT NULL,
    prompt       TEXT NOT NULL,
    -- 'stop' | 'continue'.
    on_failure   TEXT NOT NULL,
    approval     BOOLEAN NOT NULL,
    -- 'pending' | 'waiting_approval' | 'running' | 'completed' | 'failed' | 'cancelled' | 'skipped' | 'rejected'.
    status       TEXT NOT NULL,
    execution_id TEXT,
    -- JSON result of the step's execution.
    result       TEXT,
    error        TEXT,
    -- Who approved or rejected the gate, and when.
    decided_by   TEXT,
    decided_at   BIGINT,
    -- Taken over from the run this one re-runs.
    reused       BOOLEAN NOT NULL DEFAULT FALSE,
    started_at   BIGINT,
    finished_at  BIGINT,
    PRIMARY KEY (run_id, stage, step_index)
);

CREATE TABLE workflow_events (
    run_id  TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    -- 1, 2, 3… per run, no gaps; written by the workflow engine alone.
    seq     BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    -- JSON (app::model::WorkflowEventBody).
    payload TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'info' | 'success' | 'warning' | 'error'.
    severity   TEXT NOT NULL,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    action_url TEXT,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);

CREATE INDEX notifications_user ON notifications (user_id, created_at);

-- Executions may run on an issue and be a step of a workflow run.
ALTER TABLE executions ADD COLUMN issue_id TEXT REFERENCES issues (id) ON DELETE SET NULL;
ALTER TABLE executions ADD COLUMN workflow_run_id TEXT REFERENCES workflow_runs (id) ON DELETE SET NULL;
CREATE INDEX executions_issue ON executions (issue_id);
