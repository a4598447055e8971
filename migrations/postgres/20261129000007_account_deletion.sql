-- Deleting an account. The row stays, as a tombstone: what the person
-- made (agents, workflows, issues, runs, decisions) keeps naming them as
-- its author, the audit log keeps its actor, and their username is never
-- given to someone else (who would otherwise inherit what carries it).
-- Everything that let them in or was theirs alone goes: password, linked
-- GitHub account, sessions, API keys, notifications, unused links. Their
-- single sign-on link stays with the tombstone, so the provider cannot
-- make them a new account. Only a deactivated account can be deleted.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
