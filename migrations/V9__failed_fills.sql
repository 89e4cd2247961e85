-- A fill that failed for good (MusicBrainz answered 200 with a body that
-- cannot be read, a body over musicbrainz.max_body_bytes, a 4xx other than
-- 404): remembered for cache.failure_ttl_secs, so waiting lookups are told
-- at once and repeated ones are answered without asking MusicBrainz again.
-- `reason` is what the dead letter says, for operators.
ALTER TABLE lookup_outcome DROP CONSTRAINT lookup_outcome_outcome_check;
ALTER TABLE lookup_outcome ADD CONSTRAINT lookup_outcome_outcome_check
    CHECK (outcome IN ('not_found', 'redirect', 'failed'));
ALTER TABLE lookup_outcome ADD COLUMN reason text;
