-- Summarizer: summaries the model already wrote, reused for the same thread content, model
-- and prompt version until they expire (the key is a hash of those and the team).
CREATE TABLE summary_cache (
    cache_key      text        PRIMARY KEY,
    team           text        NOT NULL,
    model          text        NOT NULL,
    prompt_version text        NOT NULL,
    summary        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX summary_cache_expires_idx ON summary_cache (expires_at);

-- A team's AI spend this month is the sum of its SummaryGenerated costs in the store (the
-- source of truth, so a redelivery or a crash can neither double-count nor lose a cost);
-- this index keeps that sum a short range scan.
CREATE INDEX events_summary_spend_idx ON events ((metadata->>'team'), recorded_at)
    WHERE type = 'figsync.summary_generated.v1';
