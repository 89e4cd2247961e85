-- The ws/2 documents the MusicBrainz-compatible HTTP API answers from.
--
-- Typed entities keep the document they were read from in `raw`; `raw_inc`
-- records the inc= it was fetched with (as `a+b+c`), so the API knows which
-- requests it can answer by cutting that document down. NULL: fetched
-- before this column existed, with the old fixed inc.
ALTER TABLE artist ADD COLUMN raw_inc text;
ALTER TABLE label ADD COLUMN raw_inc text;
ALTER TABLE recording ADD COLUMN raw_inc text;
ALTER TABLE release_group ADD COLUMN raw_inc text;
ALTER TABLE release ADD COLUMN raw_inc text;

-- Every other answer, as MusicBrainz sent it, under the canonical key of
-- the request (musicbrainz/src/ws2): browse pages, searches, disc IDs,
-- ISRCs, ISWCs, URL lookups, entities without typed tables (work, area,
-- ...; key `<resource>/<mbid>`, fetched with the resource's superset inc)
-- and lookups whose inc no superset covers. `status` is MusicBrainz's:
-- 200, 404 (remembered like a typed 404) or 301 (a merged MBID, with the
-- surviving entity as the body and `location` naming it).
CREATE TABLE ws2_document (
    key         text PRIMARY KEY,
    status      smallint NOT NULL,
    body        jsonb NOT NULL,
    location    text,
    fetched_at  timestamptz NOT NULL
);

DO $$
BEGIN
    ALTER TABLE ws2_document ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; documents stay compressed with pglz';
END
$$;
