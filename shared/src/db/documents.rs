//! The ws/2 documents the HTTP API answers from: a typed entity's `raw`
//! (with the inc it was fetched with, `raw_inc`), and every other answer in
//! `ws2_document` under the canonical key of its request.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use super::DbError;
use super::outcome;
use crate::domain::Document;
use crate::mbid::{EntityType, Mbid};
use crate::notify::Filled;

/// A stored document, its text as PostgreSQL gives it back (the same JSON
/// values; key order and white space are PostgreSQL's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// MusicBrainz's status: 200, 404, or 301 for a merged MBID; or
    /// [`FAILED`] for a fill that failed for good.
    pub status: u16,
    pub body: String,
    /// With a 301: where MusicBrainz sent the client (its `Location`).
    pub location: Option<String>,
    /// The inc= it was fetched with (`a+b+c`), when known.
    pub inc: Option<String>,
    pub fetched_at: SystemTime,
}

/// The status under which a document whose fill failed for good is kept
/// (Bad Gateway: MusicBrainz's answer could not be read), with
/// `{"error": reason}` as its body.
pub const FAILED: u16 = 502;

/// What a worker learnt for one document request.
#[derive(Debug, Clone)]
pub struct DocumentAnswer {
    pub status: u16,
    pub document: Document,
    pub location: Option<String>,
}

/// The document a typed entity was read from, if it was fetched (stubs
/// have none).
pub async fn find_entity(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<Option<StoredDocument>, DbError> {
    // One statement per table; the table name is chosen here, not by input.
    let sql = match entity_type {
        EntityType::Artist => {
            "SELECT raw::text, raw_inc, fetched_at FROM artist WHERE mbid = $1 AND fetched_at IS NOT NULL"
        }
        EntityType::ReleaseGroup => {
            "SELECT raw::text, raw_inc, fetched_at FROM release_group WHERE mbid = $1 AND fetched_at IS NOT NULL"
        }
        EntityType::Release => {
            "SELECT raw::text, raw_inc, fetched_at FROM release WHERE mbid = $1 AND fetched_at IS NOT NULL"
        }
        EntityType::Recording => {
            "SELECT raw::text, raw_inc, fetched_at FROM recording WHERE mbid = $1 AND fetched_at IS NOT NULL"
        }
        EntityType::Label => {
            "SELECT raw::text, raw_inc, fetched_at FROM label WHERE mbid = $1 AND fetched_at IS NOT NULL"
        }
    };
    let stmt = client.prepare_cached(sql).await?;
    let Some(row) = client.query_opt(&stmt, &[&mbid.as_uuid()]).await? else {
        return Ok(None);
    };
    let Some(body) = row.get::<_, Option<String>>(0) else {
        return Ok(None);
    };
    Ok(Some(StoredDocument {
        status: 200,
        body,
        location: None,
        inc: row.get(1),
        fetched_at: row.get(2),
    }))
}

/// The document stored under `key`.
pub async fn find(
    client: &impl GenericClient,
    key: &str,
) -> Result<Option<StoredDocument>, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT status, body::text, location, fetched_at FROM ws2_document WHERE key = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&key]).await? else {
        return Ok(None);
    };
    let status: i16 = row.get(0);
    Ok(Some(StoredDocument {
        status: u16::try_from(status)
            .map_err(|_| DbError::Inconsistent(format!("ws2_document.status = {status}")))?,
        body: row.get(1),
        location: row.get(2),
        inc: None,
        fetched_at: row.get(3),
    }))
}

/// Stores `answer` under `key` (replacing what was there), forgets the
/// claim that asked for it and queues the fill notification `filled`, all
/// in the caller's transaction.
pub async fn store(
    tx: &impl GenericClient,
    key: &str,
    filled: Filled,
    answer: &DocumentAnswer,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO ws2_document (key, status, body, location, fetched_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (key) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body, \
               location = EXCLUDED.location, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    let status = i16::try_from(answer.status)
        .map_err(|_| DbError::Inconsistent(format!("status {}", answer.status)))?;
    tx.execute(&stmt, &[&key, &status, &answer.document, &answer.location])
        .await?;
    if let Filled::Document(id) = filled {
        outcome::release_claim(tx, outcome::DOCUMENT_CLAIM, id).await?;
    }
    outcome::notify(tx, filled).await
}

/// Remembers that the fill of the document `key` failed for good, forgets
/// its claim and wakes the requests waiting for it. A stored answer is kept:
/// a failed refresh does not replace what MusicBrainz said before.
pub async fn record_failed(
    tx: &impl GenericClient,
    key: &str,
    reason: &str,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO ws2_document (key, status, body, location, fetched_at) \
             VALUES ($1, $2, jsonb_build_object('error', $3::text), NULL, now()) \
             ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at \
             WHERE ws2_document.status = EXCLUDED.status",
        )
        .await?;
    let status = FAILED as i16;
    tx.execute(&stmt, &[&key, &status, &reason]).await?;
    let id = crate::jobs::document_id(key);
    outcome::release_claim(tx, outcome::DOCUMENT_CLAIM, id).await?;
    outcome::notify(tx, Filled::Document(id)).await
}
