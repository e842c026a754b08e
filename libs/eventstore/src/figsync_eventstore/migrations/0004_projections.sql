-- The projector's views: derived from the events, rebuilt at will, never a source of truth.
-- Everything lives in the schema `projections`, with its own checkpoint, so that a rebuild
-- can fill a fresh schema and swap it in with one rename (tables and checkpoint together).
CREATE SCHEMA projections;

-- The position of the last event applied to these tables (one row).
CREATE TABLE projections.checkpoint (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO projections.checkpoint DEFAULT VALUES;

-- Teams seen in any event (team settings or jobs): the API answers 404 for others.
CREATE TABLE projections.teams (
    team          text        PRIMARY KEY,
    first_seen    timestamptz NOT NULL,
    last_position bigint      NOT NULL
);

-- One row per job (a job is a stream whose id has no colon).
CREATE TABLE projections.jobs (
    job_id         text        PRIMARY KEY,
    team           text        NOT NULL,
    source         text,       -- email | webhook | manual_sync
    status         text        NOT NULL,
    step           text,
    file_key       text,
    file_name      text,
    comment_id     text,
    author         text,
    mention        text,
    title          text,
    notion_url     text,
    attempts       integer     NOT NULL DEFAULT 0,
    error_code     text,
    error_message  text,
    deferred_until timestamptz,
    cost_usd       numeric     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    processing_ms  bigint,
    event_count    integer     NOT NULL,
    last_position  bigint      NOT NULL
);
CREATE INDEX jobs_team_created_idx ON projections.jobs (team, created_at DESC, job_id);
CREATE INDEX jobs_team_status_idx ON projections.jobs (team, status, created_at DESC);
CREATE INDEX jobs_team_position_idx ON projections.jobs (team, last_position);

-- Every event of every job, without bulky payloads (the timeline).
CREATE TABLE projections.job_events (
    position    bigint      PRIMARY KEY,
    job_id      text        NOT NULL,
    team        text        NOT NULL,
    version     integer     NOT NULL,
    type        text        NOT NULL,
    detail      json        NOT NULL,  -- json, not jsonb: written by binary COPY as text
    recorded_at timestamptz NOT NULL
);
CREATE INDEX job_events_job_idx ON projections.job_events (job_id, position);

-- Per team and UTC day; averages are sums over counts so that batches add up.
CREATE TABLE projections.daily_metrics (
    team              text    NOT NULL,
    day               date    NOT NULL,
    jobs              integer NOT NULL DEFAULT 0,
    successful        integer NOT NULL DEFAULT 0,
    failed            integer NOT NULL DEFAULT 0,
    ignored           integer NOT NULL DEFAULT 0,
    processing_ms_sum bigint  NOT NULL DEFAULT 0,
    processing_count  integer NOT NULL DEFAULT 0,
    figma_calls       integer NOT NULL DEFAULT 0,
    notion_calls      integer NOT NULL DEFAULT 0,
    ai_calls          integer NOT NULL DEFAULT 0,
    cost_usd          numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (team, day)
);

-- Failures by stable error code.
CREATE TABLE projections.errors (
    team         text        NOT NULL,
    code         text        NOT NULL,
    count        integer     NOT NULL,
    step         text,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    last_message text,
    last_job_id  text,
    PRIMARY KEY (team, code)
);

-- AI cost per team and month (YYYY-MM, UTC).
CREATE TABLE projections.costs (
    team            text    NOT NULL,
    month           text    NOT NULL,
    cost_usd        numeric NOT NULL DEFAULT 0,
    summaries       integer NOT NULL DEFAULT 0,
    ai_summaries    integer NOT NULL DEFAULT 0,
    input_tokens    bigint  NOT NULL DEFAULT 0,
    output_tokens   bigint  NOT NULL DEFAULT 0,
    budget_exceeded boolean NOT NULL DEFAULT false,
    PRIMARY KEY (team, month)
);
