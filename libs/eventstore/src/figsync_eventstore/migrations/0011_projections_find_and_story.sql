-- The dashboard's "find anything" filters, the job page's story and its charts.
--
-- jobs.comment_text (the mentioned comment) joins the title in the text filter; job_stories
-- holds what the job page tells: the thread as figsync read it, the summary, the trace. The
-- indexes keep each filter of the Jobs page, the API and `figsync jobs list` an index scan.
-- Every expression here is the one `Views.jobs` filters on (figsync_projector/filters.py).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE projections.jobs ADD COLUMN comment_text text;

CREATE TABLE projections.job_stories (
    job_id   text  PRIMARY KEY,
    team     text  NOT NULL,
    trace_id text,
    file_url text,
    thread   jsonb,  -- ThreadResolved.thread: comment_id, author, text, created_at, resolved_at
    summary  jsonb   -- SummaryGenerated: summary, action_items, priority, category, source
);

CREATE INDEX jobs_team_file_idx ON projections.jobs (team, file_key);
CREATE INDEX jobs_team_file_name_idx ON projections.jobs (team, lower(file_name));
CREATE INDEX jobs_team_author_idx ON projections.jobs (team, replace(lower(author), '@', ''));
CREATE INDEX jobs_team_error_idx ON projections.jobs (team, error_code)
    WHERE error_code IS NOT NULL;
CREATE INDEX jobs_team_finished_idx ON projections.jobs (team, finished_at)
    WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_mentions_idx ON projections.jobs
    USING gin (string_to_array(replace(lower(mention), '@', ''), ', '));
CREATE INDEX jobs_search_idx ON projections.jobs
    USING gin ((coalesce(title, '') || ' ' || coalesce(comment_text, '')) gin_trgm_ops);

-- The views are derived: start them over from the first event, so that jobs folded before
-- this migration get their comment text and story too (the projector catches up by itself;
-- `figsync projections rebuild` does the same without a moment of partial views).
TRUNCATE projections.jobs, projections.job_events, projections.daily_metrics,
    projections.errors, projections.costs, projections.teams;
UPDATE projections.checkpoint SET position = 0, updated_at = now();
