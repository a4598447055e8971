-- Single sign-on (OpenID Connect). Portable SQL.

-- Who a provider's account is here: a person is matched by the issuer and
-- the provider's subject (never by email, which a provider may let people
-- change). One provider account belongs to one person.
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    -- What the provider last said, shown on the People page (not trusted).
    email      TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
-- And one provider account per person (per provider).
CREATE UNIQUE INDEX user_identities_user ON user_identities (issuer, user_id);

-- Sign-ins under way: the browser holds the state (a cookie), the server
-- its nonce and PKCE verifier, so any replica can finish the flow and a
-- state works once (deleted when used). Rows live ten minutes.
CREATE TABLE sso_flows (
    -- SHA-256 of the state, hex.
    state_hash      TEXT PRIMARY KEY NOT NULL,
    nonce           TEXT NOT NULL,
    verifier        TEXT NOT NULL,
    -- Where to go after signing in (a path on this site).
    next_path       TEXT NOT NULL,
    -- 'sign_in' | 'link' | 'invite'.
    purpose         TEXT NOT NULL CHECK (purpose IN ('sign_in', 'link', 'invite')),
    -- 'link': the signed-in person linking their provider account.
    user_id         TEXT,
    -- 'invite': the SHA-256 of the invitation link's secret, hex.
    invitation_hash TEXT,
    expires_at      BIGINT NOT NULL
);
