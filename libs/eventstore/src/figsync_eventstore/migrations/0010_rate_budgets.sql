-- One rate budget and one circuit breaker per outside credential (a Figma token, a Notion
-- integration, an Anthropic key), shared by every process and replica: a row per budget,
-- changed by single atomic statements.
--
-- The budget is GCRA (the generic cell rate algorithm): `tat` is the theoretical arrival time
-- of the next call. A call may go at tat - burst_tolerance; taking it moves tat on by one
-- emission interval. A 429 moves tat past its Retry-After, so every holder waits.
CREATE TABLE rate_budgets (
    key            text             PRIMARY KEY,
    tat            timestamptz      NOT NULL,
    interval_s     double precision NOT NULL,  -- seconds per call, as last asked
    granted        bigint           NOT NULL DEFAULT 0,
    window_start   timestamptz      NOT NULL,
    window_calls   integer          NOT NULL DEFAULT 0,
    last_window    integer          NOT NULL DEFAULT 0,  -- calls in the last full minute
    limited        bigint           NOT NULL DEFAULT 0,  -- 429s seen
    limited_at     timestamptz,                          -- the last one
    failures       integer          NOT NULL DEFAULT 0,  -- consecutive failures (breaker)
    open_until     timestamptz
);

-- Take one call from a budget: returns how long to wait before making it (0: now), or, when
-- that would be longer than p_max_wait or the circuit is open, takes nothing and returns
-- refused with the wait. A circuit whose pause has passed lets one trial call through.
-- A caller that waited checks limited_at afterwards: a 429 that came meanwhile voids its slot.
CREATE FUNCTION figsync_budget_acquire(
    p_key text, p_interval double precision, p_burst integer, p_max_wait double precision,
    p_trial_seconds double precision
) RETURNS TABLE (wait_s double precision, refused boolean, circuit_open boolean, probe boolean,
               taken_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    now_ts    timestamptz := clock_timestamp();
    tolerance interval := make_interval(secs => p_interval * greatest(p_burst - 1, 0));
    b         rate_budgets;
    next_tat  timestamptz;
    earliest  timestamptz;
BEGIN
    INSERT INTO rate_budgets (key, tat, interval_s, window_start)
    VALUES (p_key, now_ts, p_interval, now_ts) ON CONFLICT (key) DO NOTHING;
    SELECT * INTO b FROM rate_budgets WHERE key = p_key FOR UPDATE;
    IF b.open_until IS NOT NULL AND b.open_until > now_ts THEN
        RETURN QUERY SELECT extract(epoch FROM b.open_until - now_ts)::double precision, true,
                            true, false, now_ts;
        RETURN;
    END IF;
    next_tat := greatest(b.tat, now_ts);
    earliest := next_tat - tolerance;
    wait_s := greatest(0, extract(epoch FROM earliest - now_ts));
    IF wait_s > p_max_wait THEN
        RETURN QUERY SELECT wait_s, true, false, false, now_ts;
        RETURN;
    END IF;
    UPDATE rate_budgets SET
        tat = next_tat + make_interval(secs => p_interval),
        interval_s = p_interval,
        granted = granted + 1,
        -- a half-open circuit: this call is the trial, the others wait for its outcome
        open_until = CASE WHEN b.open_until IS NOT NULL
                          THEN now_ts + make_interval(secs => p_trial_seconds) END,
        last_window = CASE WHEN now_ts - window_start >= interval '60 seconds'
                           THEN CASE WHEN now_ts - window_start < interval '120 seconds'
                                     THEN window_calls ELSE 0 END
                           ELSE last_window END,
        window_calls = CASE WHEN now_ts - window_start >= interval '60 seconds'
                            THEN 1 ELSE window_calls + 1 END,
        window_start = CASE WHEN now_ts - window_start >= interval '60 seconds'
                            THEN now_ts ELSE window_start END
    WHERE key = p_key;
    RETURN QUERY SELECT wait_s, false, false, b.failures > 0 OR b.open_until IS NOT NULL, now_ts;
END $$;

-- Short-lived answers of outside APIs shared by replicas (a file's comments for a few
-- seconds, the token's own user for an hour), so jobs on the same file share one read.
CREATE TABLE shared_cache (
    key       text        PRIMARY KEY,
    value     jsonb       NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX shared_cache_stored_at_idx ON shared_cache (stored_at);
