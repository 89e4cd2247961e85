//! The job loop: consume fetch jobs, fetch from MusicBrainz, store, ack.
//!
//! A delivery is acknowledged only after its result is committed, so a
//! worker that dies mid-job leaves the job to be redelivered; storing is
//! idempotent, so a redelivered job changes nothing. Outcomes:
//! - stored / 404 remembered / already fresh → ack;
//! - poison message or permanent failure (unparseable upstream response,
//!   HTTP 4xx other than 404) → published to `<queue>.dlq` with the reason,
//!   lane and attempt in its headers, then acked, for an operator to inspect;
//! - transient failure (503 storm, 5xx, timeout, network, database down) →
//!   a copy goes to a delayed retry queue that returns it to its lane after
//!   a backoff growing with its attempt number (`crate::retry`), then the
//!   delivery is acked; after `retry.max_attempts` attempts it is
//!   dead-lettered instead;
//! - a panic while handling a job → caught, logged and dead-lettered as that
//!   job's failure (`panic: …`); the worker goes on consuming.
//!
//! A retry copy or dead letter is confirmed by the broker before the
//! delivery is acked, so a crash in between duplicates a job rather than
//! losing it, and idempotent storing absorbs the duplicate.
//!
//! Each lane (interactive, refresh, backfill) is its own consumer with at most
//! `amqp.prefetch` jobs in flight. Every MusicBrainz request passes the
//! [`RateGate`]: highest lane first at each slot, slots shared with every
//! other worker through PostgreSQL (a rate of 0, for private mirrors, admits
//! every request at once).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::{FieldTable, ShortString};
use musicmeta_musicbrainz::RateGate;
use musicmeta_shared::amqp::{self, AmqpError, DeadLetter, JobPublisher, Retry, Topology};
use musicmeta_shared::prometheus::{self, BeforeScrape, MetricsError, names};
use musicmeta_shared::status::{self, Activity};
use musicmeta_shared::telemetry;
use opentelemetry::context::FutureExt as _;

use crate::crawl::Crawler;
use crate::documents::{document_key, document_kind, parse_request};
use crate::failure::JobError;
use crate::retry::RetryPolicy;
use musicmeta_musicbrainz::{FetchError, MusicBrainzClient};
use musicmeta_shared::config::{Config, ConfigError};
use musicmeta_shared::db::outcome::Outcome;
use musicmeta_shared::db::{
    self, CacheStateRepository, DbError, DocumentRepository, EntityWriter, PgStore,
};
use musicmeta_shared::domain::FetchOutcome;
use musicmeta_shared::fetch_requests::FetchRequests;
use musicmeta_shared::jobs::{DocumentJob, FetchJob, Job, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Test builds only (feature `test-hooks`): a delivery carrying this header
/// panics inside the job handler, so tests can check that a panic costs
/// that one message and not the worker. Production builds have no such path.
#[cfg(feature = "test-hooks")]
pub const PANIC_HEADER: &str = "x-musicmeta-test-panic";
/// How long a stopping worker lets its in-flight jobs finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot build the musicbrainz client: {0}")]
    Client(#[from] FetchError),
    #[error(transparent)]
    Broker(#[from] AmqpError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Fetched and committed; `stored` is the entity's own MBID (it differs
    /// from the job's when MusicBrainz redirected a merged MBID).
    Stored { stored: Mbid },
    /// MusicBrainz has no such entity; remembered in the negative cache.
    NotFound,
    /// The cache already held a fresh copy; no upstream request was made.
    AlreadyFresh,
    /// A ws/2 document job's answer was stored, with MusicBrainz's status.
    DocumentStored { status: u16 },
    /// Sent to the dead-letter queue.
    DeadLettered { reason: String },
    /// Failed transiently; `retry` says when it comes back, as which attempt.
    Requeued { reason: String, retry: Retry },
}

/// One report per delivery, broadcast for observers (tests, metrics).
#[derive(Debug, Clone)]
pub struct JobReport {
    pub job_id: Option<Uuid>,
    /// The entity of an entity job.
    pub entity: Option<(EntityType, Mbid)>,
    /// The ws/2 request of a document job.
    pub document: Option<String>,
    pub lane: Lane,
    pub redelivered: bool,
    /// Which attempt this delivery was (its `x-musicmeta-attempt`, else 1).
    pub attempt: u32,
    /// Child jobs a crawl queued (depth > 0).
    pub queued: u32,
    /// The trace the job's span belongs to (the publisher's, when the job
    /// carried a trace context).
    pub trace_id: Option<String>,
    pub outcome: JobOutcome,
}

#[derive(Debug, Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    store: PgStore,
    musicbrainz: MusicBrainzClient,
    /// Dead letters and retry copies; its own connection, opened on first use.
    publisher: Arc<JobPublisher>,
    /// Crawled children, through the same path as every other producer.
    requests: FetchRequests,
    reports: broadcast::Sender<JobReport>,
    retry: RetryPolicy,
    /// Failed hand-backs in a row, for the backoff when even that fails.
    consecutive_failures: AtomicU32,
    /// The broker node (of `amqp.url` and `amqp.urls`) to try first on the
    /// next connect: the one after the node last connected to, so a lost
    /// node is not waited for.
    next_node: AtomicUsize,
    /// The gate the MusicBrainz client's requests pass (counts them).
    gate: RateGate,
    /// For the status view: this worker's name and its job counts so far.
    id: String,
    done: AtomicU64,
    failed: AtomicU64,
    /// Where `/metrics` is served, if configured; served while the worker exists.
    metrics_addr: Option<std::net::SocketAddr>,
    _metrics_stop: tokio_util::sync::DropGuard,
}

impl Worker {
    /// Checks the configuration (a User-Agent with a contact is required by
    /// MusicBrainz) and the database; the broker is connected by [`run`].
    ///
    /// [`run`]: Worker::run
    pub async fn build(config: Config) -> Result<Self, WorkerError> {
        config.musicbrainz.check_contact()?;
        let pool = db::build_pool(&config.database)?;
        db::check(&pool).await?;
        // One request budget per upstream, shared by every worker on this database.
        let gate = RateGate::shared(
            config.musicbrainz.requests_per_second,
            pool.clone(),
            config.musicbrainz.base_url.clone(),
        );
        let musicbrainz = MusicBrainzClient::new(&config.musicbrainz, gate.clone())?;
        let metrics_stop = CancellationToken::new();
        let metrics_addr = match config.metrics.listen_addr {
            Some(addr) => {
                let pool = pool.clone();
                let before: BeforeScrape = Arc::new(move || prometheus::record_pool(&pool));
                Some(prometheus::serve(addr, before, metrics_stop.clone()).await?)
            }
            None => None,
        };
        let publisher = Arc::new(JobPublisher::new(
            config.amqp.endpoints(),
            Topology::from_config(&config.amqp),
        ));
        let requests = FetchRequests::new(pool.clone(), publisher.clone(), &config);
        let (reports, _) = broadcast::channel(1024);
        let retry = RetryPolicy::from_config(&config.retry);
        let worker = Self {
            inner: Arc::new(Inner {
                config,
                store: PgStore::new(pool),
                musicbrainz,
                publisher,
                requests,
                reports,
                retry,
                consecutive_failures: AtomicU32::new(0),
                next_node: AtomicUsize::new(0),
                gate,
                id: format!(
                    "{}-{}-{}",
                    hostname(),
                    std::process::id(),
                    &Uuid::new_v4().simple().to_string()[..8]
                ),
                done: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                metrics_addr,
                _metrics_stop: metrics_stop.drop_guard(),
            }),
        };
        // In the fleet status from the start, not from the heartbeat loop's
        // first turn: `status` right after a start counts this worker. (The
        // loop keeps it fresh; a failure here is only logged, as there.)
        let inner = &worker.inner;
        if let Err(error) = status::heartbeat(
            inner.store.pool(),
            &inner.id,
            &hostname(),
            Activity::default(),
        )
        .await
        {
            warn!(%error, "could not record the first heartbeat");
        }
        Ok(worker)
    }

    /// Where `/metrics` is served, if configured.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.metrics_addr
    }

    /// Reports of every delivery handled from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobReport> {
        self.inner.reports.subscribe()
    }

    /// Consumes until `shutdown` is cancelled, reconnecting to the broker
    /// with backoff when the connection is lost. On shutdown it stops taking
    /// deliveries, finishes the ones in flight, and closes the channel so the
    /// broker requeues anything prefetched but not started. A queue declared
    /// with another type (`amqp.queue_type`) does not heal by reconnecting:
    /// the worker stops with that error, which names the queue and the way out.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        // Stopped after the last in-flight job is done, so its counts are flushed.
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(heartbeat_loop(self.inner.clone(), heartbeat_stop.clone()));
        // Children staged while the broker was down (here or elsewhere) go out
        // once it is back, even with no query-api running.
        let relay = self.inner.requests.spawn_relay(heartbeat_stop.clone());
        let mut backoff = Duration::from_millis(200);
        let mut result = Ok(());
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(error @ AmqpError::QueueType { .. }) => {
                    error!(%error, "a queue has another type than amqp.queue_type; stopping");
                    result = Err(error.into());
                    break;
                }
                Err(error) => {
                    warn!(%error, backoff_ms = backoff.as_millis() as u64, "broker connection failed; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        // The final flush and sign-off, so the status view is exact.
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        let _ = relay.await;
        info!("worker stopped");
        result
    }

    /// One broker session: `Ok` when it ended by shutdown or a clean close.
    /// Each lane is its own consumer with `prefetch` deliveries in flight, so
    /// a queue of backfill work never holds back an interactive job's delivery.
    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), AmqpError> {
        let amqp_config = &self.inner.config.amqp;
        let topology = Topology::from_config(amqp_config);
        let start = self.inner.next_node.load(Ordering::Relaxed);
        let (connection, node) = amqp::connect_any(&amqp_config.endpoints(), start).await?;
        self.inner.next_node.store(node + 1, Ordering::Relaxed);
        info!(node, "connected to the broker");
        let channel = amqp::consumer_channel(&connection, &topology, amqp_config.prefetch).await?;
        let mut lanes = Vec::new();
        for lane in Lane::ALL {
            let consumer = channel
                .basic_consume(
                    topology.lane_queue(lane).as_str().into(),
                    ShortString::from(format!("{}-{}", lane, Uuid::new_v4().simple())),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            lanes.push(self.consume_lane(
                consumer,
                lane,
                usize::from(amqp_config.prefetch),
                shutdown,
            ));
        }
        info!(queue = %topology.queue, prefetch = amqp_config.prefetch, "consuming jobs");
        metrics::gauge!(names::AMQP_CONNECTED, "role" => "consumer").set(1.0);
        let lost = futures::future::join_all(lanes)
            .await
            .into_iter()
            .flatten()
            .next();
        let _ = channel
            .close(200, ShortString::from("worker stopping"))
            .await;
        let _ = connection
            .close(200, ShortString::from("worker stopping"))
            .await;
        match lost {
            _ if shutdown.is_cancelled() => Ok(()),
            Some(e) => Err(e.into()),
            // The streams ended without an error: the broker closed us.
            None => Err(AmqpError::Broker(lapin::Error::from(
                lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
            ))),
        }
    }

    /// Runs one lane's deliveries, at most `limit` at once, until shutdown or
    /// the consumer ends; in-flight jobs always finish. Returns the consumer's
    /// error, if that is why it ended.
    async fn consume_lane(
        &self,
        consumer: lapin::Consumer,
        lane: Lane,
        limit: usize,
        shutdown: &CancellationToken,
    ) -> Option<lapin::Error> {
        let mut deliveries = std::pin::pin!(consumer.take_until(shutdown.cancelled()));
        let mut in_flight = FuturesUnordered::new();
        let mut lost = None;
        loop {
            tokio::select! {
                Some(_) = in_flight.next(), if !in_flight.is_empty() => {}
                delivery = deliveries.next(), if in_flight.len() < limit => match delivery {
                    Some(Ok(delivery)) => in_flight.push(self.handle(delivery, lane)),
                    Some(Err(e)) => {
                        lost = Some(e);
                        break;
                    }
                    None => break,
                },
            }
        }
        // Jobs in flight get a grace period to finish; any still running then
        // (waiting for a rate-limit slot, say) is dropped unacknowledged, and
        // closing the channel hands it back to the queue. Storing is
        // idempotent, so one cut after its commit is merely done twice.
        let drained = async { while in_flight.next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
            warn!(%lane, left = in_flight.len(), "shutdown grace over; requeueing unfinished jobs");
        }
        lost
    }

    /// Handles one delivery end to end and acknowledges it accordingly.
    pub async fn handle(&self, delivery: Delivery, lane: Lane) -> JobReport {
        let redelivered = delivery.redelivered;
        let attempt = amqp::attempt_of(&delivery.properties);
        let job = match Job::decode(&delivery.data) {
            Ok(job) => job,
            Err(e) => {
                warn!(error = %e, attempt, "poison message; dead-lettering");
                let report = JobReport {
                    job_id: None,
                    entity: None,
                    document: None,
                    lane,
                    redelivered,
                    attempt,
                    queued: 0,
                    trace_id: None,
                    outcome: JobOutcome::DeadLettered {
                        reason: e.to_string(),
                    },
                };
                self.settle(&delivery, lane, attempt, &report.outcome).await;
                return self.publish_report(report);
            }
        };
        let span = match &job {
            Job::Fetch(job) => info_span!(
                "job",
                job_id = %job.job_id,
                entity_type = %job.entity_type,
                mbid = %job.mbid,
                %lane,
                depth = job.depth,
                attempt,
                redelivered,
                trace_id = tracing::field::Empty,
            ),
            Job::Document(job) => info_span!(
                "job",
                job_id = %job.job_id,
                request = %job.request,
                %lane,
                attempt,
                redelivered,
                trace_id = tracing::field::Empty,
            ),
        };
        // Continue the trace of whoever published the job (a gRPC call's miss).
        let trace = telemetry::continue_trace(
            &span,
            &telemetry::from_amqp_headers(delivery.properties.headers().as_ref()),
        );
        let trace_id = telemetry::trace_id(&span).or_else(|| telemetry::context_trace_id(&trace));
        if let Some(id) = &trace_id {
            span.record("trace_id", id.as_str());
        }
        async {
            let mut queued = 0;
            let run = async {
                #[cfg(feature = "test-hooks")]
                if delivery
                    .properties
                    .headers()
                    .as_ref()
                    .is_some_and(|h| h.contains_key(PANIC_HEADER))
                {
                    panic!("test hook: {PANIC_HEADER} asked for a panic");
                }
                match &job {
                    Job::Fetch(job) => self.process(job, lane).await,
                    Job::Document(job) => self.process_document(job, lane).await.map(|o| (o, 0)),
                }
            };
            // A panic is this job's failure, not the worker's: the state it
            // touched is this job's own (its transaction rolls back when
            // dropped), so nothing shared is left half-changed.
            let outcome = match AssertUnwindSafe(run).catch_unwind().await {
                Ok(Ok((outcome, children))) => {
                    self.inner.consecutive_failures.store(0, Ordering::Relaxed);
                    queued = children;
                    outcome
                }
                Ok(Err(e)) if e.is_permanent() => {
                    error!(error = %e, "job failed permanently; dead-lettering");
                    let reason = e.to_string();
                    self.remember_failure(&job, &reason).await;
                    JobOutcome::DeadLettered { reason }
                }
                Ok(Err(e)) => match self.inner.retry.after_failure(lane, attempt) {
                    Some(retry) => {
                        warn!(
                            error = %e,
                            next_attempt = retry.attempt,
                            delay_ms = retry.delay.as_millis() as u64,
                            "job failed; retrying later"
                        );
                        JobOutcome::Requeued {
                            reason: e.to_string(),
                            retry,
                        }
                    }
                    None => {
                        error!(error = %e, "job failed on its last attempt; dead-lettering");
                        self.forget_claim(&job).await;
                        JobOutcome::DeadLettered {
                            reason: format!("gave up after {attempt} attempts: {e}"),
                        }
                    }
                },
                Err(panic) => {
                    let message = panic_message(panic.as_ref());
                    error!(panic = %message, "job handler panicked; dead-lettering");
                    // A bug of ours, not MusicBrainz's answer: nothing is
                    // remembered against the MBID.
                    self.forget_claim(&job).await;
                    JobOutcome::DeadLettered {
                        reason: format!("panic: {message}"),
                    }
                }
            };
            self.settle(&delivery, lane, attempt, &outcome).await;
            info!(outcome = ?outcome, "job done");
            let (entity, document) = match &job {
                Job::Fetch(j) => (Some((j.entity_type, j.mbid)), None),
                Job::Document(j) => (None, Some(j.request.clone())),
            };
            self.publish_report(JobReport {
                job_id: Some(job.job_id()),
                entity,
                document,
                lane,
                redelivered,
                attempt,
                queued,
                trace_id,
                outcome,
            })
        }
        .instrument(span)
        .with_context(trace)
        .await
    }

    fn publish_report(&self, report: JobReport) -> JobReport {
        let (counter, outcome) = match report.outcome {
            JobOutcome::Stored { .. } | JobOutcome::DocumentStored { .. } => {
                (&self.inner.done, "stored")
            }
            JobOutcome::NotFound => (&self.inner.done, "not_found"),
            JobOutcome::AlreadyFresh => (&self.inner.done, "already_fresh"),
            JobOutcome::DeadLettered { .. } => (&self.inner.failed, "dead_lettered"),
            JobOutcome::Requeued { .. } => (&self.inner.failed, "requeued"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(names::JOBS_CONSUMED, "lane" => report.lane.as_str(), "outcome" => outcome)
            .increment(1);
        let _ = self.inner.reports.send(report.clone());
        report
    }

    /// Acks after publishing a dead letter or retry copy (confirmed), or
    /// acks a finished job. A failure here means the channel is gone and the
    /// broker will redeliver, which idempotent storing absorbs.
    async fn settle(&self, delivery: &Delivery, lane: Lane, attempt: u32, outcome: &JobOutcome) {
        let publisher = &self.inner.publisher;
        let result = match outcome {
            JobOutcome::DeadLettered { reason } => {
                // To the DLQ with the reason in its headers, then ack; if
                // that publish fails, reject so the queue's own dead-letter
                // route takes it (without the reason), and nothing is lost.
                let letter = DeadLetter {
                    reason: reason.clone(),
                    lane,
                    attempt,
                };
                match publisher
                    .publish_dead_letter(&delivery.data, &delivery.properties, &letter)
                    .await
                {
                    Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                    Err(error) => {
                        warn!(%error, "could not publish to the dead-letter queue; rejecting");
                        delivery.reject(BasicRejectOptions { requeue: false }).await
                    }
                }
            }
            JobOutcome::Requeued { retry, .. } => {
                match publisher
                    .publish_retry(&delivery.data, &delivery.properties, retry)
                    .await
                {
                    Ok(()) => {
                        self.inner.consecutive_failures.store(0, Ordering::Relaxed);
                        delivery.ack(BasicAckOptions::default()).await
                    }
                    Err(error) => {
                        // Without a retry queue, hand it straight back after a
                        // pause, so a broker in trouble is not hammered; this
                        // attempt is tried again under the same number.
                        let failures = self
                            .inner
                            .consecutive_failures
                            .fetch_add(1, Ordering::Relaxed)
                            + 1;
                        let wait =
                            Duration::from_millis(250u64.saturating_mul(1 << failures.min(7)))
                                .min(MAX_BACKOFF);
                        warn!(%error, failures, wait_ms = wait.as_millis() as u64,
                            "could not publish the retry copy; requeueing after a pause");
                        tokio::time::sleep(wait).await;
                        delivery
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..BasicNackOptions::default()
                            })
                            .await
                    }
                }
            }
            _ => delivery.ack(BasicAckOptions::default()).await,
        };
        if let Err(error) = result {
            warn!(%error, "could not settle delivery; the broker will redeliver it");
        }
    }

    /// Runs one job: skip if fresh, otherwise fetch and store in one
    /// transaction; then, for `depth > 0`, queue the entities it leads to.
    /// Returns the outcome and how many child jobs were queued.
    async fn process(&self, job: &FetchJob, lane: Lane) -> Result<(JobOutcome, u32), JobError> {
        let store = &self.inner.store;
        let (outcome, entity) = if !job.force && self.is_fresh(job.entity_type, job.mbid).await? {
            self.forget_claim(&Job::Fetch(job.clone())).await;
            (JobOutcome::AlreadyFresh, None)
        } else {
            match self
                .inner
                .musicbrainz
                .fetch(job.entity_type, job.mbid, lane)
                .await?
            {
                FetchOutcome::Found { entity, document } => {
                    let stored = entity.mbid();
                    let found = FetchOutcome::Found {
                        entity: entity.clone(),
                        document,
                    };
                    store.store(job.entity_type, job.mbid, found).await?;
                    (JobOutcome::Stored { stored }, Some(entity))
                }
                FetchOutcome::NotFound => {
                    store
                        .store(job.entity_type, job.mbid, FetchOutcome::NotFound)
                        .await?;
                    return Ok((JobOutcome::NotFound, 0));
                }
            }
        };
        let stored = match &outcome {
            JobOutcome::Stored { stored } => *stored,
            // A fresh merged MBID: crawl from the entity it was merged into.
            _ if job.depth > 0 => match store.find_outcome(job.entity_type, job.mbid).await? {
                Some(Outcome::Redirect { to, .. }) => to,
                _ => job.mbid,
            },
            _ => job.mbid,
        };
        let crawler = Crawler {
            store,
            musicbrainz: &self.inner.musicbrainz,
            requests: &self.inner.requests,
            cache: &self.inner.config.cache,
        };
        let queued = crawler.crawl(job, stored, entity.as_ref()).await?;
        Ok((outcome, queued))
    }

    async fn is_fresh(&self, entity_type: EntityType, mbid: Mbid) -> Result<bool, DbError> {
        let inner = &self.inner;
        db::redirects::is_fresh(&inner.store, &inner.config.cache, entity_type, mbid).await
    }

    /// Forgets the claim of a job that is over without an answer stored
    /// (which would have cleared it), so the next request makes a new job.
    /// A fill that failed for good: remembered for `cache.failure_ttl_secs`,
    /// so the lookups waiting for it are told at once and repeated ones do
    /// not ask MusicBrainz again (nor grow the dead letters). If even that
    /// cannot be written, the claim is at least forgotten.
    async fn remember_failure(&self, job: &Job, reason: &str) {
        let store = &self.inner.store;
        let (kind, result) = match job {
            Job::Fetch(job) => (
                job.entity_type.as_str(),
                store
                    .record_failure(job.entity_type, job.mbid, reason)
                    .await,
            ),
            Job::Document(job) => match document_key(&job.request) {
                Ok(key) => (
                    "document",
                    store.record_document_failure(&key, reason).await,
                ),
                // Never claimed, and no request anyone could wait for.
                Err(_) => return,
            },
        };
        match result {
            Ok(()) => metrics::counter!(names::FILL_FAILURES, "kind" => kind).increment(1),
            Err(error) => {
                warn!(%error, "could not record the failed fill");
                self.forget_claim(job).await;
            }
        }
    }

    async fn forget_claim(&self, job: &Job) {
        let store = &self.inner.store;
        let result = match job {
            Job::Fetch(job) => store.release_fetch(job.entity_type, job.mbid).await,
            Job::Document(job) => match document_key(&job.request) {
                Ok(key) => store.release_document(&key).await,
                // Never claimed under any key: nothing to forget.
                Err(_) => Ok(()),
            },
        };
        if let Err(error) = result {
            warn!(%error, "could not clear the fetch request");
        }
    }

    /// Runs one document job: skip if the stored answer is fresh, otherwise
    /// ask MusicBrainz and store its answer as it came.
    async fn process_document(
        &self,
        job: &DocumentJob,
        lane: Lane,
    ) -> Result<JobOutcome, JobError> {
        let request = parse_request(&job.request)?;
        let key = request.key();
        let store = &self.inner.store;
        if !job.force
            && let Some(stored) = store.find_document(&key).await?
            && self.inner.config.cache.is_document_fresh(
                document_kind(&request),
                stored.status,
                stored.fetched_at,
            )
        {
            store.release_document(&key).await?;
            return Ok(JobOutcome::AlreadyFresh);
        }
        let answer = self
            .inner
            .musicbrainz
            .fetch_document(&request.upstream(), lane)
            .await?;
        store.store_document(&key, &answer).await?;
        Ok(JobOutcome::DocumentStored {
            status: answer.status,
        })
    }
}

/// Refreshes the heartbeat and flushes counts every few seconds; on
/// shutdown, flushes once more and signs off.
async fn heartbeat_loop(inner: Arc<Inner>, shutdown: CancellationToken) {
    let pool = inner.store.pool();
    let host = hostname();
    let mut flushed = (0u64, 0u64, 0u64);
    loop {
        let stopping = shutdown.is_cancelled();
        let now = (
            inner.done.load(Ordering::Relaxed),
            inner.failed.load(Ordering::Relaxed),
            inner.gate.admitted(),
        );
        let delta = |a: u64, b: u64| i32::try_from(a - b).unwrap_or(i32::MAX);
        let activity = Activity {
            done: delta(now.0, flushed.0),
            failed: delta(now.1, flushed.1),
            requests: delta(now.2, flushed.2),
        };
        match status::heartbeat(pool, &inner.id, &host, activity).await {
            Ok(()) => flushed = now,
            Err(error) => warn!(%error, "could not record the heartbeat"),
        }
        if stopping {
            if let Err(error) = status::sign_off(pool, &inner.id).await {
                warn!(%error, "could not sign off");
            }
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(status::HEARTBEAT_EVERY) => {}
        }
    }
}

/// The text a panic was raised with, if it was a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
