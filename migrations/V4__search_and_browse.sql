-- Search and browse over the cache (docs/catalog.md).
--
-- Names and titles are matched in a normalised form: unaccented and
-- lowercased, so "Bjork", "björk" and "BJÖRK" are one name. unaccent() is
-- only STABLE (its dictionary could change), so it is wrapped in an
-- IMMUTABLE function with the dictionary named explicitly; index expressions
-- need that. Trigram (pg_trgm) GIN indexes on the normalised form serve
-- typo-tolerant word-similarity matches (`<%`) and exact matches (`=`).
-- Both extensions are trusted, so the database owner may create them.
-- fastupdate is off: with it, new rows wait in a pending list that every
-- search scans linearly until a vacuum merges it, which made searches tens
-- of milliseconds slower after a burst of writes; workers write at most a
-- few entities a second, so paying the index update on insert is cheap.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE FUNCTION musicmeta_normalize(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(unaccent('unaccent'::regdictionary, $1));

-- The year of a partial date ("1991", "1991-06", "1991-06-11"), or NULL.
CREATE FUNCTION musicmeta_year(text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN $1 ~ '^[0-9]{4}' THEN substr($1, 1, 4)::integer END;

CREATE INDEX artist_name_trgm_idx ON artist
    USING gin (musicmeta_normalize(name) gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX label_name_trgm_idx ON label
    USING gin (musicmeta_normalize(name) gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX release_group_title_trgm_idx ON release_group
    USING gin (musicmeta_normalize(title) gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX release_title_trgm_idx ON release
    USING gin (musicmeta_normalize(title) gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX recording_title_trgm_idx ON recording
    USING gin (musicmeta_normalize(title) gin_trgm_ops) WITH (fastupdate = off);
-- Aliases of every entity type in one index; the type is checked on the rows found.
CREATE INDEX entity_alias_name_trgm_idx ON entity_alias
    USING gin (musicmeta_normalize(name) gin_trgm_ops) WITH (fastupdate = off);

-- Browse lists: credits by artist and kind (an artist's release groups or
-- recordings), and a release group's releases in browse order.
CREATE INDEX artist_credit_artist_kind_idx ON artist_credit (artist_mbid, entity_type, mbid);
