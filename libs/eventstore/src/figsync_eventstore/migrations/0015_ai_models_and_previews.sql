-- AI cost per model (a team's cheaper model for small threads shows beside its own), the
-- dashboard's priced previews of a team's AI settings, and the monthly spend that counts them.

-- Per team, month (YYYY-MM, UTC) and model: the summaries and previews it made and their cost.
CREATE TABLE projections.model_costs (
    team          text    NOT NULL,
    month         text    NOT NULL,
    model         text    NOT NULL,
    cost_usd      numeric NOT NULL DEFAULT 0,
    summaries     integer NOT NULL DEFAULT 0,
    ai_summaries  integer NOT NULL DEFAULT 0,
    previews      integer NOT NULL DEFAULT 0,
    input_tokens  bigint  NOT NULL DEFAULT 0,
    output_tokens bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (team, month, model)
);
-- Previews are in costs.cost_usd too (they count against the budget); this says how many.
ALTER TABLE projections.costs ADD COLUMN previews integer NOT NULL DEFAULT 0;

-- The views are derived: start them over from the first event so that model_costs holds the
-- summaries folded before this migration too (the projector catches up by itself; `figsync
-- projections rebuild` does the same without a moment of partial views). Every table of the
-- schema is emptied, whichever migration added it: the counters are sums, and an event folded
-- twice would count twice.
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT tablename FROM pg_tables
                WHERE schemaname = 'projections' AND tablename <> 'checkpoint' LOOP
        EXECUTE format('TRUNCATE projections.%I', name);
    END LOOP;
END $$;
UPDATE projections.checkpoint SET position = 0, updated_at = now();

-- A team's AI spend this month is the sum of what its summaries and previews cost, from the
-- store (the source of truth: a redelivery or a crash can neither double-count nor lose a
-- cost). The summarizer's query names exactly these types, so this index keeps it a range scan.
DROP INDEX events_summary_spend_idx;
CREATE INDEX events_ai_spend_idx ON events ((metadata->>'team'), recorded_at)
    WHERE type IN ('figsync.summary_generated.v1', 'figsync.summary_refreshed.v1',
                   'figsync.summary_previewed.v1');
