-- Progress of `ingest-worker import-dump`, one row per dump file imported
-- (an archive member such as `release.tar.xz:mbdump/release`, or a plain
-- entity file): how many of its lines are stored, committed in the same
-- transaction as those lines, so an import stopped at any point resumes
-- after the last committed line. A newer dump of the same file starts it
-- over; a finished one is not read again.
CREATE TABLE dump_import (
    source      text PRIMARY KEY,
    dumped_at   timestamptz NOT NULL,
    lines       bigint NOT NULL DEFAULT 0,
    stored      bigint NOT NULL DEFAULT 0,
    newer       bigint NOT NULL DEFAULT 0,
    bad         bigint NOT NULL DEFAULT 0,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
