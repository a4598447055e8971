-- Accounts. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE users (
    -- UUID v4 as text (portable; the app parses it into UserId).
    id            TEXT PRIMARY KEY NOT NULL,
    -- Shown in the UI and used to sign in; unique ignoring case (index below).
    username      TEXT NOT NULL,
    -- PHC string of an argon2id hash ($argon2id$v=19$m=…); never leaves the server.
    password_hash TEXT NOT NULL,
    -- 'admin' | 'member' | 'viewer'.
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    -- Unix time in milliseconds (UTC).
    created_at    BIGINT NOT NULL
);

-- "Ada" and "ada" are the same account.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
