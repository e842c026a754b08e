-- The thread lifecycle: which job owns each tracked Figma thread (one thread, one task), when
-- each file was last reconciled with Figma, and where the Notion poll got to.

-- First come wins: the job that inserts a thread's row owns its task; later comments in the
-- thread update that task. `open` is false once the task is done in Notion.
CREATE TABLE tracked_threads (
    team             text        NOT NULL,
    file_key         text        NOT NULL,
    root_comment_id  text        NOT NULL,
    job_id           text        NOT NULL,
    open             boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, file_key, root_comment_id)
);
CREATE INDEX tracked_threads_open ON tracked_threads (team, file_key) WHERE open;
CREATE INDEX tracked_threads_job ON tracked_threads (job_id);

-- One replica reconciles a file per interval: it takes the file by moving reconciled_at on
-- in a single conditional statement.
CREATE TABLE reconcile_cursors (
    team           text        NOT NULL,
    file_key       text        NOT NULL,
    reconciled_at  timestamptz NOT NULL,
    PRIMARY KEY (team, file_key)
);

-- The Notion poll: pages edited since `polled_from` are looked at next time; `taken_until`
-- lets one replica poll a team at a time.
CREATE TABLE notion_poll_cursors (
    team         text        PRIMARY KEY,
    polled_from  timestamptz NOT NULL,
    taken_until  timestamptz NOT NULL
);

