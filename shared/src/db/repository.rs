//! The repository traits the cache policy is written against, and their
//! PostgreSQL implementation [`PgStore`].
//!
//! One [`EntityRepository`] per aggregate (artist, release group, release,
//! recording, label) reads an entity with its nested data; the
//! [`CacheStateRepository`] answers what the cache knows *about* an MBID
//! (when it was fetched, a remembered 404 or redirect, a fetch in flight);
//! the [`EntityWriter`] stores what a worker fetched, in one transaction.

use std::future::Future;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;

use super::outcome::{self, Outcome};
use super::{DbError, RawJson, outbox, read, write};
use crate::domain::{Artist, Cached, Entity, Label, Recording, Release, ReleaseGroup};
use crate::jobs::{FetchJob, Lane};
use crate::mbid::{EntityType, Mbid};
use uuid::Uuid;

/// Reads one aggregate from the cache. Stubs (entities only referenced by
/// others, never fetched) are not returned.
pub trait EntityRepository<T>: Send + Sync {
    fn find(&self, mbid: Mbid) -> impl Future<Output = Result<Option<Cached<T>>, DbError>> + Send;
}

/// What the cache knows about an MBID besides the entity itself.
pub trait CacheStateRepository: Send + Sync {
    /// When the entity was last fetched, if it ever was.
    fn fetched_at(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<Option<SystemTime>, DbError>> + Send;

    /// A remembered 404 or redirect.
    fn find_outcome(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<Option<Outcome>, DbError>> + Send;

    /// Records that a fetch was asked for. True when the caller should
    /// publish the job: no fetch was pending, or the pending one is older
    /// than `reask_after` (its job may have been lost).
    fn claim_fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        reask_after: Duration,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;

    /// How much of a paged list of `mbid` the cache has seen.
    fn aggregate(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        relation: write::Relation,
    ) -> impl Future<Output = Result<Option<read::AggregateState>, DbError>> + Send;

    /// Claims a fetch of `job`'s entity (as [`Self::claim_fetch`]) and, when
    /// claimed, stages the job in the outbox in the same transaction. True
    /// when the caller should publish it, then [`Self::unstage`] it.
    fn stage_fetch(
        &self,
        job: &FetchJob,
        lane: Lane,
        reask_after: Duration,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;

    /// Removes a staged job once the broker has confirmed it.
    fn unstage(&self, job_id: Uuid) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Forgets a claim whose job could not be published, so the next lookup
    /// tries again.
    fn release_fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// What a worker learnt from MusicBrainz about a requested MBID.
// One per job, moved once or twice: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FetchResult {
    /// The entity (whose MBID differs from the requested one when
    /// MusicBrainz redirected a merged MBID to it) and the raw response.
    Found {
        entity: Entity,
        raw: RawJson,
    },
    NotFound,
}

/// Stores fetch results. Implementations write everything in one
/// transaction, notify waiting lookups on commit, and are idempotent.
pub trait EntityWriter: Send + Sync {
    fn store(
        &self,
        entity_type: EntityType,
        requested: Mbid,
        result: FetchResult,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Stores one browse page (stubs linked to `parent`) and how much of the
    /// list has been seen (`seen` of `total`).
    fn store_browse_page(
        &self,
        parent: (EntityType, Mbid),
        relation: write::Relation,
        items: &[Entity],
        seen: u32,
        total: u32,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// The PostgreSQL implementation of every repository trait.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Ids of the `item_type` entities the cache links to `parent` (release
    /// groups credited to an artist, releases of a release group).
    pub async fn children(
        &self,
        item_type: EntityType,
        parent: (EntityType, Mbid),
    ) -> Result<Vec<Mbid>, DbError> {
        let client = self.pool.get().await?;
        read::children(&client, item_type, parent).await
    }
}

macro_rules! entity_repository {
    ($ty:ty, $load:path) => {
        impl EntityRepository<$ty> for PgStore {
            async fn find(&self, mbid: Mbid) -> Result<Option<Cached<$ty>>, DbError> {
                let client = self.pool.get().await?;
                $load(&client, mbid).await
            }
        }
    };
}

entity_repository!(Artist, read::artist);
entity_repository!(Label, read::label);
entity_repository!(Recording, read::recording);
entity_repository!(ReleaseGroup, read::release_group);
entity_repository!(Release, read::release);

impl CacheStateRepository for PgStore {
    async fn fetched_at(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<Option<SystemTime>, DbError> {
        let client = self.pool.get().await?;
        read::fetched_at(&client, entity_type, mbid).await
    }

    async fn find_outcome(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<Option<Outcome>, DbError> {
        let client = self.pool.get().await?;
        outcome::find(&client, entity_type, mbid).await
    }

    async fn claim_fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        reask_after: Duration,
    ) -> Result<bool, DbError> {
        let client = self.pool.get().await?;
        outcome::claim_fetch(&client, entity_type, mbid, reask_after).await
    }

    async fn aggregate(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        relation: write::Relation,
    ) -> Result<Option<read::AggregateState>, DbError> {
        let client = self.pool.get().await?;
        read::aggregate(&client, entity_type, mbid, relation).await
    }

    async fn stage_fetch(
        &self,
        job: &FetchJob,
        lane: Lane,
        reask_after: Duration,
    ) -> Result<bool, DbError> {
        let mut client = self.pool.get().await?;
        outbox::stage(&mut client, job, lane, reask_after).await
    }

    async fn unstage(&self, job_id: Uuid) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        outbox::remove(&client, job_id).await
    }

    async fn release_fetch(&self, entity_type: EntityType, mbid: Mbid) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        outcome::release_fetch(&client, entity_type, mbid).await
    }
}

impl EntityWriter for PgStore {
    async fn store(
        &self,
        entity_type: EntityType,
        requested: Mbid,
        result: FetchResult,
    ) -> Result<(), DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The bookkeeping touches none of the entity's rows, so it runs
        // alongside the upsert: tokio-postgres pipelines the statements on
        // the connection. The notifications go out on commit.
        let bookkeeping = async {
            outcome::release_fetch(&tx, entity_type, requested).await?;
            outcome::notify_filled(&tx, entity_type, requested).await
        };
        match result {
            FetchResult::Found { entity, raw } => {
                let actual = entity.mbid();
                let redirect = async {
                    outcome::forget(&tx, entity_type, actual).await?;
                    if actual != requested {
                        outcome::record_redirect(&tx, entity_type, requested, actual).await?;
                        outcome::notify_filled(&tx, entity_type, actual).await?;
                    }
                    Ok(())
                };
                futures::try_join!(
                    write::upsert_entity(&tx, &entity, &raw),
                    redirect,
                    bookkeeping
                )?;
            }
            FetchResult::NotFound => {
                outcome::record_not_found(&tx, entity_type, requested).await?;
                bookkeeping.await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn store_browse_page(
        &self,
        parent: (EntityType, Mbid),
        relation: write::Relation,
        items: &[Entity],
        seen: u32,
        total: u32,
    ) -> Result<(), DbError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        write::store_browse_page(&tx, parent, relation, items, seen, total).await?;
        tx.commit().await?;
        Ok(())
    }
}
