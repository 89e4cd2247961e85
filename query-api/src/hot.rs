//! The hot tier: an in-process copy of the answers query-api gives most, so
//! a hot lookup costs no database round trip. A copy is held as the bytes
//! it is answered with ([`HotEntry`]) — an entity's encoded `musicmeta.v1`
//! message for gRPC, one rendering of a ws/2 document for the HTTP API —
//! so a hit costs no conversion or encoding either, and is weighed by its
//! actual size. Both kinds share one memory budget.
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
//! A document has many renderings (one per inc= and format asked for), so
//! an eviction does not look them up: it bumps a counter of the key's shard
//! (the shard is chosen by what a fill notification names, so every
//! rendering of a document shares one), and a copy stored under an older
//! count is no longer answered. Likewise, a lookup that read the database
//! just before a worker's commit must not put its older copy back after
//! the eviction: each read takes a [`Ticket`] (the shard's count and a
//! global generation) and its copy is kept only if no eviction touched its
//! shard since. Stale *answers* are the cache policy's business
//! (`fetched_at` against the TTLs), unchanged by this tier.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use musicmeta_shared::domain::CachedEntity;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::notify::Filled;
use musicmeta_shared::prometheus::names;
use prost::bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::fills::{FillEvent, Fills};

/// What a copy is the answer to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HotKey {
    /// An entity's encoded `musicmeta.v1` message (gRPC lookups).
    Message(EntityType, Mbid),
    /// One rendering of a ws/2 document (HTTP lookups): the document, as its
    /// fill notification names it, and the rendering (inc= and format).
    Rendering { document: Filled, variant: Arc<str> },
}

impl HotKey {
    /// What evicts this copy.
    fn filled(&self) -> Filled {
        match self {
            HotKey::Message(t, m) => Filled::Entity(*t, *m),
            HotKey::Rendering { document, .. } => *document,
        }
    }
}

/// Counters that evictions bump; one per shard of the key space.
const SHARDS: usize = 1024;

/// What an entry costs beyond its body: key, timestamp, `Bytes` header and
/// moka's own bookkeeping, roughly. (Resident size under churn came to ~1.7×
/// the capacity with glibc's malloc, which kept the holes; ~1.3× with the
/// jemalloc query-api now runs on; docs/benchmarks.md, "Round five".)
const ENTRY_OVERHEAD: u32 = 256;

/// One cached answer: when its data was fetched, and its bytes as they are
/// sent (an encoded `musicmeta.v1` message, see `musicmeta_proto::wire`, or
/// a rendered ws/2 document and its ETag).
#[derive(Debug, Clone)]
pub struct HotEntry {
    pub fetched_at: SystemTime,
    pub body: Bytes,
    pub etag: Option<Arc<str>>,
}

impl HotEntry {
    pub fn new(fetched_at: SystemTime, body: Bytes) -> Self {
        Self {
            fetched_at,
            body,
            etag: None,
        }
    }
}

/// An entity kind the hot tier can hold: a domain type and how it encodes.
pub trait Hot: CachedEntity {
    /// The entity as its encoded `musicmeta.v1` message.
    fn encode(self) -> Bytes;
}

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

/// A copy and the shard count it was stored under.
#[derive(Debug, Clone)]
struct Stored {
    entry: HotEntry,
    ticket: Ticket,
}

/// The hit and miss counters, taken once: a labelled `counter!` per read
/// would hash its labels on the hot path.
struct Counters {
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counters")
    }
}

#[derive(Debug)]
struct Inner {
    counters: Counters,
    cache: Cache<HotKey, Stored>,
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
            .weigher(|_key: &HotKey, stored: &Stored| {
                u32::try_from(stored.entry.body.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .time_to_live(ttl)
            .eviction_listener(|_key, _value, cause| {
                let cause = match cause {
                    RemovalCause::Size => "capacity",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit => "invalidated",
                    // A newer copy took its place: nothing was let go.
                    RemovalCause::Replaced => return,
                };
                metrics::counter!(names::HOT_TIER_EVICTIONS, "cause" => cause).increment(1);
            })
            .build();
        let inner = Arc::new(Inner {
            counters: Counters {
                hits: metrics::counter!(names::HOT_TIER, "result" => "hit"),
                misses: metrics::counter!(names::HOT_TIER, "result" => "miss"),
            },
            cache,
            shards: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
            generation: AtomicU64::new(0),
            hasher: Default::default(),
            fills: fills.clone(),
        });
        tokio::spawn(evict_on_fills(inner.clone(), fills.subscribe(), stop));
        Self { inner: Some(inner) }
    }

    /// The copy under `key`, if the tier holds one and can vouch for it.
    pub fn get(&self, key: &HotKey) -> Option<HotEntry> {
        let inner = self.usable()?;
        let found = inner.cache.get(key).and_then(|stored| {
            if inner.unchanged(stored.ticket) {
                Some(stored.entry)
            } else {
                // Evicted (its shard was bumped) but not yet removed.
                inner.cache.invalidate(key);
                None
            }
        });
        match found {
            Some(_) => inner.counters.hits.increment(1),
            None => inner.counters.misses.increment(1),
        }
        found
    }

    /// Call before reading what `key` answers from the database.
    pub fn ticket(&self, key: &HotKey) -> Option<Ticket> {
        let inner = self.usable()?;
        let shard = inner.shard(key.filled());
        Some(Ticket {
            shard,
            // Acquire: a read after this sees every eviction counted before.
            seen: inner.shards[shard].load(Ordering::Acquire),
            generation: inner.generation.load(Ordering::Acquire),
        })
    }

    /// Keeps what a read taken under `ticket` found, unless an eviction of
    /// its shard happened since (then the copy may predate a commit).
    pub fn insert(&self, ticket: Option<Ticket>, key: HotKey, entry: &HotEntry) {
        let (Some(inner), Some(ticket)) = (self.inner.as_ref(), ticket) else {
            return;
        };
        if !inner.unchanged(ticket) {
            return;
        }
        let stored = Stored {
            entry: entry.clone(),
            ticket,
        };
        inner.cache.insert(key.clone(), stored);
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
    fn shard(&self, filled: Filled) -> usize {
        (self.hasher.hash_one(filled) as usize) % SHARDS
    }

    fn unchanged(&self, ticket: Ticket) -> bool {
        self.shards[ticket.shard].load(Ordering::Acquire) == ticket.seen
            && self.generation.load(Ordering::Acquire) == ticket.generation
    }

    fn evict(&self, filled: Filled) {
        // Bump first: a reader that checks after this sees the change, and
        // every copy stored under the old count is void.
        self.shards[self.shard(filled)].fetch_add(1, Ordering::AcqRel);
        if let Filled::Entity(t, m) = filled {
            // The one copy this key certainly has: free it now.
            self.cache.invalidate(&HotKey::Message(t, m));
        }
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
            Ok(FillEvent::Filled(filled)) => inner.evict(filled),
            // Notifications may have been missed: nothing here can be vouched for.
            Ok(FillEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                debug!("hot tier emptied after a listener resync");
                inner.evict_all();
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
