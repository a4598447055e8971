-- The pull request a person opened from an agent run's Changes page
-- (workflow runs keep theirs in workflow_runs.pr_url).
ALTER TABLE executions ADD COLUMN pr_url TEXT;
