//! Storing entities read from MusicBrainz's JSON data dumps, and the
//! progress of each dump file (migration V11), for `ingest-worker
//! import-dump`.
//!
//! An imported entity is stored as a fetched one is ([`write::upsert_entity_at`]:
//! the same rows, details and stubs), with the dump's time as its fetch
//! time, so freshness treats it like a fetch made then. A row fetched
//! after the dump was made is newer and is left alone. Each batch notifies
//! what it stored, as a worker's fill does, so running query-apis drop
//! their copies on its commit. Each batch commits
//! its entities together with the file's progress, so an import stopped at
//! any point resumes after the last committed line and stores nothing
//! twice; storing the same line again changes nothing.

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
    /// Lines read and committed: the next run starts after them.
    pub lines: i64,
    pub stored: i64,
    /// Entities left alone because the cache holds a newer fetch.
    pub newer: i64,
    pub bad: i64,
    pub finished: bool,
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
    client: &impl GenericClient,
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
    let row = client
        .query_one(
            "SELECT dumped_at, lines, stored, newer, bad, finished_at IS NOT NULL AS finished \
             FROM dump_import WHERE source = $1",
            &[&source],
        )
        .await?;
    Ok(ImportState {
        dumped_at: row.get("dumped_at"),
        lines: row.get("lines"),
        stored: row.get("stored"),
        newer: row.get("newer"),
        bad: row.get("bad"),
        finished: row.get("finished"),
    })
}

/// Stores one batch of `entity_type` entities with the documents they were
/// read from, and moves `source`'s progress to `lines` (`bad` more of them
/// could not be read). Run in a transaction; it commits both or neither.
pub async fn store_batch(
    tx: &impl GenericClient,
    source: &str,
    entity_type: EntityType,
    dumped_at: SystemTime,
    batch: &[(Entity, Document)],
    lines: i64,
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
    let params: [&(dyn ToSql + Sync); 5] = [&source, &lines, &outcome.stored, &outcome.newer, &bad];
    tx.execute(
        "UPDATE dump_import SET lines = $2, stored = stored + $3, newer = newer + $4, \
           bad = bad + $5, updated_at = now() WHERE source = $1",
        &params,
    )
    .await?;
    Ok(outcome)
}

/// Records that `source` was read to its end.
pub async fn finish(client: &impl GenericClient, source: &str) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE dump_import SET finished_at = now(), updated_at = now() WHERE source = $1",
            &[&source],
        )
        .await?;
    Ok(())
}
