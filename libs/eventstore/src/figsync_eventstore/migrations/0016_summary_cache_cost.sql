-- What a cached summary cost to write: when the attempt that wrote it died before recording
-- its SummaryGenerated, the job's next attempt finds its own answer in the cache and records
-- it with this cost (the budget counts what was spent, not what was used).
ALTER TABLE summary_cache
    ADD COLUMN input_tokens  integer NOT NULL DEFAULT 0,
    ADD COLUMN output_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN cost_usd      numeric NOT NULL DEFAULT 0;
