-- `ingest-worker import-dump` stores several batches of a file at once,
-- each in its own transaction, so they may commit out of order and the
-- committed lines are no longer one prefix. Each batch records its lines
-- and counts here, in its own transaction; a run folds the rows that
-- continue `dump_import.lines` into it (and every row's counts into its
-- totals) when it begins and finishes a file, and skips the lines of the
-- rows beyond a gap. Rows of another dump of the file are dropped then.
CREATE TABLE dump_import_batch (
    source      text NOT NULL REFERENCES dump_import (source) ON DELETE CASCADE,
    dumped_at   timestamptz NOT NULL,
    first_line  bigint NOT NULL,
    last_line   bigint NOT NULL,
    stored      bigint NOT NULL,
    newer       bigint NOT NULL,
    bad         bigint NOT NULL,
    PRIMARY KEY (source, first_line)
);
