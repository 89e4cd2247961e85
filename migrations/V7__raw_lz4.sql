-- The raw MusicBrainz responses (5-171 kB of JSON a release) are compressed
-- with lz4 instead of pglz: compressing them was about 4 % of PostgreSQL's
-- time while a worker stored releases as fast as it could, and lz4 does the
-- same job several times faster (ingest on the bench database: 244-254 ->
-- 260-274 releases/s). Only values written from now on change. A server
-- built without lz4 keeps pglz.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['artist', 'label', 'recording', 'release_group', 'release'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; raw stays compressed with pglz';
END
$$;
