-- The finished gRPC answer of each entity (its encoded `musicmeta.v1`
-- message), so a cached read that misses the hot tier is one primary-key
-- probe instead of the 4–8 statements and hundreds of index probes that
-- assemble it from the tables.
--
-- query-api builds an answer on the first read that finds none
-- (`shared::db::answers`): it locks the row first, then reads the entity,
-- then stores the body. Every change to an entity, or to a row another
-- entity's answer embeds (an artist's name in a release's credits), voids
-- the answers concerned *in the same transaction*, through the triggers
-- below — whichever program writes (worker fill, dump import, rederive).
-- Voiding upserts the row (body NULL) even where no answer was built yet,
-- so a build racing a write always meets the writer's row lock: it either
-- commits before the write voids it, or waits and reads what was
-- committed. Voided rows stay as tombstones; they cost a row each.
CREATE TABLE stored_answer (
    entity_type text NOT NULL,
    mbid        uuid NOT NULL,
    body        bytea,
    fetched_at  timestamptz,
    PRIMARY KEY (entity_type, mbid),
    CHECK ((body IS NULL) = (fetched_at IS NULL))
);
-- Compressed (lz4) but kept in the row: a release's answer is ~6 kB,
-- ~2.8 kB compressed, over the 2 kB at which PostgreSQL would move it to
-- the TOAST table (a second index probe and two more page reads per read).
ALTER TABLE stored_answer ALTER COLUMN body SET COMPRESSION lz4;
ALTER TABLE stored_answer ALTER COLUMN body SET STORAGE MAIN;

-- Voids the answers of `ids` (of one kind). One statement, in key order, so
-- two writers voiding overlapping sets take the row locks in one order.
CREATE FUNCTION stored_answer_void(kind text, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stored_answer (entity_type, mbid)
    SELECT DISTINCT kind, id FROM unnest(ids) AS id WHERE id IS NOT NULL ORDER BY 2
    ON CONFLICT (entity_type, mbid) DO UPDATE SET body = NULL, fetched_at = NULL
$$;

-- Voids the answers that embed a row of entity `kind` `id`: what the reads
-- in shared/src/db/read.rs join. A release embeds its group, labels,
-- recordings and the artists of every credit it shows (its own, its
-- tracks', their recordings', its group's); a release group lists its
-- releases; recordings and release groups show their credits.
CREATE FUNCTION stored_answer_void_embedding(kind text, id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE kind
    WHEN 'artist' THEN
        PERFORM stored_answer_void('release-group', ARRAY(
            SELECT mbid FROM artist_credit
            WHERE artist_mbid = id AND entity_type = 'release-group'));
        PERFORM stored_answer_void('recording', ARRAY(
            SELECT mbid FROM artist_credit
            WHERE artist_mbid = id AND entity_type = 'recording'));
        PERFORM stored_answer_void('release', ARRAY(
            SELECT c.mbid FROM artist_credit c
            WHERE c.artist_mbid = id AND c.entity_type = 'release'
            UNION
            SELECT t.release_mbid FROM artist_credit c JOIN track t ON t.mbid = c.mbid
            WHERE c.artist_mbid = id AND c.entity_type = 'track'
            UNION
            SELECT t.release_mbid FROM artist_credit c JOIN track t ON t.recording_mbid = c.mbid
            WHERE c.artist_mbid = id AND c.entity_type = 'recording'
            UNION
            SELECT r.mbid FROM artist_credit c JOIN release r ON r.release_group_mbid = c.mbid
            WHERE c.artist_mbid = id AND c.entity_type = 'release-group'));
    WHEN 'label' THEN
        PERFORM stored_answer_void('release', ARRAY(
            SELECT release_mbid FROM release_label WHERE label_mbid = id));
    WHEN 'recording' THEN
        PERFORM stored_answer_void('release', ARRAY(
            SELECT release_mbid FROM track WHERE recording_mbid = id));
    WHEN 'release-group' THEN
        PERFORM stored_answer_void('release', ARRAY(
            SELECT mbid FROM release WHERE release_group_mbid = id));
    ELSE
        NULL;
    END CASE;
END
$$;

-- On an entity table (TG_ARGV[0] names the kind). A new row is embedded
-- nowhere yet, except that a release joins its group's list; a changed or
-- deleted row voids its own answer and every answer that embeds it. Child
-- rows (tracks, aliases, ISRCs…) are only written with their entity's row,
-- whose change fires this; credits have triggers of their own (below).
CREATE FUNCTION stored_answer_on_entity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF kind = 'release' THEN
            PERFORM stored_answer_void('release-group', ARRAY[NEW.release_group_mbid]);
        END IF;
        RETURN NULL;
    END IF;
    PERFORM stored_answer_void(kind, ARRAY[OLD.mbid]);
    PERFORM stored_answer_void_embedding(kind, OLD.mbid);
    IF kind = 'release' THEN
        IF TG_OP = 'UPDATE' THEN
            PERFORM stored_answer_void('release-group',
                ARRAY[OLD.release_group_mbid, NEW.release_group_mbid]);
        ELSE
            PERFORM stored_answer_void('release-group', ARRAY[OLD.release_group_mbid]);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- One pair per entity table: inserts and deletes always, updates only when
-- the row changed (a stub upsert that changes nothing fires nothing).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['artist', 'label', 'recording', 'release_group', 'release'] LOOP
        EXECUTE format(
            'CREATE TRIGGER %1$s_voids_answers AFTER INSERT OR DELETE ON %1$I '
            'FOR EACH ROW EXECUTE FUNCTION stored_answer_on_entity(%2$L)',
            t, replace(t, '_', '-'));
        EXECUTE format(
            'CREATE TRIGGER %1$s_change_voids_answers AFTER UPDATE ON %1$I '
            'FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) '
            'EXECUTE FUNCTION stored_answer_on_entity(%2$L)',
            t, replace(t, '_', '-'));
    END LOOP;
END
$$;

-- Credits are written apart from their owner's row: a release's fill
-- rewrites the credits of its tracks' recordings and of its group, which
-- other releases (a compilation with the same recording) show too, while
-- those rows may not change. So a change of credits voids what shows them:
-- the owner's answer, and the releases that show the owner's credits. One
-- statement-level trigger per event, with the changed rows as a table, so
-- a fill's one DELETE and one INSERT of credits cost one void each.
CREATE FUNCTION stored_answer_void_credits(kinds text[], ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM stored_answer_void('recording', ARRAY(
        SELECT o.id FROM unnest(kinds, ids) AS o (kind, id) WHERE o.kind = 'recording'));
    PERFORM stored_answer_void('release-group', ARRAY(
        SELECT o.id FROM unnest(kinds, ids) AS o (kind, id) WHERE o.kind = 'release-group'));
    PERFORM stored_answer_void('release', ARRAY(
        SELECT o.id FROM unnest(kinds, ids) AS o (kind, id) WHERE o.kind = 'release'
        UNION
        SELECT t.release_mbid FROM unnest(kinds, ids) AS o (kind, id)
        JOIN track t ON t.mbid = o.id WHERE o.kind = 'track'
        UNION
        SELECT t.release_mbid FROM unnest(kinds, ids) AS o (kind, id)
        JOIN track t ON t.recording_mbid = o.id WHERE o.kind = 'recording'
        UNION
        SELECT r.mbid FROM unnest(kinds, ids) AS o (kind, id)
        JOIN release r ON r.release_group_mbid = o.id WHERE o.kind = 'release-group'));
END
$$;

CREATE FUNCTION stored_answer_on_new_credits() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kinds text[];
    ids uuid[];
BEGIN
    SELECT array_agg(entity_type), array_agg(mbid) INTO kinds, ids
    FROM (SELECT DISTINCT entity_type, mbid FROM new_credits) AS c;
    PERFORM stored_answer_void_credits(kinds, ids);
    RETURN NULL;
END
$$;

CREATE FUNCTION stored_answer_on_old_credits() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kinds text[];
    ids uuid[];
BEGIN
    SELECT array_agg(entity_type), array_agg(mbid) INTO kinds, ids
    FROM (SELECT DISTINCT entity_type, mbid FROM old_credits) AS c;
    PERFORM stored_answer_void_credits(kinds, ids);
    RETURN NULL;
END
$$;

CREATE TRIGGER artist_credit_insert_voids_answers AFTER INSERT ON artist_credit
    REFERENCING NEW TABLE AS new_credits
    FOR EACH STATEMENT EXECUTE FUNCTION stored_answer_on_new_credits();
CREATE TRIGGER artist_credit_delete_voids_answers AFTER DELETE ON artist_credit
    REFERENCING OLD TABLE AS old_credits
    FOR EACH STATEMENT EXECUTE FUNCTION stored_answer_on_old_credits();
-- An update keeps its owner (the key holds it): the new rows name it.
CREATE TRIGGER artist_credit_update_voids_answers AFTER UPDATE ON artist_credit
    REFERENCING NEW TABLE AS new_credits
    FOR EACH STATEMENT EXECUTE FUNCTION stored_answer_on_new_credits();

-- An artist's and a release group's answers say whether their list is
-- complete (`aggregate_state.complete`).
CREATE FUNCTION stored_answer_on_aggregate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.complete THEN
        PERFORM stored_answer_void(OLD.entity_type, ARRAY[OLD.mbid]);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.complete THEN
        PERFORM stored_answer_void(NEW.entity_type, ARRAY[NEW.mbid]);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER aggregate_state_voids_answers AFTER INSERT OR DELETE ON aggregate_state
    FOR EACH ROW EXECUTE FUNCTION stored_answer_on_aggregate();
CREATE TRIGGER aggregate_state_change_voids_answers AFTER UPDATE ON aggregate_state
    FOR EACH ROW WHEN (OLD.complete IS DISTINCT FROM NEW.complete)
    EXECUTE FUNCTION stored_answer_on_aggregate();
