//! `musicmeta.v1.AdminService`: the fleet status for operators (the same
//! view as `ingest-worker status`) and fetches asked for in bulk: `Refresh`
//! (forced jobs) and `Backfill` (the backfill lane, like `ingest-worker
//! backfill`). Every call is behind the admin bearer token
//! ([`crate::auth`]); dead-letter requeue stays a CLI command because it
//! needs the broker's credentials.
//!
//! Jobs go through `FetchRequests`, as a lookup's miss does: an entity with
//! a fetch pending is skipped, and a job the broker does not confirm stays
//! in the outbox for the relay rather than being lost.

use deadpool_postgres::Pool;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_server::AdminService;
use musicmeta_shared::config::{AmqpConfig, CacheConfig};
use musicmeta_shared::db::replicas::Replicas;
use musicmeta_shared::db::{PgStore, redirects};
use musicmeta_shared::fetch_requests::{FetchRequests, Request, Requested};
use musicmeta_shared::jobs::{FetchJob, Lane, MAX_DEPTH};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::status;
use tonic::{Request as RpcRequest, Response, Status};
use tracing::info;

use crate::error::ApiError;

/// Most entities one Refresh or Backfill call may name; bigger lists are
/// split by the caller, so one call never holds a connection for long.
pub const MAX_ITEMS: usize = 1000;

#[derive(Debug, Clone)]
pub struct AdminApi {
    pool: Pool,
    /// Reported by GetStatus.
    replicas: Replicas,
    amqp: AmqpConfig,
    store: PgStore,
    requests: FetchRequests,
    cache: CacheConfig,
}

impl AdminApi {
    pub fn new(
        pool: Pool,
        replicas: Replicas,
        amqp: AmqpConfig,
        requests: FetchRequests,
        cache: CacheConfig,
    ) -> Self {
        Self {
            // Deciding what to queue reads the primary: what a replica has
            // not replayed yet must not be queued again.
            store: PgStore::new(pool.clone()),
            pool,
            replicas,
            amqp,
            requests,
            cache,
        }
    }
}

/// What one bulk call did.
#[derive(Debug, Default)]
struct Tally {
    /// Asked for: confirmed by the broker, or staged for the relay.
    published: u32,
    skipped: u32,
    rejected: Vec<pb::Rejection>,
}

impl Tally {
    fn reject(&mut self, index: usize, reason: String) {
        self.rejected.push(pb::Rejection {
            index: index as u32,
            reason,
        });
    }

    /// Asks for `requests` and counts what became of them.
    async fn send(
        &mut self,
        requests: &FetchRequests,
        batch: Vec<Request>,
    ) -> Result<(), ApiError> {
        for outcome in requests.request_all(batch).await? {
            match outcome {
                Requested::Queued | Requested::Staged => self.published += 1,
                Requested::AlreadyPending => self.skipped += 1,
            }
        }
        Ok(())
    }
}

fn too_many(count: usize) -> Result<(), ApiError> {
    if count > MAX_ITEMS {
        return Err(ApiError::InvalidArgument(format!(
            "{count} items; at most {MAX_ITEMS} per call"
        )));
    }
    Ok(())
}

fn parse_type(raw: &str) -> Result<EntityType, String> {
    raw.parse::<EntityType>().map_err(|e| e.to_string())
}

impl AdminApi {
    async fn status(&self) -> Result<pb::GetStatusResponse, ApiError> {
        let s = status::collect(&self.pool, &self.amqp).await?;
        Ok(pb::GetStatusResponse {
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
            retrying: s.retrying,
            replicas: self
                .replicas
                .status()
                .into_iter()
                .map(|r| pb::ReplicaStatus {
                    name: r.name,
                    state: r.state.as_str().to_owned(),
                    lag_seconds: r.lag.as_secs_f64(),
                    replayed_lsn: r.replayed,
                })
                .collect(),
        })
    }

    async fn refresh(&self, request: pb::RefreshRequest) -> Result<pb::RefreshResponse, ApiError> {
        too_many(request.mbids.len())?;
        let entity_type = parse_type(&request.entity_type).map_err(ApiError::InvalidArgument)?;
        let lane = match pb::AdminLane::try_from(request.lane) {
            Ok(pb::AdminLane::Unspecified | pb::AdminLane::Refresh) => Lane::Refresh,
            Ok(pb::AdminLane::Backfill) => Lane::Backfill,
            Err(_) => return Err(ApiError::InvalidArgument("unknown lane".into())),
        };
        let mut tally = Tally::default();
        let mut batch = Vec::new();
        for (index, raw) in request.mbids.iter().enumerate() {
            match Mbid::parse(raw) {
                Ok(mbid) => {
                    let job = FetchJob::new(entity_type, mbid).forced();
                    batch.push(Request::fetch(job, lane));
                }
                Err(e) => tally.reject(index, e.to_string()),
            }
        }
        tally.send(&self.requests, batch).await?;
        info!(
            %entity_type, %lane, published = tally.published, skipped = tally.skipped,
            rejected = tally.rejected.len(), "refresh queued"
        );
        Ok(pb::RefreshResponse {
            published: tally.published,
            skipped: tally.skipped,
            rejected: tally.rejected,
        })
    }

    async fn backfill(
        &self,
        request: pb::BackfillRequest,
    ) -> Result<pb::BackfillResponse, ApiError> {
        too_many(request.items.len())?;
        let mut tally = Tally::default();
        let mut batch = Vec::new();
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
            } else if redirects::is_fresh(&self.store, &self.cache, entity_type, mbid).await? {
                tally.skipped += 1;
                continue;
            }
            batch.push(Request::fetch(job, Lane::Backfill));
        }
        tally.send(&self.requests, batch).await?;
        info!(
            published = tally.published,
            skipped = tally.skipped,
            rejected = tally.rejected.len(),
            "backfill queued"
        );
        Ok(pb::BackfillResponse {
            published: tally.published,
            skipped: tally.skipped,
            rejected: tally.rejected,
        })
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    #[tracing::instrument(skip_all)]
    async fn get_status(
        &self,
        _request: RpcRequest<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        Ok(Response::new(self.status().await?))
    }

    #[tracing::instrument(skip_all, fields(count = request.get_ref().mbids.len()))]
    async fn refresh(
        &self,
        request: RpcRequest<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Ok(Response::new(self.refresh(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all, fields(count = request.get_ref().items.len()))]
    async fn backfill(
        &self,
        request: RpcRequest<pb::BackfillRequest>,
    ) -> Result<Response<pb::BackfillResponse>, Status> {
        Ok(Response::new(self.backfill(request.into_inner()).await?))
    }
}
