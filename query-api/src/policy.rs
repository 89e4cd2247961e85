//! The cache policy: what a lookup does on a fresh hit, a stale hit, a
//! remembered 404, a redirect and a miss. Written against the repository
//! traits and the one fetch-request path, not against SQL or AMQP.
//!
//! - Fresh hit: answered from the cache; nothing else happens.
//! - Stale hit: answered at once; a refresh job is queued in the background.
//! - Remembered 404 younger than `negative_ttl`: NOT_FOUND, no job.
//! - Redirect (merged MBID): followed to the surviving entity.
//! - Miss: a job is asked for (once per MBID, however many calls miss it at
//!   the same time: `FetchRequests` claims it), then the call waits
//!   for the fill notification up to `miss_wait` (cut by the client's
//!   deadline) and answers, or says the fetch is queued.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::redirects::{Resolved, resolve_redirects};
use musicmeta_shared::db::{CacheStateRepository, DbError, EntityRepository};
use musicmeta_shared::fetch_requests::{FetchRequests, Request, Requested};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::notify::Filled;
use musicmeta_shared::prometheus::names;
use opentelemetry::context::FutureExt as _;
use prost::bytes::Bytes;
use tracing::{Instrument, debug, info, warn};

use crate::error::ApiError;
use crate::fills::{self, Fills};
use crate::hot::{Hot, HotEntry, HotKey, HotTier};

/// A cached entity, encoded as it is answered, and what the caller should
/// know about its copy.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The entity's encoded `musicmeta.v1` message.
    pub body: Bytes,
    pub fetched_at: SystemTime,
    pub fresh: bool,
    /// The requested MBID, when it was merged into the answered entity.
    pub redirected_from: Option<Mbid>,
}

#[derive(Debug)]
struct Inner<R> {
    repo: R,
    requests: FetchRequests,
    fills: Fills,
    hot: HotTier,
    config: CacheConfig,
}

/// The cache policy; cheap to clone.
#[derive(Debug)]
pub struct CachePolicy<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for CachePolicy<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R> CachePolicy<R>
where
    R: CacheStateRepository + 'static,
{
    pub fn new(
        repo: R,
        requests: FetchRequests,
        fills: Fills,
        hot: HotTier,
        config: CacheConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                requests,
                fills,
                hot,
                config,
            }),
        }
    }

    /// The hot tier this policy fills (the HTTP API shares it).
    pub fn hot(&self) -> &HotTier {
        &self.inner.hot
    }

    /// Looks up `raw_mbid`, waiting at most `deadline` (the client's) for a
    /// miss, and counts the outcome.
    pub async fn get<T>(
        &self,
        raw_mbid: &str,
        deadline: Option<Duration>,
    ) -> Result<Answer, ApiError>
    where
        T: Hot,
        R: EntityRepository<T>,
    {
        let started = Instant::now();
        let mut waited = false;
        let result = self.lookup::<T>(raw_mbid, deadline, &mut waited).await;
        let outcome = match &result {
            Ok(_) if waited => "filled",
            Ok(answer) if answer.fresh => "fresh",
            Ok(_) => "stale",
            Err(ApiError::InvalidArgument(_)) => "invalid",
            Err(ApiError::NotFound(..)) => "not_found",
            Err(ApiError::Queued(..)) => "queued",
            Err(ApiError::UpstreamFailed(..)) => "upstream_failed",
            Err(_) => "unavailable",
        };
        if waited {
            metrics::histogram!(names::MISS_WAIT).record(started.elapsed().as_secs_f64());
        }
        metrics::counter!(names::LOOKUPS, "method" => method_name(T::TYPE), "outcome" => outcome)
            .increment(1);
        result
    }

    async fn lookup<T>(
        &self,
        raw_mbid: &str,
        deadline: Option<Duration>,
        waited: &mut bool,
    ) -> Result<Answer, ApiError>
    where
        T: Hot,
        R: EntityRepository<T>,
    {
        let requested = Mbid::parse(raw_mbid)
            .map_err(|e| ApiError::InvalidArgument(format!("invalid mbid: {e}")))?;
        let started = Instant::now();
        let budget = deadline.map_or(self.inner.config.miss_wait(), |d| {
            // Leave the answer time to travel back before the client gives up.
            d.saturating_sub(d / 10).min(self.inner.config.miss_wait())
        });
        // The common case first: a hot entry needs no database at all.
        if let Some(entry) = self.inner.hot.get(&HotKey::Message(T::TYPE, requested)) {
            return Ok(self.answer::<T>(entry, requested, requested));
        }
        // Subscribed before the first database read, so a miss can wait for
        // its fill without reading again: a fill that lands after the read
        // is heard.
        let mut fills = self.inner.fills.subscribe();
        let mut queued = false;
        loop {
            let resolved = resolve_redirects(
                &self.inner.repo,
                &self.inner.config,
                T::TYPE,
                requested,
                |mbid| self.load::<T>(mbid),
            )
            .await?;
            let mbid = match resolved {
                Resolved::Found { value, mbid } => {
                    return Ok(self.answer::<T>(value, mbid, requested));
                }
                Resolved::NotFound(mbid) => return Err(ApiError::NotFound(T::TYPE, mbid)),
                Resolved::Failed(mbid) => return Err(ApiError::UpstreamFailed(T::TYPE, mbid)),
                Resolved::Unknown(mbid) => mbid,
            };
            if !queued {
                let job = FetchJob::new(T::TYPE, mbid);
                match self
                    .inner
                    .requests
                    .request(Request::fetch(job, Lane::Interactive))
                    .await?
                {
                    Requested::Queued => info!(entity_type = %T::TYPE, %mbid, "fetch queued"),
                    Requested::AlreadyPending => {
                        debug!(entity_type = %T::TYPE, %mbid, "fetch already pending")
                    }
                    Requested::Staged => return Err(ApiError::BrokerDown),
                }
                queued = true;
                *waited = true;
            }
            let Some(left) = budget.checked_sub(started.elapsed()) else {
                return Err(ApiError::Queued(T::TYPE, mbid));
            };
            if tokio::time::timeout(
                left,
                fills::wait_for(&mut fills, Filled::Entity(T::TYPE, mbid)),
            )
            .await
            .is_err()
            {
                return Err(ApiError::Queued(T::TYPE, mbid));
            }
        }
    }

    /// The entity under `mbid` from the hot tier, or its stored answer from
    /// the database, built there on the first read that finds none.
    async fn load<T>(&self, mbid: Mbid) -> Result<Option<HotEntry>, DbError>
    where
        T: Hot,
        R: EntityRepository<T>,
    {
        let hot = &self.inner.hot;
        let key = HotKey::Message(T::TYPE, mbid);
        if let Some(entry) = hot.get(&key) {
            return Ok(Some(entry));
        }
        let ticket = hot.ticket(&key);
        let repo = &self.inner.repo;
        let stored = match repo.find_answer(mbid).await? {
            Some(stored) => stored,
            None => {
                let Some(built) = repo.build_answer(mbid, T::encode).await? else {
                    return Ok(None);
                };
                metrics::counter!(names::ANSWERS_BUILT, "entity_type" => T::TYPE.as_str())
                    .increment(1);
                built
            }
        };
        let entry = HotEntry::new(stored.fetched_at, stored.body);
        hot.insert(ticket, key, &entry);
        Ok(Some(entry))
    }

    /// The answer for `entry`, found under `mbid` for the `requested` MBID;
    /// a stale one is answered and refreshed in the background.
    fn answer<T: Hot>(&self, entry: HotEntry, mbid: Mbid, requested: Mbid) -> Answer {
        let fresh = self.inner.config.is_fresh(T::TYPE, entry.fetched_at);
        if !fresh {
            self.refresh_in_background(T::TYPE, mbid);
        }
        Answer {
            body: entry.body,
            fetched_at: entry.fetched_at,
            fresh,
            redirected_from: (mbid != requested).then_some(requested),
        }
    }

    fn refresh_in_background(&self, entity_type: EntityType, mbid: Mbid) {
        let requests = self.inner.requests.clone();
        let job = FetchJob::new(entity_type, mbid);
        // In the call's span and trace, so the refresh job continues them.
        tokio::spawn(
            async move {
                if let Err(error) = requests.request(Request::fetch(job, Lane::Refresh)).await {
                    warn!(%error, %entity_type, %mbid, "could not ask for a refresh of a stale entity");
                }
            }
            .in_current_span()
            .with_current_context(),
        );
    }
}

/// The RPC a lookup of `entity_type` serves, as a metric label.
fn method_name(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Artist => "GetArtist",
        EntityType::ReleaseGroup => "GetReleaseGroup",
        EntityType::Release => "GetRelease",
        EntityType::Recording => "GetRecording",
        EntityType::Label => "GetLabel",
    }
}
