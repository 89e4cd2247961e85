//! Merged MBIDs, followed the one way for every reader: a lookup, a
//! catalog browse and a worker's freshness check all call
//! [`resolve_redirects`], each with its own idea of what "the cache has it"
//! means (a hot-tier entry, a row, a fetch time) as the probe.

use std::future::Future;

use super::DbError;
use super::outcome::Outcome;
use super::repository::CacheStateRepository;
use crate::config::CacheConfig;
use crate::mbid::{EntityType, Mbid};

/// Redirect chains longer than this are treated as unknown: MusicBrainz
/// resolves merges itself, so a long chain here is a loop of stale rows.
pub const MAX_REDIRECTS: usize = 3;

/// Where an MBID leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<T> {
    /// The probe found `value` under `mbid` (after any redirects).
    Found { value: T, mbid: Mbid },
    /// MusicBrainz has no such entity, and that 404 is still believed.
    NotFound(Mbid),
    /// Its fill failed for good within `cache.failure_ttl_secs`: not asked
    /// for again until then.
    Failed(Mbid),
    /// The cache knows nothing (fresh) of `mbid`, the end of the chain.
    Unknown(Mbid),
}

/// Whether the cache can answer for this MBID without an upstream request:
/// it was fetched within its TTL, or MusicBrainz's 404 for it is still
/// remembered, or it redirects to an entity that is fresh. A remembered
/// failed fill is not fresh: lookups answer it without a job, so a job that
/// comes anyway (an operator's requeue, a backfill) is a deliberate try.
pub async fn is_fresh<S>(
    state: &S,
    cache: &CacheConfig,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<bool, DbError>
where
    S: CacheStateRepository + ?Sized,
{
    let resolved = resolve_redirects(state, cache, entity_type, mbid, |m| {
        state.fetched_at(entity_type, m)
    })
    .await?;
    Ok(match resolved {
        Resolved::Found { value, .. } => cache.is_fresh(entity_type, value),
        Resolved::NotFound(_) => true,
        Resolved::Failed(_) | Resolved::Unknown(_) => false,
    })
}

/// Follows recorded redirects from `requested`: at each MBID, `probe` is
/// asked first; then a remembered redirect is followed, a remembered 404
/// (within `cache.negative_ttl_secs`) ends the chain as not found, a
/// remembered failed fill (within `cache.failure_ttl_secs`) as failed, and
/// anything else ends it as unknown.
pub async fn resolve_redirects<S, T, F, Fut>(
    state: &S,
    cache: &CacheConfig,
    entity_type: EntityType,
    requested: Mbid,
    mut probe: F,
) -> Result<Resolved<T>, DbError>
where
    S: CacheStateRepository + ?Sized,
    F: FnMut(Mbid) -> Fut,
    Fut: Future<Output = Result<Option<T>, DbError>>,
{
    let mut current = requested;
    for _ in 0..=MAX_REDIRECTS {
        if let Some(value) = probe(current).await? {
            return Ok(Resolved::Found {
                value,
                mbid: current,
            });
        }
        match state.find_outcome(entity_type, current).await? {
            Some(Outcome::Redirect { to, .. }) => current = to,
            Some(Outcome::NotFound { recorded_at }) if cache.remembers_not_found(recorded_at) => {
                return Ok(Resolved::NotFound(current));
            }
            Some(Outcome::Failed { recorded_at }) if cache.remembers_failure(recorded_at) => {
                return Ok(Resolved::Failed(current));
            }
            _ => return Ok(Resolved::Unknown(current)),
        }
    }
    tracing::warn!(mbid = %requested, "redirect chain too long; treating as unknown");
    Ok(Resolved::Unknown(current))
}
