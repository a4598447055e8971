-- Tokens and cost an agent reports, and the budgets that pause a run
-- which spends too much (app::model::usage).

-- What the run spent: settled figures (`::usage`, Codex turns, Claude
-- Code's closing totals), plus what Claude Code's messages counted since
-- its last closing totals (replaced when they come).
ALTER TABLE executions ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
-- US dollars × 1,000,000.
ALTER TABLE executions ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN live_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN live_output_tokens BIGINT NOT NULL DEFAULT 0;
-- The Claude Code message last counted (its events repeat the same usage).
ALTER TABLE executions ADD COLUMN usage_message TEXT;
-- The Claude Code session last settled, and its totals then (its next
-- result repeats them plus what it spent since).
ALTER TABLE executions ADD COLUMN usage_session TEXT;
ALTER TABLE executions ADD COLUMN session_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN session_output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN session_cost_micros BIGINT NOT NULL DEFAULT 0;
-- When usage was last reported; NULL while none was.
ALTER TABLE executions ADD COLUMN usage_at BIGINT;
-- When a budget stopped the run: a budget stops a run once, so a person
-- who resumes it is not overruled.
ALTER TABLE executions ADD COLUMN budget_stopped_at BIGINT;
-- Whose budget: 'agent' or 'workflow' (a workflow's stops its run once).
ALTER TABLE executions ADD COLUMN budget_stopped_by TEXT;

-- JSON (app::model::Budget); '{}' is no limit.
ALTER TABLE agents ADD COLUMN budget TEXT NOT NULL DEFAULT '{}';
ALTER TABLE workflows ADD COLUMN budget TEXT NOT NULL DEFAULT '{}';

CREATE INDEX executions_usage ON executions (usage_at) WHERE usage_at IS NOT NULL;
