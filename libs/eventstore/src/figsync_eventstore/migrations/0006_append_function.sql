-- Appending in one round trip: lock, version check, insert and notify inside one function
-- call (its own implicit transaction), instead of six statements from the client.
CREATE FUNCTION figsync_append(
    p_stream text,
    p_expected integer,          -- -1: wherever the stream is now
    p_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_data jsonb[],
    p_metadata jsonb[],
    p_lock bigint
) RETURNS TABLE (outcome text, stream_version integer, positions bigint[], duplicate_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_current integer;
    v_positions bigint[];
    v_duplicate uuid;
BEGIN
    -- Serialize writers before drawing positions: see the comment on _APPEND_LOCK in store.py.
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT coalesce(max(e.version), 0) INTO v_current FROM events e WHERE e.stream_id = p_stream;
    IF p_expected >= 0 AND v_current <> p_expected THEN
        RETURN QUERY SELECT 'conflict'::text, v_current, NULL::bigint[], NULL::uuid;
        RETURN;
    END IF;
    SELECT e.event_id INTO v_duplicate FROM events e WHERE e.event_id = ANY (p_ids) LIMIT 1;
    IF v_duplicate IS NOT NULL THEN
        RETURN QUERY SELECT 'duplicate'::text, v_current, NULL::bigint[], v_duplicate;
        RETURN;
    END IF;
    WITH inserted AS (
        INSERT INTO events (stream_id, version, event_id, type, schema_version, data, metadata)
        SELECT p_stream, v_current + n, x.event_id, x.type, x.schema_version, x.data, x.metadata
        FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata)
             WITH ORDINALITY AS x(event_id, type, schema_version, data, metadata, n)
        ORDER BY n
        RETURNING events.position
    )
    SELECT array_agg(i.position ORDER BY i.position) INTO v_positions FROM inserted i;
    PERFORM pg_notify('figsync_events', p_stream);
    RETURN QUERY SELECT 'appended'::text, v_current + cardinality(p_ids), v_positions, NULL::uuid;
END $$;
