-- The transactional outbox for jobs query-api publishes. A lookup that
-- claims a fetch (fetch_request) writes its job here in the same
-- transaction, then publishes it and deletes the row once the broker has
-- confirmed it. While the broker is down the row stays, and the relay in
-- every query-api publishes what is older than a few seconds (SKIP LOCKED,
-- so replicas share the work): a miss seen during an outage is not lost.
CREATE TABLE job_outbox (
    job_id      uuid PRIMARY KEY,
    lane        text NOT NULL CHECK (lane IN ('interactive', 'refresh', 'backfill')),
    job         jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX job_outbox_created_idx ON job_outbox (created_at);
