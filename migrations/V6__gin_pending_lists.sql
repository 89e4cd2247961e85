-- The name and title trigram indexes (V4) take new entries through a small
-- pending list instead of updating each trigram's posting list per row.
--
-- V4 turned fastupdate off because a default pending list (4 MB) made every
-- search scan up to 4 MB of unsorted entries until a vacuum merged them. But
-- with the limiter off (a private mirror, a bulk backfill) a worker stores
-- hundreds of releases a second, each with some 35 indexed names, and
-- per-row posting-list updates were a quarter of PostgreSQL's time
-- (docs/benchmarks.md). A 128 kB list bounds what a search scans to 16 pages
-- (no measurable difference on a search of 100 ms) while the inserting
-- backend merges it in batches, where the entries of common trigrams share
-- one posting-list rewrite: ingest went from about 190 to 245 releases/s.

ALTER INDEX artist_name_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
ALTER INDEX label_name_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
ALTER INDEX release_group_title_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
ALTER INDEX release_title_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
ALTER INDEX recording_title_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
ALTER INDEX entity_alias_name_trgm_idx SET (fastupdate = on, gin_pending_list_limit = 128);
