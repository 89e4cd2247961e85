//! The cache policy: what a lookup does on a fresh hit, a stale hit, a
//! remembered 404, a redirect and a miss. Written against the repository
//! traits and a [`JobSink`], not against PostgreSQL or RabbitMQ.
//!
//! - Fresh hit: answered from the cache; nothing else happens.
//! - Stale hit: answered at once; a refresh job is queued in the background.
//! - Remembered 404 younger than `negative_ttl`: NOT_FOUND, no job.
//! - Redirect (merged MBID): followed to the surviving entity.
//! - Miss: a job is queued (once per MBID, however many calls miss it at
//!   the same time, through the `fetch_request` ledger), then the call waits
//!   for the fill notification up to `miss_wait` (cut by the client's
//!   deadline) and answers, or says the fetch is queued.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use musicmeta_shared::amqp::{AmqpError, JobPublisher};
use musicmeta_shared::config::CacheConfig;
use musicmeta_shared::db::outcome::Outcome;
use musicmeta_shared::db::repository::CacheStateRepository;
use musicmeta_shared::db::{DbError, EntityRepository};
use musicmeta_shared::domain::Cached;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid, MbidError};
use musicmeta_shared::prometheus::names;
use prost::bytes::Bytes;
use tokio::sync::broadcast;
use tracing::{Instrument, debug, info, warn};

use crate::fills::{self, FillEvent, Fills};
use crate::hot::{Hot, HotEntry, HotTier};

/// A pending fetch older than this is assumed lost and asked for again.
pub(crate) const REASK_AFTER: Duration = Duration::from_secs(60);
/// Longest a lookup waits for the broker to confirm its job; a job not
/// confirmed by then stays in the outbox for the relay.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// Redirect chains longer than this are treated as a miss.
const MAX_REDIRECTS: usize = 3;

/// Where jobs go; [`JobPublisher`] in production.
pub trait JobSink: Send + Sync + 'static {
    fn publish(
        &self,
        job: &FetchJob,
        lane: Lane,
    ) -> impl Future<Output = Result<(), AmqpError>> + Send;
}

impl JobSink for Arc<JobPublisher> {
    async fn publish(&self, job: &FetchJob, lane: Lane) -> Result<(), AmqpError> {
        JobPublisher::publish(self, job, lane).await
    }
}

/// Why a lookup has no entity to answer with.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("invalid mbid: {0}")]
    InvalidMbid(#[from] MbidError),
    #[error("musicbrainz has no {0} with mbid {1}")]
    NotFound(EntityType, Mbid),
    #[error("{0} {1} is not cached yet; a fetch is queued, retry shortly")]
    Queued(EntityType, Mbid),
    #[error(transparent)]
    Database(#[from] DbError),
    /// The job is staged in the outbox; the relay publishes it later.
    #[error("could not queue a fetch yet: {0}")]
    Broker(#[from] AmqpError),
}

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

enum Resolved {
    Hit(HotEntry, Mbid),
    NotFound(Mbid),
    Miss(Mbid),
}

#[derive(Debug)]
struct Inner<R, P> {
    repo: R,
    jobs: P,
    fills: Fills,
    hot: HotTier,
    config: CacheConfig,
}

/// The cache policy; cheap to clone.
#[derive(Debug)]
pub struct CachePolicy<R, P> {
    inner: Arc<Inner<R, P>>,
}

impl<R, P> Clone for CachePolicy<R, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R, P> CachePolicy<R, P>
where
    R: CacheStateRepository + 'static,
    P: JobSink,
{
    pub fn new(repo: R, jobs: P, fills: Fills, hot: HotTier, config: CacheConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                jobs,
                fills,
                hot,
                config,
            }),
        }
    }

    /// Looks up `raw_mbid`, waiting at most `deadline` (the client's) for a
    /// miss, and counts the outcome.
    pub async fn get<T>(
        &self,
        raw_mbid: &str,
        deadline: Option<Duration>,
    ) -> Result<Answer, LookupError>
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
            Err(LookupError::InvalidMbid(_)) => "invalid",
            Err(LookupError::NotFound(..)) => "not_found",
            Err(LookupError::Queued(..)) => "queued",
            Err(LookupError::Database(_) | LookupError::Broker(_)) => "unavailable",
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
    ) -> Result<Answer, LookupError>
    where
        T: Hot,
        R: EntityRepository<T>,
    {
        let requested = Mbid::parse(raw_mbid)?;
        let started = Instant::now();
        let budget = deadline.map_or(self.inner.config.miss_wait(), |d| {
            // Leave the answer time to travel back before the client gives up.
            d.saturating_sub(d / 10).min(self.inner.config.miss_wait())
        });
        let mut fills = None;
        let mut queued = false;
        loop {
            match self.resolve::<T>(requested, &mut fills).await? {
                Resolved::Hit(entry, mbid) => {
                    let fresh = self.is_fresh(T::TYPE, entry.fetched_at);
                    if !fresh {
                        self.refresh_in_background(T::TYPE, mbid);
                    }
                    return Ok(Answer {
                        body: entry.body,
                        fetched_at: entry.fetched_at,
                        fresh,
                        redirected_from: (mbid != requested).then_some(requested),
                    });
                }
                Resolved::NotFound(mbid) => return Err(LookupError::NotFound(T::TYPE, mbid)),
                Resolved::Miss(mbid) => {
                    let Some(rx) = fills.as_mut() else {
                        // Unreachable as resolve subscribes before it reads
                        // the database; should that change, read again.
                        fills = Some(self.inner.fills.subscribe());
                        continue;
                    };
                    if !queued {
                        self.request_fetch(T::TYPE, mbid, Lane::Interactive).await?;
                        queued = true;
                        *waited = true;
                    }
                    let Some(left) = budget.checked_sub(started.elapsed()) else {
                        return Err(LookupError::Queued(T::TYPE, mbid));
                    };
                    if tokio::time::timeout(left, fills::wait_for(rx, (T::TYPE, mbid)))
                        .await
                        .is_err()
                    {
                        return Err(LookupError::Queued(T::TYPE, mbid));
                    }
                }
            }
        }
    }

    /// Follows redirects and consults the negative cache; entities come from
    /// the hot tier when it holds them, from the database otherwise (and
    /// encoded once, there). Before its first database read it subscribes
    /// `fills` to fill notifications, so a miss can wait for its fill
    /// without reading again: a fill that lands after the read is heard.
    async fn resolve<T>(
        &self,
        requested: Mbid,
        fills: &mut Option<broadcast::Receiver<FillEvent>>,
    ) -> Result<Resolved, DbError>
    where
        T: Hot,
        R: EntityRepository<T>,
    {
        let (repo, hot) = (&self.inner.repo, &self.inner.hot);
        let mut current = requested;
        for _ in 0..=MAX_REDIRECTS {
            if let Some(entry) = hot.get(T::TYPE, current) {
                return Ok(Resolved::Hit(entry, current));
            }
            if fills.is_none() {
                *fills = Some(self.inner.fills.subscribe());
            }
            let ticket = hot.ticket(T::TYPE, current);
            if let Some(Cached::<T> { entity, fetched_at }) = repo.find(current).await? {
                let entry = HotEntry {
                    fetched_at,
                    body: entity.encode(),
                };
                hot.insert(ticket, (T::TYPE, current), &entry);
                return Ok(Resolved::Hit(entry, current));
            }
            match repo.find_outcome(T::TYPE, current).await? {
                Some(Outcome::Redirect { to, .. }) => current = to,
                Some(Outcome::NotFound { recorded_at })
                    if age(recorded_at) < self.inner.config.negative_ttl() =>
                {
                    return Ok(Resolved::NotFound(current));
                }
                _ => return Ok(Resolved::Miss(current)),
            }
        }
        warn!(mbid = %requested, "redirect chain too long; treating as a miss");
        Ok(Resolved::Miss(current))
    }

    fn is_fresh(&self, entity_type: EntityType, fetched_at: SystemTime) -> bool {
        age(fetched_at) < self.inner.config.ttl(entity_type)
    }

    /// Publishes a job unless one is already pending for this MBID. The job
    /// is staged in the outbox with its claim first, so when the broker is
    /// down (or slow past [`PUBLISH_TIMEOUT`]) it stays there and the relay
    /// publishes it once the broker is back; the caller hears of the outage.
    async fn request_fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        lane: Lane,
    ) -> Result<(), LookupError> {
        let repo = &self.inner.repo;
        let job = FetchJob::new(entity_type, mbid);
        if !repo.stage_fetch(&job, lane, REASK_AFTER).await? {
            debug!(%entity_type, %mbid, "fetch already pending");
            return Ok(());
        }
        let published = match tokio::time::timeout(
            PUBLISH_TIMEOUT,
            self.inner.jobs.publish(&job, lane),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(AmqpError::Timeout(PUBLISH_TIMEOUT)),
        };
        match published {
            Ok(()) => {
                info!(%entity_type, %mbid, job_id = %job.job_id, %lane, "fetch queued");
                // Should this fail, the relay publishes the job once more:
                // a duplicate job, which the worker's idempotent upsert absorbs.
                if let Err(error) = repo.unstage(job.job_id).await {
                    warn!(%error, job_id = %job.job_id, "could not remove a published job from the outbox");
                }
                Ok(())
            }
            Err(error) => {
                warn!(%error, %entity_type, %mbid, job_id = %job.job_id, "broker unavailable; job left in the outbox");
                Err(error.into())
            }
        }
    }

    fn refresh_in_background(&self, entity_type: EntityType, mbid: Mbid) {
        let this = self.clone();
        // In the call's span, so the refresh job continues the call's trace.
        tokio::spawn(
            async move {
                if let Err(error) = this.request_fetch(entity_type, mbid, Lane::Refresh).await {
                    warn!(%error, %entity_type, %mbid, "could not queue refresh of stale entity");
                }
            }
            .in_current_span(),
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

fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}
