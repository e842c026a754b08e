-- Dashboard and API authentication (issue 10).
--
-- API tokens belong to one team with a role. Only a SHA-256 of the token is stored: tokens are
-- 256-bit random strings, so a fast hash is enough (nothing to brute-force), and a database dump
-- gives no usable credential. token_id is the public part of the token, for lookup and display.
CREATE TABLE api_tokens (
    token_id     text        PRIMARY KEY,
    team         text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('member', 'admin')),
    name         text        NOT NULL DEFAULT '',
    token_hash   bytea       NOT NULL,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_team_idx ON api_tokens (team);

-- Browser sessions opened by signing in with a token. The cookie holds a random value; only
-- its hash is kept. Revoking the token (or deleting it) ends its sessions.
CREATE TABLE dashboard_sessions (
    session_hash bytea       PRIMARY KEY,
    token_id     text        NOT NULL REFERENCES api_tokens (token_id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry_idx ON dashboard_sessions (expires_at);

-- Users known by an authenticating proxy's header (SSO), with their role per team.
CREATE TABLE team_members (
    team       text        NOT NULL,
    user_name  text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('member', 'admin')),
    added_by   text        NOT NULL DEFAULT '',
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, user_name)
);
CREATE INDEX team_members_user_idx ON team_members (user_name);
