-- Events the relay could never publish (larger than the transport carries, or not an
-- envelope any more). Parking one lets every later event through; `figsync relay redrive`
-- publishes it again once the cause is fixed and stamps redriven_at.
CREATE TABLE relay_parked (
    position    bigint      PRIMARY KEY,
    event_id    uuid        NOT NULL,
    stream_id   text        NOT NULL,
    type        text        NOT NULL,
    code        text        NOT NULL,
    error       text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    redriven_at timestamptz
);
CREATE INDEX relay_parked_waiting_idx ON relay_parked (position) WHERE redriven_at IS NULL;
