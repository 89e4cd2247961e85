//! `musicmeta.v1.AdminService`: the fleet status for operators (the same
//! view as `ingest-worker status`) and fetches asked for in bulk: `Refresh`
//! (forced jobs) and `Backfill` (the backfill lane, like `ingest-worker
//! backfill`). Every call is behind the admin bearer token
//! ([`crate::auth`]); dead-letter requeue stays a CLI command because it
//! needs the broker's credentials.
//!
//! Jobs go through the same `fetch_request` claim and outbox as a lookup's
//! miss: an entity with a fetch pending is skipped, and a job the broker
//! does not confirm stays in the outbox for the relay rather than being lost.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_server::AdminService;
use musicmeta_shared::amqp::{AmqpError, JobPublisher};
use musicmeta_shared::config::{AmqpConfig, CacheConfig};
use musicmeta_shared::db::{CacheStateRepository, DbError, PgStore};
use musicmeta_shared::jobs::{FetchJob, Lane, MAX_DEPTH};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::status;
use tonic::{Request, Response, Status};
use tracing::{error, info, warn};

use crate::service::REASK_AFTER;

/// Most entities one Refresh or Backfill call may name; bigger lists are
/// split by the caller, so one call never holds a connection for long.
pub const MAX_ITEMS: usize = 1000;
/// Longest one publish may wait for the broker's confirm before the job is
/// left to the outbox relay.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AdminApi {
    pool: Pool,
    amqp: AmqpConfig,
    store: PgStore,
    publisher: Arc<JobPublisher>,
    cache: CacheConfig,
}

impl AdminApi {
    pub fn new(
        pool: Pool,
        amqp: AmqpConfig,
        publisher: Arc<JobPublisher>,
        cache: CacheConfig,
    ) -> Self {
        Self {
            store: PgStore::new(pool.clone()),
            pool,
            amqp,
            publisher,
            cache,
        }
    }
}

/// What one bulk call did.
#[derive(Debug, Default)]
struct Tally {
    published: u32,
    skipped: u32,
    rejected: Vec<pb::Rejection>,
    /// Once the broker fails, the rest go straight to the outbox.
    broker_down: bool,
}

impl Tally {
    fn reject(&mut self, index: usize, reason: String) {
        self.rejected.push(pb::Rejection {
            index: index as u32,
            reason,
        });
    }
}

impl AdminApi {
    /// Claims, stages and publishes one job. A job the broker does not
    /// confirm stays staged and counts as published: the relay sends it.
    async fn queue(&self, job: FetchJob, lane: Lane, tally: &mut Tally) -> Result<(), Status> {
        if !self
            .store
            .stage_fetch(&job, lane, REASK_AFTER)
            .await
            .map_err(database_status)?
        {
            tally.skipped += 1;
            return Ok(());
        }
        tally.published += 1;
        if tally.broker_down {
            return Ok(());
        }
        let published =
            match tokio::time::timeout(PUBLISH_TIMEOUT, self.publisher.publish(&job, lane)).await {
                Ok(result) => result,
                Err(_) => Err(AmqpError::Timeout(PUBLISH_TIMEOUT)),
            };
        match published {
            Ok(()) => {
                if let Err(error) = self.store.unstage(job.job_id).await {
                    warn!(%error, job_id = %job.job_id, "could not remove a published job from the outbox");
                }
            }
            Err(error) => {
                warn!(%error, job_id = %job.job_id, "broker unavailable; admin jobs left in the outbox");
                tally.broker_down = true;
            }
        }
        Ok(())
    }

    fn is_fresh(&self, entity_type: EntityType, fetched_at: SystemTime) -> bool {
        SystemTime::now()
            .duration_since(fetched_at)
            .unwrap_or_default()
            < self.cache.ttl(entity_type)
    }
}

fn database_status(error: DbError) -> Status {
    error!(%error, "admin call could not use the database");
    Status::unavailable("the cache database is unavailable; retry later")
}

fn too_many(count: usize) -> Result<(), Status> {
    if count > MAX_ITEMS {
        return Err(Status::invalid_argument(format!(
            "{count} items; at most {MAX_ITEMS} per call"
        )));
    }
    Ok(())
}

fn parse_type(raw: &str) -> Result<EntityType, String> {
    raw.parse::<EntityType>().map_err(|e| e.to_string())
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    #[tracing::instrument(skip_all)]
    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let s = status::collect(&self.pool, &self.amqp).await.map_err(|e| {
            error!(error = %e, "could not read the fleet status");
            Status::unavailable(format!("status unavailable: {e}"))
        })?;
        Ok(Response::new(pb::GetStatusResponse {
            lanes: s
                .lanes
                .iter()
                .map(|(lane, ready)| pb::LaneDepth {
                    lane: lane.as_str().to_owned(),
                    ready: *ready,
                })
                .collect(),
            dead_letters: s.dead_letters,
            workers_alive: s.workers_alive,
            done_last_minute: s.done_last_minute,
            failed_last_minute: s.failed_last_minute,
            upstream_requests_per_second: s.upstream_rate(),
        }))
    }

    #[tracing::instrument(skip_all, fields(count = request.get_ref().mbids.len()))]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let request = request.into_inner();
        too_many(request.mbids.len())?;
        let entity_type = parse_type(&request.entity_type).map_err(Status::invalid_argument)?;
        let lane = match pb::AdminLane::try_from(request.lane) {
            Ok(pb::AdminLane::Unspecified | pb::AdminLane::Refresh) => Lane::Refresh,
            Ok(pb::AdminLane::Backfill) => Lane::Backfill,
            Err(_) => return Err(Status::invalid_argument("unknown lane")),
        };
        let mut tally = Tally::default();
        for (index, raw) in request.mbids.iter().enumerate() {
            match Mbid::parse(raw) {
                Ok(mbid) => {
                    let job = FetchJob::new(entity_type, mbid).forced();
                    self.queue(job, lane, &mut tally).await?;
                }
                Err(e) => tally.reject(index, e.to_string()),
            }
        }
        info!(
            %entity_type, %lane, published = tally.published, skipped = tally.skipped,
            rejected = tally.rejected.len(), "refresh queued"
        );
        Ok(Response::new(pb::RefreshResponse {
            published: tally.published,
            skipped: tally.skipped,
            rejected: tally.rejected,
        }))
    }

    #[tracing::instrument(skip_all, fields(count = request.get_ref().items.len()))]
    async fn backfill(
        &self,
        request: Request<pb::BackfillRequest>,
    ) -> Result<Response<pb::BackfillResponse>, Status> {
        let request = request.into_inner();
        too_many(request.items.len())?;
        let mut tally = Tally::default();
        for (index, item) in request.items.iter().enumerate() {
            let parsed = parse_type(&item.entity_type).and_then(|t| {
                let mbid = Mbid::parse(&item.mbid).map_err(|e| e.to_string())?;
                let depth = u8::try_from(item.depth)
                    .ok()
                    .filter(|d| *d <= MAX_DEPTH)
                    .ok_or_else(|| {
                        format!("depth {} is above the maximum of {MAX_DEPTH}", item.depth)
                    })?;
                Ok((t, mbid, depth))
            });
            let (entity_type, mbid, depth) = match parsed {
                Ok(valid) => valid,
                Err(reason) => {
                    tally.reject(index, reason);
                    continue;
                }
            };
            let mut job = FetchJob::new(entity_type, mbid).with_depth(depth);
            if request.force {
                job = job.forced();
            } else if let Some(fetched_at) = self
                .store
                .fetched_at(entity_type, mbid)
                .await
                .map_err(database_status)?
                && self.is_fresh(entity_type, fetched_at)
            {
                tally.skipped += 1;
                continue;
            }
            self.queue(job, Lane::Backfill, &mut tally).await?;
        }
        info!(
            published = tally.published,
            skipped = tally.skipped,
            rejected = tally.rejected.len(),
            "backfill queued"
        );
        Ok(Response::new(pb::BackfillResponse {
            published: tally.published,
            skipped: tally.skipped,
            rejected: tally.rejected,
        }))
    }
}
