//! Stored answers (migration V13): each entity's finished answer, the
//! encoded message query-api sends, kept in `stored_answer` so a cached
//! read is one primary-key probe ([`find`]).
//!
//! The first read that finds none builds it ([`build`]) under a protocol
//! that keeps it from ever holding an answer older than a committed write:
//! it takes the row's lock *before* reading the entity. Writers void
//! answers through triggers that upsert the same rows, so a write and a
//! build of one answer are ordered by that lock — the build either commits
//! first (and the write then voids it) or waits for the write and reads
//! what it committed. Encoding is the caller's (`shared` does not know the
//! wire types); a build is told how.

use std::time::SystemTime;

use bytes::Bytes;
use deadpool_postgres::{Client, GenericClient};

use super::{DbError, read};
use crate::domain::{Artist, Cached, CachedEntity, Label, Recording, Release, ReleaseGroup};
use crate::mbid::{EntityType, Mbid};

/// An entity's stored answer: its encoded message and when its data was
/// fetched (which decides freshness, as for the entity itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub body: Bytes,
    pub fetched_at: SystemTime,
}

/// An entity kind with a stored answer: how it is read from the tables to
/// be built.
pub trait Answerable: CachedEntity + Sized {
    fn read(
        client: &impl GenericClient,
        mbid: Mbid,
    ) -> impl Future<Output = Result<Option<Cached<Self>>, DbError>> + Send;
}

macro_rules! answerable {
    ($ty:ty, $read:path) => {
        impl Answerable for $ty {
            async fn read(
                client: &impl GenericClient,
                mbid: Mbid,
            ) -> Result<Option<Cached<Self>>, DbError> {
                $read(client, mbid).await
            }
        }
    };
}

answerable!(Artist, read::artist);
answerable!(Label, read::label);
answerable!(Recording, read::recording);
answerable!(ReleaseGroup, read::release_group);
answerable!(Release, read::release);

/// The stored answer of `entity_type` `mbid`, if one is built and not
/// voided since: one primary-key probe.
pub async fn find(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<Option<StoredAnswer>, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT body, fetched_at FROM stored_answer \
             WHERE entity_type = $1 AND mbid = $2 AND body IS NOT NULL",
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&entity_type.as_str(), &mbid.as_uuid()])
        .await?;
    Ok(row.map(|r| StoredAnswer {
        body: Bytes::from(r.get::<_, Vec<u8>>(0)),
        fetched_at: r.get(1),
    }))
}

/// Builds and stores the answer of `T` `mbid` (see the module docs), or
/// returns the one another build stored while this one waited for the lock.
/// `None` when the entity is not cached; nothing is written then.
///
/// Committed with `synchronous_commit = off`: an answer is derived data,
/// and one lost to a crash is only built again. A later durable commit
/// (every write that voids answers is one) flushes it with everything
/// before it, so a crash can never keep a void and lose what it voided.
pub async fn build<T: Answerable>(
    client: &mut Client,
    mbid: Mbid,
    encode: fn(T) -> Bytes,
) -> Result<Option<StoredAnswer>, DbError> {
    let kind = T::TYPE.as_str();
    let id = mbid.as_uuid();
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    // The lock comes first: every statement after it reads what was
    // committed before it was granted. The no-op update takes it on a row
    // that exists; the insert creates the row, and conflicts with any
    // writer voiding it meanwhile.
    let lock = tx
        .prepare_cached(
            "INSERT INTO stored_answer (entity_type, mbid) VALUES ($1, $2) \
             ON CONFLICT (entity_type, mbid) DO UPDATE SET entity_type = EXCLUDED.entity_type \
             RETURNING body, fetched_at",
        )
        .await?;
    let row = tx.query_one(&lock, &[&kind, &id]).await?;
    if let Some(body) = row.get::<_, Option<Vec<u8>>>(0) {
        // Built by another read while this one waited.
        let found = StoredAnswer {
            body: Bytes::from(body),
            fetched_at: row.get(1),
        };
        tx.rollback().await?;
        return Ok(Some(found));
    }
    let Some(Cached { entity, fetched_at }) = T::read(&tx, mbid).await? else {
        // Not cached: leave no row behind for an MBID nobody has filled.
        tx.rollback().await?;
        return Ok(None);
    };
    let body = encode(entity);
    let store = tx
        .prepare_cached(
            "UPDATE stored_answer SET body = $3, fetched_at = $4 \
             WHERE entity_type = $1 AND mbid = $2",
        )
        .await?;
    tx.execute(&store, &[&kind, &id, &&body[..], &fetched_at])
        .await?;
    tx.commit().await?;
    Ok(Some(StoredAnswer { body, fetched_at }))
}
