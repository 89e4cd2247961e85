//! Storing entities read from MusicBrainz's JSON data dumps, and the
//! progress of each dump file (migration V11), for `ingest-worker
//! import-dump`.
//!
//! An imported entity is stored as a fetched one is ([`write::upsert_entity_at`]:
//! the same rows, details and stubs), with the dump's time as its fetch
//! time, so freshness treats it like a fetch made then. A row fetched
//! after the dump was made is newer and is left alone. Each batch notifies
//! what it stored, as a worker's fill does, so running query-apis drop
//! their copies on its commit. Each batch commits its entities together
//! with a record of its lines (migration V12), so an import stopped at any
//! point, with several batches in flight, resumes with the lines no batch
//! committed and stores nothing twice; storing the same line again changes
//! nothing.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{DbError, outcome, write};
use crate::domain::{Document, Entity};
use crate::mbid::EntityType;
use crate::notify::Filled;

/// Where the import of one dump file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportState {
    /// The dump it belongs to (its `TIMESTAMP`).
    pub dumped_at: SystemTime,
    /// Lines committed without a gap from the first: the next run starts
    /// after them.
    pub lines: i64,
    pub stored: i64,
    /// Entities left alone because the cache holds a newer fetch.
    pub newer: i64,
    pub bad: i64,
    pub finished: bool,
    /// Lines committed beyond a gap (first and last line of each batch, in
    /// order): batches that were in flight with an earlier one that did
    /// not commit. The next run skips them.
    pub done: Vec<(i64, i64)>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub stored: i64,
    pub newer: i64,
}

/// The state of `source` for the dump made at `dumped_at`: as recorded when
/// it is of that dump, else a fresh start (recorded so).
pub async fn begin(
    client: &mut deadpool_postgres::Client,
    source: &str,
    dumped_at: SystemTime,
) -> Result<ImportState, DbError> {
    client
        .execute(
            "INSERT INTO dump_import (source, dumped_at) VALUES ($1, $2) \
             ON CONFLICT (source) DO UPDATE SET dumped_at = EXCLUDED.dumped_at, lines = 0, \
               stored = 0, newer = 0, bad = 0, finished_at = NULL, updated_at = now() \
             WHERE dump_import.dumped_at <> EXCLUDED.dumped_at",
            &[&source, &dumped_at],
        )
        .await?;
    let tx = client.transaction().await?;
    let state = fold(&tx, source).await?;
    tx.commit().await?;
    Ok(state)
}

/// Folds the batches recorded for `source` into its row: every batch's
/// counts into the totals, and the batches that continue the committed
/// lines into them (those rows are deleted; the others keep their lines,
/// with their counts taken). Rows of another dump are dropped.
async fn fold(tx: &impl GenericClient, source: &str) -> Result<ImportState, DbError> {
    let row = tx
        .query_one(
            "SELECT dumped_at, lines, stored, newer, bad, finished_at IS NOT NULL AS finished \
             FROM dump_import WHERE source = $1 FOR UPDATE",
            &[&source],
        )
        .await?;
    let mut state = ImportState {
        dumped_at: row.get("dumped_at"),
        lines: row.get("lines"),
        stored: row.get("stored"),
        newer: row.get("newer"),
        bad: row.get("bad"),
        finished: row.get("finished"),
        done: Vec::new(),
    };
    tx.execute(
        "DELETE FROM dump_import_batch WHERE source = $1 AND dumped_at <> $2",
        &[&source, &state.dumped_at],
    )
    .await?;
    let batches = tx
        .query(
            "SELECT first_line, last_line, stored, newer, bad FROM dump_import_batch \
             WHERE source = $1 ORDER BY first_line",
            &[&source],
        )
        .await?;
    for batch in &batches {
        let (first, last): (i64, i64) = (batch.get(0), batch.get(1));
        state.stored += batch.get::<_, i64>(2);
        state.newer += batch.get::<_, i64>(3);
        state.bad += batch.get::<_, i64>(4);
        if state.done.is_empty() && first <= state.lines + 1 {
            state.lines = state.lines.max(last);
        } else {
            state.done.push((first, last));
        }
    }
    let params: [&(dyn ToSql + Sync); 5] = [
        &source,
        &state.lines,
        &state.stored,
        &state.newer,
        &state.bad,
    ];
    tx.execute(
        "UPDATE dump_import SET lines = $2, stored = $3, newer = $4, bad = $5, updated_at = now() \
         WHERE source = $1",
        &params,
    )
    .await?;
    tx.execute(
        "DELETE FROM dump_import_batch WHERE source = $1 AND last_line <= $2",
        &[&source, &state.lines],
    )
    .await?;
    tx.execute(
        "UPDATE dump_import_batch SET stored = 0, newer = 0, bad = 0 WHERE source = $1",
        &[&source],
    )
    .await?;
    Ok(state)
}

/// Lines `first..=last` of a dump file, as one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub first: i64,
    pub last: i64,
}

/// Stores one batch of `entity_type` entities with the documents they were
/// read from, and records that `source`'s `lines` are done (`bad` of them
/// could not be read). Run in a transaction; it commits both or neither.
/// Batches of one file may be stored at once, in separate transactions.
#[allow(clippy::too_many_arguments)]
pub async fn store_batch(
    tx: &impl GenericClient,
    source: &str,
    entity_type: EntityType,
    dumped_at: SystemTime,
    batch: &[(Entity, Document)],
    lines: Lines,
    bad: i64,
) -> Result<BatchOutcome, DbError> {
    let (table, _, _) = super::browse::table(entity_type);
    let ids: Vec<Uuid> = batch.iter().map(|(e, _)| e.mbid().as_uuid()).collect();
    let newer: Vec<Uuid> = tx
        .query(
            &format!("SELECT mbid FROM {table} WHERE mbid = ANY($1) AND fetched_at > $2"),
            &[&ids, &dumped_at],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut outcome = BatchOutcome::default();
    let mut stored = Vec::with_capacity(batch.len());
    for (entity, document) in batch {
        if newer.contains(&entity.mbid().as_uuid()) {
            outcome.newer += 1;
            continue;
        }
        // The dump holds an entity with everything MusicBrainz includes in
        // it, not a lookup with a known inc=: recorded as unknown.
        write::upsert_entity_at(tx, entity, document, None, Some(dumped_at)).await?;
        stored.push(Filled::Entity(entity.entity_type(), entity.mbid()));
    }
    outcome.stored = stored.len() as i64;
    // Running query-apis drop their copies (hot tier) and raise their
    // replica floor on commit, as for a worker's fill.
    outcome::notify_all(tx, &stored).await?;
    // Only this batch's own row: batches in flight together never wait on
    // each other's progress.
    let params: [&(dyn ToSql + Sync); 7] = [
        &source,
        &dumped_at,
        &lines.first,
        &lines.last,
        &outcome.stored,
        &outcome.newer,
        &bad,
    ];
    tx.execute(
        "INSERT INTO dump_import_batch \
           (source, dumped_at, first_line, last_line, stored, newer, bad) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (source, first_line) DO UPDATE SET \
           last_line = GREATEST(dump_import_batch.last_line, EXCLUDED.last_line), \
           stored = dump_import_batch.stored + EXCLUDED.stored, \
           newer = dump_import_batch.newer + EXCLUDED.newer, \
           bad = dump_import_batch.bad + EXCLUDED.bad",
        &params,
    )
    .await?;
    Ok(outcome)
}

/// Records that `source` was read to its end, every batch of it committed:
/// folds its batches into its totals.
pub async fn finish(client: &mut deadpool_postgres::Client, source: &str) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    fold(&tx, source).await?;
    tx.execute(
        "DELETE FROM dump_import_batch WHERE source = $1",
        &[&source],
    )
    .await?;
    tx.execute(
        "UPDATE dump_import SET finished_at = now(), updated_at = now() WHERE source = $1",
        &[&source],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
