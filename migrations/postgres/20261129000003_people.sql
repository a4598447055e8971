-- People: whether an account is active, when its sessions start to count,
-- and when it last signed in (all Unix milliseconds, NULL: never).
-- A deactivated user cannot sign in; their API keys are revoked and their
-- sockets closed when it happens. Session tokens issued before
-- `sessions_valid_from` are refused (deactivation sets it, so reactivating
-- someone does not bring their old sessions back).
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;
ALTER TABLE users ADD COLUMN sessions_valid_from BIGINT;
ALTER TABLE users ADD COLUMN last_sign_in_at BIGINT;
