-- One upstream request budget shared by every worker: each request reserves
-- the next free slot, spaced 1/requests_per_second apart; a 503 sets
-- paused_until (and pushes next_slot past it) for everyone, and a worker
-- whose slot falls inside a pause waits it out and reserves again. Keyed by
-- the upstream's base URL, so a second upstream would get its own budget.
CREATE TABLE rate_budget (
    name          text PRIMARY KEY,
    next_slot     timestamptz NOT NULL,
    paused_until  timestamptz NOT NULL DEFAULT '-infinity'
);

-- What the cache knows of an entity's lists that MusicBrainz pages through
-- (an artist's release groups, a release group's releases): complete means
-- every page was seen when checked_at was recorded.
CREATE TABLE aggregate_state (
    entity_type text NOT NULL,
    mbid        uuid NOT NULL,
    relation    text NOT NULL,
    complete    boolean NOT NULL,
    item_count  integer NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, mbid, relation)
);
