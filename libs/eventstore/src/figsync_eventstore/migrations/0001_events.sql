-- The event store: append-only, one row per event, the source of truth.
CREATE TABLE events (
    position       bigint      PRIMARY KEY,
    stream_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    event_id       uuid        NOT NULL UNIQUE,
    type           text        NOT NULL,
    schema_version integer     NOT NULL DEFAULT 1,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, version)
);

CREATE SEQUENCE events_position_seq AS bigint OWNED BY events.position;
ALTER TABLE events ALTER COLUMN position SET DEFAULT nextval('events_position_seq');
CREATE INDEX events_type_idx ON events (type, position);

-- Append-only: updates and deletes are refused by the database itself.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Named read positions of the store's tailing readers (the relay, projections).
CREATE TABLE cursors (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
