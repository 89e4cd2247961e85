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
//! again. Children are asked for through `FetchRequests`, the path every
//! producer uses, so an entity reached twice is fetched once and a child
//! asked for while the broker is down waits in the outbox.
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

use musicmeta_musicbrainz::MusicBrainzClient;
use musicmeta_shared::catalog::BrowseList;
use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::{
    CacheStateRepository, CatalogRepository, EntityRepository, EntityWriter, PgStore, redirects,
};
use musicmeta_shared::domain::{Entity, Release};
use musicmeta_shared::fetch_requests::{FetchRequests, Request, Requested};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use tracing::{debug, info};

use crate::failure::JobError;

pub(crate) struct Crawler<'a> {
    pub store: &'a PgStore,
    pub musicbrainz: &'a MusicBrainzClient,
    pub requests: &'a FetchRequests,
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
    ) -> Result<u32, JobError> {
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
        let queued = self.enqueue(children, job.depth - 1).await?;
        info!(queued, depth = job.depth, "crawl queued children");
        Ok(queued)
    }

    /// Browses to the end every list a browse call asked to complete for
    /// this job's entity (by the requested MBID or the one it was merged
    /// into), then clears each request.
    async fn complete_lists(&self, job: &FetchJob, stored: Mbid) -> Result<(), JobError> {
        let parents = if stored == job.mbid {
            vec![stored]
        } else {
            vec![job.mbid, stored]
        };
        let wanted = self
            .store
            .pending_completions(job.entity_type, &parents)
            .await?;
        for (list, requested_for) in wanted {
            // Someone is waiting to page through it: ahead of backfill.
            let items = self.browse(list, stored, Lane::Refresh).await?;
            self.store.release_completion(list, requested_for).await?;
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
    ) -> Result<Vec<(EntityType, Mbid)>, JobError> {
        let (item_type, relation) = (list.item_type(), list.relation());
        let parent = (list.parent_type(), parent_mbid);
        if let Some(state) = self.store.aggregate(parent.0, parent.1, relation).await?
            && state.complete
            && self.cache.is_fresh(parent.0, state.checked_at)
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
    ) -> Result<Vec<(EntityType, Mbid)>, JobError> {
        Ok(self
            .store
            .list_item_ids(list, parent)
            .await?
            .into_iter()
            .map(|m| (list.item_type(), m))
            .collect())
    }

    /// Asks for the children on the backfill lane, skipping those that are
    /// fresh and have no children of their own to crawl; returns how many
    /// new jobs were made (already pending ones are not counted).
    async fn enqueue(&self, children: Vec<(EntityType, Mbid)>, depth: u8) -> Result<u32, JobError> {
        let mut requests = Vec::with_capacity(children.len());
        for (entity_type, mbid) in children {
            // A fresh child with children of its own is still crawled below it.
            if depth == 0 && redirects::is_fresh(self.store, self.cache, entity_type, mbid).await? {
                continue;
            }
            let job = FetchJob::new(entity_type, mbid).with_depth(depth);
            requests.push(Request::fetch(job, Lane::Backfill));
        }
        let outcome = self.requests.request_all(requests).await?;
        Ok(outcome
            .iter()
            .filter(|r| **r != Requested::AlreadyPending)
            .count() as u32)
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
