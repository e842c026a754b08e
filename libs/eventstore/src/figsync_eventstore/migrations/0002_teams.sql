-- Team secrets live apart from events: encrypted at rest, never in the event stream.
CREATE TABLE team_secrets (
    team       text        NOT NULL,
    name       text        NOT NULL,
    ciphertext bytea       NOT NULL,
    nonce      bytea       NOT NULL,
    key_id     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, name)
);
