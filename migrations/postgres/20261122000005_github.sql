-- GitHub: connected repositories, webhook deliveries, instance settings,
-- working copies and what went back to GitHub.

-- How Yagura talks to the repository's GitHub twin. The credentials are
-- sealed (XChaCha20-Poly1305 with the key in <data dir>/secrets-key) and
-- never leave the server again.
ALTER TABLE repositories ADD COLUMN github_api_url TEXT;
-- 'token' | 'app'.
ALTER TABLE repositories ADD COLUMN github_auth TEXT;
ALTER TABLE repositories ADD COLUMN github_credentials TEXT;
ALTER TABLE repositories ADD COLUMN default_branch TEXT;
-- The ETag of the last polled issue list page, for conditional requests.
ALTER TABLE repositories ADD COLUMN github_etag TEXT;
ALTER TABLE repositories ADD COLUMN github_synced_at BIGINT;
ALTER TABLE repositories ADD COLUMN github_error TEXT;
-- Keep execution worktrees after their run ends (1) or remove them (0).
ALTER TABLE repositories ADD COLUMN keep_worktrees BOOLEAN NOT NULL DEFAULT FALSE;

-- Issues mirrored from GitHub keep GitHub's number and link, and GitHub's
-- last update time (RFC 3339): an older payload never overwrites a newer one.
ALTER TABLE issues ADD COLUMN html_url TEXT;
ALTER TABLE issues ADD COLUMN github_updated_at TEXT;

-- A workflow can also be started by assigning an issue to this user.
ALTER TABLE workflows ADD COLUMN trigger_assignee TEXT;

-- Every webhook delivery applied, by GitHub's delivery id: a redelivery is
-- recognised and applied once.
CREATE TABLE github_deliveries (
    delivery_id TEXT PRIMARY KEY NOT NULL,
    event       TEXT NOT NULL,
    -- What the delivery did ('applied', 'ignored: …').
    outcome     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Instance settings: key → value (secrets sealed like credentials).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The branch and worktree an execution works in, and where it started.
ALTER TABLE executions ADD COLUMN repository_id TEXT;
ALTER TABLE executions ADD COLUMN branch TEXT;
ALTER TABLE executions ADD COLUMN base_commit TEXT;
ALTER TABLE executions ADD COLUMN worktree TEXT;

-- What a run sent back to GitHub, so nothing is sent twice.
ALTER TABLE workflow_runs ADD COLUMN branch TEXT;
ALTER TABLE workflow_runs ADD COLUMN pr_url TEXT;
-- 0 nothing yet, 1 the start was reported, 2 the end was reported.
ALTER TABLE workflow_runs ADD COLUMN github_reported BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN github_error TEXT;

-- Sign in with GitHub links a GitHub account to a Yagura user: by its
-- numeric id (a login can be renamed and taken by someone else); the login
-- is kept for display.
ALTER TABLE users ADD COLUMN github_id BIGINT;
ALTER TABLE users ADD COLUMN github_login TEXT;
CREATE UNIQUE INDEX users_github_id ON users (github_id);
