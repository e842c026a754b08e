-- Retention and erasure (crypto-shredding): one key per job, apart from the events. The store
-- seals the personal fields of a job's events with it (figsync_eventstore.personal); erasing
-- the job sets `key` to NULL, after which those fields read as erased everywhere they went.
CREATE TABLE job_keys (
    job_id        text        PRIMARY KEY,
    team          text        NOT NULL,
    key           bytea,                   -- NULL: erased
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz,
    erased_reason text,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);
CREATE INDEX job_keys_erased_idx ON job_keys (team, erased_at);

-- Who each job names, as digests of handles, user ids and addresses (never the values), so
-- `figsync erase --person` finds the jobs. An erased job's rows go with its key.
CREATE TABLE job_people (
    person text NOT NULL,
    job_id text NOT NULL,
    team   text NOT NULL,
    PRIMARY KEY (person, job_id)
);
CREATE INDEX job_people_job_idx ON job_people (job_id);

-- The summary a job's thread was cached under, so erasing the job drops it too.
ALTER TABLE summary_cache ADD COLUMN job_id text;
CREATE INDEX summary_cache_job_idx ON summary_cache (job_id);
