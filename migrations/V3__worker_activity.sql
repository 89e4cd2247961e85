-- What workers report about themselves, for the status view. A worker
-- inserts its heartbeat row when it starts, refreshes it every few seconds
-- and deletes it when it stops; activity is counted in 10-second buckets
-- (pruned after ten minutes), so "in the last minute" is a sum of buckets.
CREATE TABLE worker_heartbeat (
    worker_id   text PRIMARY KEY,
    hostname    text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE worker_activity (
    worker_id   text NOT NULL,
    bucket      timestamptz NOT NULL,
    done        integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    requests    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (worker_id, bucket)
);
