-- Ingest: delivery ids already accepted (replay refusal shared by every replica), and the
-- verification codes inbox providers send when forwarding to figsync is set up.
CREATE TABLE ingest_delivery_ids (
    team        text        NOT NULL,
    scheme      text        NOT NULL,  -- 'standard-webhooks', 'mailgun'
    delivery_id text        NOT NULL,
    job_id      text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, scheme, delivery_id)
);
CREATE INDEX ingest_delivery_ids_received_idx ON ingest_delivery_ids (received_at);

-- One row per forwarding-confirmation email; the dashboard shows a team's latest.
CREATE TABLE forwarding_verifications (
    team             text        NOT NULL,
    job_id           text        NOT NULL,
    provider         text        NOT NULL,  -- 'gmail', 'outlook'
    code             text        NOT NULL,
    requested_by     text        NOT NULL DEFAULT '',  -- the mailbox that asked to forward
    confirmation_url text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, job_id)
);
CREATE INDEX forwarding_verifications_latest_idx ON forwarding_verifications (team, received_at DESC);
