//! The repository traits the cache policy is written against, and their
//! PostgreSQL implementation [`PgStore`].
//!
//! One [`EntityRepository`] per aggregate (artist, release group, release,
//! recording, label) reads an entity with its nested data, or its stored
//! answer ([`answers`]); the [`CacheStateRepository`] answers what the
//! cache knows *about* an MBID (when it was fetched, a remembered 404 or
//! redirect) and whether it is fresh; the [`CatalogRepository`] reads
//! browse lists and search results and keeps the ledger of lists to
//! complete; the [`DocumentRepository`] holds the ws/2 documents the HTTP
//! API answers from; the [`EntityWriter`] stores what a worker fetched, in
//! one transaction. Asking for a fetch is not a
//! repository's job: that is `crate::fetch_requests`.

use std::future::Future;
use std::time::SystemTime;

use bytes::Bytes;
use deadpool_postgres::Pool;

use super::answers::{self, Answerable, StoredAnswer};
use super::documents::{self, DocumentAnswer, StoredDocument};
use super::outcome::{self, Outcome};
use super::replicas::Replicas;
use super::{DbError, browse, read, search, with_client, write};
use crate::catalog::{
    BrowseKey, BrowseList, Hit, ListState, Relation, SearchFilter, SearchKey, Summary,
};
use crate::domain::{
    Artist, Cached, CachedEntity, Entity, FetchOutcome, Label, Recording, Release, ReleaseGroup,
};
use crate::jobs::document_id;
use crate::mbid::{EntityType, Mbid};
use crate::notify::Filled;

/// Reads one aggregate from the cache. Stubs (entities only referenced by
/// others, never fetched) are not returned.
pub trait EntityRepository<T>: Send + Sync {
    fn find(&self, mbid: Mbid) -> impl Future<Output = Result<Option<Cached<T>>, DbError>> + Send;

    /// The entity's stored answer, if built and not voided since
    /// ([`answers`]): one primary-key probe.
    fn find_answer(
        &self,
        mbid: Mbid,
    ) -> impl Future<Output = Result<Option<StoredAnswer>, DbError>> + Send;

    /// Builds the entity's answer with `encode` and stores it; `None` when
    /// the entity is not cached.
    fn build_answer(
        &self,
        mbid: Mbid,
        encode: fn(T) -> Bytes,
    ) -> impl Future<Output = Result<Option<StoredAnswer>, DbError>> + Send;
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

    /// How much of a paged list of `mbid` the cache has seen.
    fn aggregate(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        relation: Relation,
    ) -> impl Future<Output = Result<Option<read::AggregateState>, DbError>> + Send;

    /// Forgets the claim of a fetch that is over (done, or given up on),
    /// so the next request for it makes a job at once.
    fn release_fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// The ws/2 documents the HTTP API answers from (`super::documents`).
pub trait DocumentRepository: Send + Sync {
    /// The document a fetched typed entity was read from.
    fn find_entity_document(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<Option<StoredDocument>, DbError>> + Send;

    /// The document stored under `key`.
    fn find_document(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredDocument>, DbError>> + Send;

    /// Forgets the claim of the document `key` (its job is over without an
    /// answer stored, or found the stored one fresh).
    fn release_document(&self, key: &str) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Stores what MusicBrainz answered for the document `key`, forgets its
    /// claim and notifies waiting calls on commit, in one transaction.
    fn store_document(
        &self,
        key: &str,
        answer: &DocumentAnswer,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Remembers that the fill of the document `key` failed for good
    /// (`documents::record_failed`), in one transaction.
    fn record_document_failure(
        &self,
        key: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// Browse lists and search over what the cache holds, and the ledger of
/// lists a browse found partial (design: docs/catalog.md).
pub trait CatalogRepository: Send + Sync {
    /// Whether the cache has a row for the entity at all (fetched or stub).
    fn is_known(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;

    /// Up to `limit` items of `list` of `parent`, after `after`.
    fn browse_page(
        &self,
        list: BrowseList,
        parent: Mbid,
        after: Option<&BrowseKey>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(Summary, BrowseKey)>, DbError>> + Send;

    /// What the cache knows of `list` of `parent` as a whole.
    fn list_state(
        &self,
        list: BrowseList,
        parent: Mbid,
    ) -> impl Future<Output = Result<ListState, DbError>> + Send;

    /// The ids of every item of `list` of `parent` the cache holds.
    fn list_item_ids(
        &self,
        list: BrowseList,
        parent: Mbid,
    ) -> impl Future<Output = Result<Vec<Mbid>, DbError>> + Send;

    /// The completions wanted for any of `parents` (an MBID and the one it
    /// was merged into) of `parent_type`.
    fn pending_completions(
        &self,
        parent_type: EntityType,
        parents: &[Mbid],
    ) -> impl Future<Output = Result<Vec<(BrowseList, Mbid)>, DbError>> + Send;

    /// Forgets a wanted completion: done, or moot (the parent is a 404).
    fn release_completion(
        &self,
        list: BrowseList,
        parent: Mbid,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// One page of matches for `query` (already validated) among cached
    /// entities of `entity_type`.
    fn search(
        &self,
        entity_type: EntityType,
        query: &str,
        filter: &SearchFilter,
        after: Option<SearchKey>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Hit>, DbError>> + Send;
}

/// Stores fetch results. Implementations write everything in one
/// transaction, notify waiting lookups on commit, and are idempotent.
pub trait EntityWriter: Send + Sync {
    fn store(
        &self,
        entity_type: EntityType,
        requested: Mbid,
        result: FetchOutcome,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Remembers that the fill of `mbid` failed for good (`reason`) unless
    /// the entity is stored already, forgets its claim and wakes the lookups
    /// waiting for it, in one transaction.
    fn record_failure(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        reason: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Stores one browse page (stubs linked to `parent`) and how much of the
    /// list has been seen (`seen` of `total`).
    fn store_browse_page(
        &self,
        parent: (EntityType, Mbid),
        relation: Relation,
        items: &[Entity],
        seen: u32,
        total: u32,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// The PostgreSQL implementation of every repository trait. Writes,
/// claims and the completion ledger use the primary (`pool`); lookups,
/// browse lists and search read through [`Replicas`] when there are any.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    replicas: Replicas,
}

impl PgStore {
    pub fn new(pool: Pool) -> Self {
        Self::with_replicas(pool, Replicas::default())
    }

    /// Reads go to `replicas` where they can (`super::replicas`).
    pub fn with_replicas(pool: Pool, replicas: Replicas) -> Self {
        Self { pool, replicas }
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
        self.replicas
            .read(&self.pool, |client| async move {
                read::children(&client, item_type, parent).await
            })
            .await
    }
}

macro_rules! entity_repository {
    ($ty:ty) => {
        impl EntityRepository<$ty> for PgStore {
            async fn find(&self, mbid: Mbid) -> Result<Option<Cached<$ty>>, DbError> {
                self.replicas
                    .find(&self.pool, |client| async move {
                        <$ty as Answerable>::read(&client, mbid).await
                    })
                    .await
            }

            async fn find_answer(&self, mbid: Mbid) -> Result<Option<StoredAnswer>, DbError> {
                self.replicas
                    .find(&self.pool, |client| async move {
                        answers::find(&client, <$ty as CachedEntity>::TYPE, mbid).await
                    })
                    .await
            }

            async fn build_answer(
                &self,
                mbid: Mbid,
                encode: fn($ty) -> Bytes,
            ) -> Result<Option<StoredAnswer>, DbError> {
                // On the primary: a build writes, and must read what the
                // writers that void answers committed.
                with_client(&self.pool, |mut client| async move {
                    answers::build::<$ty>(&mut client, mbid, encode).await
                })
                .await
            }
        }
    };
}

entity_repository!(Artist);
entity_repository!(Label);
entity_repository!(Recording);
entity_repository!(ReleaseGroup);
entity_repository!(Release);

impl CacheStateRepository for PgStore {
    async fn fetched_at(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<Option<SystemTime>, DbError> {
        self.replicas
            .find(&self.pool, |client| async move {
                read::fetched_at(&client, entity_type, mbid).await
            })
            .await
    }

    async fn find_outcome(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<Option<Outcome>, DbError> {
        self.replicas
            .find(&self.pool, |client| async move {
                outcome::find(&client, entity_type, mbid).await
            })
            .await
    }

    async fn aggregate(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        relation: Relation,
    ) -> Result<Option<read::AggregateState>, DbError> {
        self.replicas
            .find(&self.pool, |client| async move {
                read::aggregate(&client, entity_type, mbid, relation).await
            })
            .await
    }

    async fn release_fetch(&self, entity_type: EntityType, mbid: Mbid) -> Result<(), DbError> {
        with_client(&self.pool, |client| async move {
            outcome::release_fetch(&client, entity_type, mbid).await
        })
        .await
    }
}

impl DocumentRepository for PgStore {
    async fn find_entity_document(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<Option<StoredDocument>, DbError> {
        self.replicas
            .find(&self.pool, |client| async move {
                documents::find_entity(&client, entity_type, mbid).await
            })
            .await
    }

    async fn find_document(&self, key: &str) -> Result<Option<StoredDocument>, DbError> {
        self.replicas
            .find(&self.pool, |client| async move {
                documents::find(&client, key).await
            })
            .await
    }

    async fn release_document(&self, key: &str) -> Result<(), DbError> {
        with_client(&self.pool, |client| async move {
            outcome::release_claim(&client, outcome::DOCUMENT_CLAIM, document_id(key)).await
        })
        .await
    }

    async fn store_document(&self, key: &str, answer: &DocumentAnswer) -> Result<(), DbError> {
        with_client(&self.pool, |mut client| async move {
            let tx = client.transaction().await?;
            documents::store(&tx, key, Filled::Document(document_id(key)), answer).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn record_document_failure(&self, key: &str, reason: &str) -> Result<(), DbError> {
        with_client(&self.pool, |mut client| async move {
            let tx = client.transaction().await?;
            documents::record_failed(&tx, key, reason).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

impl CatalogRepository for PgStore {
    async fn is_known(&self, entity_type: EntityType, mbid: Mbid) -> Result<bool, DbError> {
        let known = self
            .replicas
            .find(&self.pool, |client| async move {
                Ok(browse::row_state(&client, entity_type, mbid)
                    .await?
                    .map(|_| ()))
            })
            .await?;
        Ok(known.is_some())
    }

    async fn browse_page(
        &self,
        list: BrowseList,
        parent: Mbid,
        after: Option<&BrowseKey>,
        limit: u32,
    ) -> Result<Vec<(Summary, BrowseKey)>, DbError> {
        self.replicas
            .read(&self.pool, |client| async move {
                browse::page(&client, list, parent, after, limit).await
            })
            .await
    }

    async fn list_state(&self, list: BrowseList, parent: Mbid) -> Result<ListState, DbError> {
        self.replicas
            .read(&self.pool, |client| async move {
                browse::state(&client, list, parent).await
            })
            .await
    }

    async fn list_item_ids(&self, list: BrowseList, parent: Mbid) -> Result<Vec<Mbid>, DbError> {
        self.replicas
            .read(&self.pool, |client| async move {
                browse::item_ids(&client, list, parent).await
            })
            .await
    }

    async fn pending_completions(
        &self,
        parent_type: EntityType,
        parents: &[Mbid],
    ) -> Result<Vec<(BrowseList, Mbid)>, DbError> {
        with_client(&self.pool, |client| async move {
            browse::pending_completions(&client, parent_type, parents).await
        })
        .await
    }

    async fn release_completion(&self, list: BrowseList, parent: Mbid) -> Result<(), DbError> {
        with_client(&self.pool, |client| async move {
            browse::release_completion(&client, list, parent).await
        })
        .await
    }

    async fn search(
        &self,
        entity_type: EntityType,
        query: &str,
        filter: &SearchFilter,
        after: Option<SearchKey>,
        limit: u32,
    ) -> Result<Vec<Hit>, DbError> {
        self.replicas
            .read(&self.pool, |client| {
                search::search_on(client, entity_type, query, filter, after, limit)
            })
            .await
    }
}

impl EntityWriter for PgStore {
    async fn store(
        &self,
        entity_type: EntityType,
        requested: Mbid,
        result: FetchOutcome,
    ) -> Result<(), DbError> {
        let result = &result;
        with_client(&self.pool, |mut client| async move {
            let tx = client.transaction().await?;
            // The bookkeeping touches none of the entity's rows, so it runs
            // alongside the upsert: tokio-postgres pipelines the statements on
            // the connection. The notifications go out on commit.
            let bookkeeping = async {
                outcome::release_fetch(&tx, entity_type, requested).await?;
                outcome::notify_filled(&tx, entity_type, requested).await
            };
            match result {
                FetchOutcome::Found { entity, document } => {
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
                        write::upsert_entity(&tx, entity, document, document.inc()),
                        redirect,
                        bookkeeping
                    )?;
                }
                FetchOutcome::NotFound => {
                    outcome::record_not_found(&tx, entity_type, requested).await?;
                    bookkeeping.await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn record_failure(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        reason: &str,
    ) -> Result<(), DbError> {
        with_client(&self.pool, |mut client| async move {
            let tx = client.transaction().await?;
            // A stored entity (a refresh that failed) keeps being answered
            // as it is; only an MBID the cache cannot answer is remembered.
            if read::fetched_at(&tx, entity_type, mbid).await?.is_none() {
                outcome::record_failed(&tx, entity_type, mbid, reason).await?;
            }
            futures::try_join!(
                outcome::release_fetch(&tx, entity_type, mbid),
                outcome::notify_filled(&tx, entity_type, mbid),
            )?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn store_browse_page(
        &self,
        parent: (EntityType, Mbid),
        relation: Relation,
        items: &[Entity],
        seen: u32,
        total: u32,
    ) -> Result<(), DbError> {
        with_client(&self.pool, |mut client| async move {
            let tx = client.transaction().await?;
            write::store_browse_page(&tx, parent, relation, items, seen, total).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
