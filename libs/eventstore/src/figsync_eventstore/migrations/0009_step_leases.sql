-- Step locks as leases: one delivery of a job per step at a time across replicas, without
-- holding a Postgres connection for the step's whole duration (an advisory lock did, which
-- made connections grow with messages in flight). A holder that dies frees its lease when
-- it expires; a live holder renews it.
CREATE TABLE step_leases (
    key        text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Failed attempts per step and trigger, counted by the step runner: only real failures
-- count, so a delivery that waited (lock busy, a concurrent append, a rate limit) never
-- brings a job closer to JobFailed.
CREATE TABLE step_attempts (
    key        text        PRIMARY KEY,
    failures   integer     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
