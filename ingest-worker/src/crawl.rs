//! Following relations: a job with `depth > 0` also queues the entities its
//! entity leads to, one level shallower, on the backfill lane:
//! artist → its release groups → their releases → recordings and labels.
//!
//! Lists MusicBrainz pages through (an artist's release groups, a release
//! group's releases) are read with browse requests, 100 items a page, the
//! offset advanced by the items actually received (MusicBrainz may cut a
//! page short). Each page is stored as stubs, and whether every page was
//! seen is recorded, so the cache can tell a complete list from a partial
//! one. A complete list checked within the entity type's TTL is not browsed
//! again. Children are queued through the same `fetch_request` claim as
//! lookups, so an entity reached twice is fetched once.
//!
//! Any job may also complete lists a browse call found partial: query-api
//! records the wanted list in the `fetch_request` ledger under the list's key
//! (`artist/recordings`, `label/releases`, ...) and publishes an ordinary job
//! for the parent. After the parent is handled, every list wanted for it is
//! browsed to the end and its ledger entry cleared; no children are fetched
//! for it, so completing a list of 500 release groups costs five requests,
//! not 505. Label and recording lists are browsed only on such a request:
//! a depth crawl never fans out through a label (a label may have tens of
//! thousands of releases).

use std::time::{Duration, SystemTime};

use musicmeta_shared::amqp::JobPublisher;
use musicmeta_shared::catalog::BrowseList;
use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::outcome::Outcome;
use musicmeta_shared::db::{
    CacheStateRepository, DbError, EntityRepository, EntityWriter, PgStore, browse,
};
use musicmeta_shared::domain::{Entity, Release};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::musicbrainz::MusicBrainzClient;
use tracing::{debug, info};

use crate::worker::ProcessError;

/// A claim older than this is assumed lost and may be taken again.
const REASK_AFTER: Duration = Duration::from_secs(60);

pub(crate) struct Crawler<'a> {
    pub store: &'a PgStore,
    pub musicbrainz: &'a MusicBrainzClient,
    pub publisher: &'a JobPublisher,
    pub cache: &'a CacheConfig,
}

impl Crawler<'_> {
    /// Queues the children of `job`'s entity (`stored` is its MBID after any
    /// redirect; `entity` is what was just fetched, if it was). Returns how
    /// many jobs were queued.
    pub async fn crawl(
        &self,
        job: &FetchJob,
        stored: Mbid,
        entity: Option<&Entity>,
    ) -> Result<u32, ProcessError> {
        self.complete_lists(job, stored).await?;
        if job.depth == 0 {
            return Ok(0);
        }
        let children = match job.entity_type {
            EntityType::Artist => {
                self.browse(BrowseList::ArtistReleaseGroups, stored, Lane::Backfill)
                    .await?
            }
            EntityType::ReleaseGroup => {
                self.browse(BrowseList::ReleaseGroupReleases, stored, Lane::Backfill)
                    .await?
            }
            EntityType::Release => match entity {
                Some(Entity::Release(release)) => release_children(release),
                _ => match EntityRepository::<Release>::find(self.store, stored).await? {
                    Some(cached) => release_children(&cached.entity),
                    None => Vec::new(),
                },
            },
            EntityType::Recording | EntityType::Label => Vec::new(),
        };
        let mut queued = 0;
        for (entity_type, mbid) in children {
            if self.enqueue(entity_type, mbid, job.depth - 1).await? {
                queued += 1;
            }
        }
        info!(queued, depth = job.depth, "crawl queued children");
        Ok(queued)
    }

    /// Browses to the end every list a browse call asked to complete for
    /// this job's entity (by the requested MBID or the one it was merged
    /// into), then clears each request.
    async fn complete_lists(&self, job: &FetchJob, stored: Mbid) -> Result<(), ProcessError> {
        let parents = if stored == job.mbid {
            vec![stored]
        } else {
            vec![job.mbid, stored]
        };
        let wanted = {
            let client = self.store.pool().get().await.map_err(DbError::from)?;
            browse::pending_completions(&client, job.entity_type, &parents).await?
        };
        for (list, requested_for) in wanted {
            // Someone is waiting to page through it: ahead of backfill.
            let items = self.browse(list, stored, Lane::Refresh).await?;
            let client = self.store.pool().get().await.map_err(DbError::from)?;
            browse::release_completion(&client, list, requested_for).await?;
            info!(list = list.key(), items = items.len(), "list completed");
        }
        Ok(())
    }

    /// Pages through a browse list, storing each page; returns the item ids.
    async fn browse(
        &self,
        list: BrowseList,
        parent_mbid: Mbid,
        lane: Lane,
    ) -> Result<Vec<(EntityType, Mbid)>, ProcessError> {
        let (item_type, relation) = (list.item_type(), list.relation());
        let parent = (list.parent_type(), parent_mbid);
        if let Some(state) = self.store.aggregate(parent.0, parent.1, relation).await?
            && state.complete
            && young(state.checked_at, self.cache.ttl(parent.0))
        {
            debug!(list = list.key(), "list complete and fresh; not browsing");
            return self.known_children(list, parent_mbid).await;
        }
        let mut ids = Vec::new();
        let mut offset = 0u32;
        loop {
            let Some(page) = self
                .musicbrainz
                .browse(item_type, parent, offset, lane)
                .await?
            else {
                break;
            };
            offset = offset.saturating_add(page.received);
            ids.extend(page.items.iter().map(|e| (e.entity_type(), e.mbid())));
            self.store
                .store_browse_page(parent, relation, &page.items, offset, page.total)
                .await?;
            if page.received == 0 || offset >= page.total {
                break;
            }
        }
        Ok(ids)
    }

    /// The children a complete list already names in the cache.
    async fn known_children(
        &self,
        list: BrowseList,
        parent: Mbid,
    ) -> Result<Vec<(EntityType, Mbid)>, ProcessError> {
        let client = self.store.pool().get().await.map_err(DbError::from)?;
        Ok(browse::item_ids(&client, list, parent)
            .await?
            .into_iter()
            .map(|m| (list.item_type(), m))
            .collect())
    }

    /// Queues one child unless it is fresh or already pending.
    async fn enqueue(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        depth: u8,
    ) -> Result<bool, ProcessError> {
        let fresh = is_fresh(self.store, self.cache, entity_type, mbid).await?;
        // A fresh child with children of its own is still crawled below it.
        if fresh && depth == 0 {
            return Ok(false);
        }
        if !self
            .store
            .claim_fetch(entity_type, mbid, REASK_AFTER)
            .await?
        {
            return Ok(false);
        }
        let job = FetchJob::new(entity_type, mbid).with_depth(depth);
        if let Err(error) = self.publisher.publish(&job, Lane::Backfill).await {
            self.store.release_fetch(entity_type, mbid).await?;
            return Err(error.into());
        }
        Ok(true)
    }
}

fn release_children(release: &Release) -> Vec<(EntityType, Mbid)> {
    let mut out: Vec<(EntityType, Mbid)> = release
        .media
        .iter()
        .flat_map(|m| &m.tracks)
        .map(|t| (EntityType::Recording, t.recording.mbid))
        .chain(
            release
                .label_info
                .iter()
                .filter_map(|i| i.label.as_ref())
                .map(|l| (EntityType::Label, l.mbid)),
        )
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Fresh means: fetched within the TTL, or a 404 within the negative TTL,
/// or a redirect to a fresh entity. Such an entity needs no upstream request.
pub(crate) async fn is_fresh(
    store: &PgStore,
    cache: &CacheConfig,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<bool, DbError> {
    if let Some(t) = store.fetched_at(entity_type, mbid).await? {
        return Ok(young(t, cache.ttl(entity_type)));
    }
    Ok(match store.find_outcome(entity_type, mbid).await? {
        Some(Outcome::NotFound { recorded_at }) => young(recorded_at, cache.negative_ttl()),
        Some(Outcome::Redirect { to, .. }) => store
            .fetched_at(entity_type, to)
            .await?
            .is_some_and(|t| young(t, cache.ttl(entity_type))),
        None => false,
    })
}

fn young(t: SystemTime, ttl: Duration) -> bool {
    SystemTime::now().duration_since(t).unwrap_or_default() < ttl
}
