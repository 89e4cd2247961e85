-- Facts read only with the entity that owns them (shared/src/db/details.rs):
-- relationships of every type, annotation, rating, release events,
-- IPIs/ISNIs and begin/end areas on the entity rows; disc IDs, pregap and
-- data tracks on media; the recording's relationships (with its works'
-- nested ones) on each track of a release. JSON in musicmeta's own shape,
-- derived from `raw` when the row is stored. NULL: none, or stored before
-- this migration (the row's next refresh fills it).
ALTER TABLE artist ADD COLUMN details jsonb;
ALTER TABLE label ADD COLUMN details jsonb;
ALTER TABLE recording ADD COLUMN details jsonb;
ALTER TABLE release_group ADD COLUMN details jsonb;
ALTER TABLE release ADD COLUMN details jsonb;
ALTER TABLE medium ADD COLUMN details jsonb;
ALTER TABLE track ADD COLUMN recording_relations jsonb;
