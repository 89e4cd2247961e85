//! One way to ask for a fetch. Every producer — a lookup's miss, a stale
//! refresh, a catalog browse that wants a list completed, the admin
//! `Refresh`/`Backfill` calls, a worker's crawl and `ingest-worker
//! backfill` — goes through [`FetchRequests`], so all of them get the same
//! guarantees:
//!
//! 1. **Claim.** A `fetch_request` row keyed by what is wanted (an entity,
//!    or one of its lists) keeps concurrent asks to one job; a claim older
//!    than `cache.reask_after_secs` is taken to be lost and asked again.
//! 2. **Outbox.** The job is written to `job_outbox` in the claim's
//!    transaction, before anything is published.
//! 3. **Publish.** The job is published with a broker confirm, waiting at
//!    most `amqp.publish_timeout_ms`; once confirmed, its outbox row goes.
//! 4. **Relay.** A job the broker refused, or did not confirm in time, stays
//!    in the outbox; the [`relay`] that every query-api and every worker
//!    runs publishes it once the broker is back. A broker outage delays a
//!    request; it never loses one.
//!
//! A request is thus published at least once; a duplicate (a confirm lost
//! on the way back) is absorbed by the worker's idempotent storing.

pub mod relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::amqp::{AmqpError, JobPublisher};
use crate::catalog::BrowseList;
use crate::config::Config;
use crate::db::outbox::{self, Staging};
use crate::db::outcome::DOCUMENT_CLAIM;
use crate::db::{self, DbError};
use crate::jobs::{DocumentJob, FetchJob, Job, Lane, document_id};
use crate::mbid::Mbid;

/// Publishes in flight at once for a batch: enough to keep the broker's
/// confirms flowing, few enough not to flood one channel.
const PUBLISHES_IN_FLIGHT: usize = 64;

/// One fetch to ask for: the job, its lane, and what its claim is keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    job: Job,
    lane: Lane,
    claim: (String, Mbid),
}

impl Request {
    /// A fetch of `job`'s entity, claimed under that entity.
    pub fn fetch(job: FetchJob, lane: Lane) -> Self {
        let claim = (job.entity_type.as_str().to_owned(), job.mbid);
        Self {
            job: job.into(),
            lane,
            claim,
        }
    }

    /// A fetch of one ws/2 answer stored under `key`, claimed under that
    /// key's [`document_id`].
    pub fn document(job: DocumentJob, key: &str, lane: Lane) -> Self {
        Self {
            job: job.into(),
            lane,
            claim: (DOCUMENT_CLAIM.to_owned(), document_id(key)),
        }
    }

    /// A completion of `list` of `parent`: a job for the parent (the worker
    /// browses every list wanted for it), claimed under the list, on the
    /// refresh lane, ahead of backfill: someone is paging through it.
    pub fn complete_list(list: BrowseList, parent: Mbid) -> Self {
        Self {
            job: FetchJob::new(list.parent_type(), parent).into(),
            lane: Lane::Refresh,
            claim: (list.key().to_owned(), parent),
        }
    }

    pub fn job(&self) -> &Job {
        &self.job
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Published: the broker confirmed the job.
    Queued,
    /// A fetch of it is pending already; no second job was made.
    AlreadyPending,
    /// Staged in the outbox: the broker refused the job or did not confirm
    /// it in time. The relay publishes it once the broker is back.
    Staged,
}

/// The one fetch-request path; cheap to clone.
#[derive(Debug, Clone)]
pub struct FetchRequests {
    pool: Pool,
    publisher: Arc<JobPublisher>,
    reask_after: Duration,
    publish_timeout: Duration,
}

impl FetchRequests {
    pub fn new(pool: Pool, publisher: Arc<JobPublisher>, config: &Config) -> Self {
        Self {
            pool,
            publisher,
            reask_after: config.cache.reask_after(),
            publish_timeout: config.amqp.publish_timeout(),
        }
    }

    /// Asks for one fetch.
    pub async fn request(&self, request: Request) -> Result<Requested, DbError> {
        let mut outcome = self.request_all(vec![request]).await?;
        Ok(outcome.pop().unwrap_or(Requested::AlreadyPending))
    }

    /// Asks for many fetches: one transaction claims and stages them all,
    /// then they are published concurrently, all within one publish
    /// timeout; what is not confirmed by then is left to the relay. Returns
    /// what became of each request, in order.
    pub async fn request_all(&self, requests: Vec<Request>) -> Result<Vec<Requested>, DbError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let stagings: Vec<Staging> = requests
            .into_iter()
            .map(|r| Staging {
                claim: r.claim,
                job: r.job,
                lane: r.lane,
            })
            .collect();
        // Repeatable: a claim that did commit is seen as pending the second
        // time, and its job, staged in the same transaction, is relayed.
        let stagings = &stagings;
        let staged = db::with_client(&self.pool, |mut client| async move {
            outbox::stage(&mut client, stagings, self.reask_after).await
        })
        .await?;
        let to_publish: Vec<(usize, &Staging)> = stagings
            .iter()
            .enumerate()
            .filter(|(i, _)| staged[*i])
            .collect();
        let mut outcome: Vec<Requested> = staged
            .iter()
            .map(|s| {
                if *s {
                    Requested::Staged
                } else {
                    Requested::AlreadyPending
                }
            })
            .collect();
        for s in stagings.iter().zip(&staged).filter(|(_, staged)| !**staged) {
            debug!(claim = %s.0.claim.0, mbid = %s.0.claim.1, "fetch already pending");
        }
        let confirmed = self.publish(&to_publish).await;
        if confirmed.is_empty() {
            return Ok(outcome);
        }
        let ids: Vec<uuid::Uuid> = confirmed
            .iter()
            .map(|i| stagings[*i].job.job_id())
            .collect();
        for i in confirmed {
            outcome[i] = Requested::Queued;
        }
        // Should this fail, the relay publishes these jobs once more: a
        // duplicate, which the worker's idempotent storing absorbs.
        match self.pool.get().await {
            Ok(client) => {
                if let Err(error) = outbox::remove(&client, &ids).await {
                    warn!(%error, jobs = ids.len(), "could not remove published jobs from the outbox");
                }
            }
            Err(error) => {
                warn!(%error, jobs = ids.len(), "could not remove published jobs from the outbox")
            }
        }
        Ok(outcome)
    }

    /// Publishes the staged jobs; returns the indices the broker confirmed.
    /// After the first failure the rest are not tried: the broker is down,
    /// and the relay will send them.
    async fn publish(&self, staged: &[(usize, &Staging)]) -> Vec<usize> {
        let broker_down = AtomicBool::new(false);
        let confirmed = std::sync::Mutex::new(Vec::with_capacity(staged.len()));
        let all = futures::stream::iter(staged)
            .for_each_concurrent(PUBLISHES_IN_FLIGHT, |(index, s)| {
                let (broker_down, confirmed) = (&broker_down, &confirmed);
                async move {
                    if broker_down.load(Ordering::Relaxed) {
                        return;
                    }
                    match self.publisher.publish(&s.job, s.lane).await {
                        Ok(()) => confirmed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(*index),
                        Err(error) => {
                            if !broker_down.swap(true, Ordering::Relaxed) {
                                warn!(%error, job_id = %s.job.job_id(), "broker unavailable; jobs left in the outbox for the relay");
                            }
                        }
                    }
                }
            });
        if tokio::time::timeout(self.publish_timeout, all)
            .await
            .is_err()
        {
            let error = AmqpError::Timeout(self.publish_timeout);
            warn!(%error, "broker slow to confirm; unconfirmed jobs left in the outbox for the relay");
        }
        confirmed.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the outbox relay until `stop` is cancelled.
    pub fn spawn_relay(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(relay::run(
            self.pool.clone(),
            self.publisher.clone(),
            self.publish_timeout,
            stop,
        ))
    }
}
