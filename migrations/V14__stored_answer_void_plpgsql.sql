-- `stored_answer_void` as PL/pgSQL instead of SQL. Every row trigger of
-- V13 calls it, several times per fill; a SQL-language function that is
-- not inlined (an INSERT never is) is parsed and planned again at every
-- call, while PL/pgSQL keeps its statement's plan for the session. In a
-- profile of one worker's ingest, planning these calls was a tenth of
-- PostgreSQL's time. Same statement, same lock order, same result.
CREATE OR REPLACE FUNCTION stored_answer_void(kind text, ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stored_answer (entity_type, mbid)
    SELECT DISTINCT kind, id FROM unnest(ids) AS id WHERE id IS NOT NULL ORDER BY 2
    ON CONFLICT (entity_type, mbid) DO UPDATE SET body = NULL, fetched_at = NULL;
END
$$;
