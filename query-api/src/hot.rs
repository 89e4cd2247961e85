//! The hot tier: an in-process copy of the entities query-api answers most,
//! so a hot lookup costs no database round trip.
//!
//! Kept correct by invalidation, not by expiry alone: every commit of a
//! worker NOTIFYs the entities it stored ([`crate::fills`]), and each such
//! notification evicts that entity here. While the listener is not
//! connected, notifications could be missed, so the tier is bypassed; when
//! it (re)connects, or falls behind, the tier is emptied. A copy also
//! embeds rows of other entities (an artist's name in a release's credits)
//! whose refetch evicts only that other entity: `cache.hot_ttl_secs`
//! bounds how long such a copy may lag.
//!
//! A lookup that read the database just before a worker's commit must not
//! put its older copy back after the eviction: each read takes a
//! [`Ticket`] (a per-key-shard counter and a global generation, both bumped
//! by evictions) and its copy is kept only if no eviction touched its shard
//! since. Stale *answers* are the cache policy's business (`fetched_at`
//! against the TTLs), unchanged by this tier.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use musicmeta_shared::domain::{
    Annotations, Artist, Cached, CachedEntity, Label, Recording, Release, ReleaseGroup,
};
use musicmeta_shared::mbid::{EntityType, Mbid};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::fills::{FillEvent, Fills};

type Key = (EntityType, Mbid);

/// Counters that evictions bump; one per shard of the key space.
const SHARDS: usize = 1024;

/// One cached entity of any of the five kinds.
#[derive(Debug, Clone)]
pub enum HotValue {
    Artist(Arc<Cached<Artist>>),
    ReleaseGroup(Arc<Cached<ReleaseGroup>>),
    Release(Arc<Cached<Release>>),
    Recording(Arc<Cached<Recording>>),
    Label(Arc<Cached<Label>>),
}

/// An entity kind the hot tier can hold.
pub trait Hot: CachedEntity + Clone {
    fn wrap(cached: Arc<Cached<Self>>) -> HotValue;
    fn unwrap(value: &HotValue) -> Option<&Arc<Cached<Self>>>;
    /// A rough size in bytes, for the memory bound.
    fn weight(&self) -> u32;
}

fn annotations_weight(a: &Annotations) -> u32 {
    let n = a.aliases.len() + a.tags.len() + a.genres.len() + a.urls.len();
    (n as u32).saturating_mul(160)
}

macro_rules! hot_kind {
    ($ty:ident, |$e:ident| $weight:expr) => {
        impl Hot for $ty {
            fn wrap(cached: Arc<Cached<Self>>) -> HotValue {
                HotValue::$ty(cached)
            }
            fn unwrap(value: &HotValue) -> Option<&Arc<Cached<Self>>> {
                match value {
                    HotValue::$ty(c) => Some(c),
                    _ => None,
                }
            }
            fn weight(&self) -> u32 {
                let $e = self;
                1024u32
                    .saturating_add(annotations_weight(&$e.annotations))
                    .saturating_add($weight)
            }
        }
    };
}

hot_kind!(Artist, |_a| 0);
hot_kind!(Label, |_l| 0);
hot_kind!(Recording, |r| (r.artist_credit.len() as u32) * 160);
hot_kind!(ReleaseGroup, |g| (g.releases.len() as u32) * 200);
hot_kind!(Release, |r| {
    let tracks: usize = r.media.iter().map(|m| m.tracks.len()).sum();
    (tracks as u32).saturating_mul(480)
});

/// Taken before a database read; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    shard: usize,
    seen: u64,
    generation: u64,
}

/// The hot tier; cheap to clone. Disabled (every call a no-op) when
/// configured with 0 MiB.
#[derive(Debug, Clone)]
pub struct HotTier {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    cache: Cache<Key, HotValue>,
    shards: Box<[AtomicU64]>,
    generation: AtomicU64,
    hasher: std::collections::hash_map::RandomState,
    fills: Fills,
}

impl HotTier {
    /// A tier of about `capacity_mb` MiB whose copies live at most `ttl`,
    /// evicted by the notifications `fills` hears until `stop` is cancelled.
    pub fn spawn(capacity_mb: u64, ttl: Duration, fills: Fills, stop: CancellationToken) -> Self {
        if capacity_mb == 0 {
            return Self { inner: None };
        }
        let cache = Cache::builder()
            .max_capacity(capacity_mb.saturating_mul(1024 * 1024))
            .weigher(|_key: &Key, value: &HotValue| match value {
                HotValue::Artist(c) => c.entity.weight(),
                HotValue::ReleaseGroup(c) => c.entity.weight(),
                HotValue::Release(c) => c.entity.weight(),
                HotValue::Recording(c) => c.entity.weight(),
                HotValue::Label(c) => c.entity.weight(),
            })
            .time_to_live(ttl)
            .build();
        let inner = Arc::new(Inner {
            cache,
            shards: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            generation: AtomicU64::new(0),
            hasher: Default::default(),
            fills: fills.clone(),
        });
        tokio::spawn(evict_on_fills(inner.clone(), fills.subscribe(), stop));
        Self { inner: Some(inner) }
    }

    /// The copy of `mbid`, if the tier holds one and can vouch for it.
    pub fn get<T: Hot>(&self, mbid: Mbid) -> Option<Cached<T>> {
        let inner = self.usable()?;
        let value = inner.cache.get(&(T::TYPE, mbid))?;
        T::unwrap(&value).map(|c| (**c).clone())
    }

    /// Call before reading `mbid` from the database.
    pub fn ticket(&self, entity_type: EntityType, mbid: Mbid) -> Option<Ticket> {
        let inner = self.usable()?;
        let shard = inner.shard(&(entity_type, mbid));
        Some(Ticket {
            shard,
            // Acquire: a read after this sees every eviction counted before.
            seen: inner.shards[shard].load(Ordering::Acquire),
            generation: inner.generation.load(Ordering::Acquire),
        })
    }

    /// Keeps what a read taken under `ticket` found, unless an eviction of
    /// its shard happened since (then the copy may predate a commit).
    pub fn insert<T: Hot>(&self, ticket: Option<Ticket>, mbid: Mbid, cached: &Cached<T>) {
        let (Some(inner), Some(ticket)) = (self.inner.as_ref(), ticket) else {
            return;
        };
        let key = (T::TYPE, mbid);
        if !inner.unchanged(ticket) {
            return;
        }
        inner.cache.insert(key, T::wrap(Arc::new(cached.clone())));
        // An eviction between the check and the insert would be lost: look
        // again, and undo the insert if one happened.
        if !inner.unchanged(ticket) {
            inner.cache.invalidate(&key);
        }
    }

    fn usable(&self) -> Option<&Arc<Inner>> {
        self.inner.as_ref().filter(|i| i.fills.is_listening())
    }
}

impl Inner {
    fn shard(&self, key: &Key) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn unchanged(&self, ticket: Ticket) -> bool {
        self.shards[ticket.shard].load(Ordering::Acquire) == ticket.seen
            && self.generation.load(Ordering::Acquire) == ticket.generation
    }

    fn evict(&self, key: Key) {
        // Bump first: a reader that checks after this sees the change.
        self.shards[self.shard(&key)].fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(&key);
    }

    fn evict_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }
}

async fn evict_on_fills(
    inner: Arc<Inner>,
    mut events: broadcast::Receiver<FillEvent>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(FillEvent::Filled(entity_type, mbid)) => inner.evict((entity_type, mbid)),
            // Notifications may have been missed: nothing here can be vouched for.
            Ok(FillEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                debug!("hot tier emptied after a listener resync");
                inner.evict_all();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
