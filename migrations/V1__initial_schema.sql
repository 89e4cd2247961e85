-- The cache schema. Every top-level entity row keeps the ws/2 response it was
-- derived from (raw) and when it was fetched (fetched_at). A row with
-- fetched_at NULL is a stub: known only as referenced from another entity
-- (an artist in a credit, a recording on a track) and not yet fetched itself.
-- Partial dates ("1990", "2012-09") stay text, as MusicBrainz gives them.

CREATE TABLE artist (
    mbid            uuid PRIMARY KEY,
    name            text NOT NULL,
    sort_name       text NOT NULL DEFAULT '',
    disambiguation  text NOT NULL DEFAULT '',
    artist_type     text,
    gender          text,
    country         text,
    area            text,
    begin_date      text,
    end_date        text,
    ended           boolean NOT NULL DEFAULT false,
    raw             jsonb,
    fetched_at      timestamptz
);

CREATE TABLE label (
    mbid            uuid PRIMARY KEY,
    name            text NOT NULL,
    sort_name       text NOT NULL DEFAULT '',
    disambiguation  text NOT NULL DEFAULT '',
    label_type      text,
    label_code      integer,
    country         text,
    area            text,
    begin_date      text,
    end_date        text,
    ended           boolean NOT NULL DEFAULT false,
    raw             jsonb,
    fetched_at      timestamptz
);

CREATE TABLE release_group (
    mbid                uuid PRIMARY KEY,
    title               text NOT NULL,
    disambiguation      text NOT NULL DEFAULT '',
    primary_type        text,
    secondary_types     text[] NOT NULL DEFAULT '{}',
    first_release_date  text,
    raw                 jsonb,
    fetched_at          timestamptz
);

CREATE TABLE recording (
    mbid                uuid PRIMARY KEY,
    title               text NOT NULL,
    disambiguation      text NOT NULL DEFAULT '',
    length_ms           integer,
    video               boolean NOT NULL DEFAULT false,
    first_release_date  text,
    raw                 jsonb,
    fetched_at          timestamptz
);

CREATE TABLE recording_isrc (
    recording_mbid  uuid NOT NULL REFERENCES recording (mbid) ON DELETE CASCADE,
    isrc            text NOT NULL,
    PRIMARY KEY (recording_mbid, isrc)
);

CREATE TABLE release (
    mbid                uuid PRIMARY KEY,
    title               text NOT NULL,
    disambiguation      text NOT NULL DEFAULT '',
    status              text,
    packaging           text,
    release_date        text,
    country             text,
    barcode             text,
    language            text,
    script              text,
    release_group_mbid  uuid REFERENCES release_group (mbid),
    raw                 jsonb,
    fetched_at          timestamptz
);
CREATE INDEX release_release_group_idx ON release (release_group_mbid);

CREATE TABLE release_label (
    release_mbid    uuid NOT NULL REFERENCES release (mbid) ON DELETE CASCADE,
    position        integer NOT NULL,
    label_mbid      uuid REFERENCES label (mbid),
    catalog_number  text,
    PRIMARY KEY (release_mbid, position)
);
CREATE INDEX release_label_label_idx ON release_label (label_mbid);

CREATE TABLE medium (
    release_mbid    uuid NOT NULL REFERENCES release (mbid) ON DELETE CASCADE,
    position        integer NOT NULL,
    format          text,
    title           text NOT NULL DEFAULT '',
    track_count     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (release_mbid, position)
);

CREATE TABLE track (
    mbid            uuid PRIMARY KEY,
    release_mbid    uuid NOT NULL,
    medium_position integer NOT NULL,
    position        integer NOT NULL,
    number          text NOT NULL DEFAULT '',
    title           text NOT NULL,
    length_ms       integer,
    recording_mbid  uuid NOT NULL REFERENCES recording (mbid),
    FOREIGN KEY (release_mbid, medium_position)
        REFERENCES medium (release_mbid, position) ON DELETE CASCADE
);
CREATE INDEX track_release_idx ON track (release_mbid, medium_position, position);
CREATE INDEX track_recording_idx ON track (recording_mbid);

-- Artist credits of releases, release groups, recordings and tracks.
CREATE TABLE artist_credit (
    entity_type     text NOT NULL CHECK (entity_type IN ('release', 'release-group', 'recording', 'track')),
    mbid            uuid NOT NULL,
    position        integer NOT NULL,
    artist_mbid     uuid NOT NULL REFERENCES artist (mbid),
    credited_name   text NOT NULL,
    join_phrase     text NOT NULL DEFAULT '',
    PRIMARY KEY (entity_type, mbid, position)
);
CREATE INDEX artist_credit_artist_idx ON artist_credit (artist_mbid);

-- Aliases, tags/genres and URL relations of any of the five entity types.
CREATE TABLE entity_alias (
    entity_type     text NOT NULL,
    mbid            uuid NOT NULL,
    position        integer NOT NULL,
    name            text NOT NULL,
    sort_name       text NOT NULL DEFAULT '',
    alias_type      text,
    locale          text,
    is_primary      boolean NOT NULL DEFAULT false,
    begin_date      text,
    end_date        text,
    ended           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (entity_type, mbid, position)
);

CREATE TABLE entity_tag (
    entity_type     text NOT NULL,
    mbid            uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('tag', 'genre')),
    position        integer NOT NULL,
    name            text NOT NULL,
    count           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (entity_type, mbid, kind, position)
);

CREATE TABLE entity_url (
    entity_type     text NOT NULL,
    mbid            uuid NOT NULL,
    position        integer NOT NULL,
    relation_type   text NOT NULL,
    url             text NOT NULL,
    begin_date      text,
    end_date        text,
    ended           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (entity_type, mbid, position)
);

-- What MusicBrainz answered for an MBID that is not an entity of its own:
-- 404 (remembered for cache.negative_ttl_secs) or a 301 to the entity it
-- was merged into.
CREATE TABLE lookup_outcome (
    entity_type     text NOT NULL,
    mbid            uuid NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('not_found', 'redirect')),
    redirect_to     uuid,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, mbid),
    CHECK ((outcome = 'redirect') = (redirect_to IS NOT NULL))
);

-- Fetches asked for and not yet done: a lookup publishes a job only when it
-- inserts the row (or finds it older than the re-ask interval), so concurrent
-- misses of one MBID, in one query-api or many, publish one job.
CREATE TABLE fetch_request (
    entity_type     text NOT NULL,
    mbid            uuid NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, mbid)
);
