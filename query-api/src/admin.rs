//! `musicmeta.v1.AdminService`: the fleet status for operators, the same
//! view as `ingest-worker status`.

use deadpool_postgres::Pool;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_server::AdminService;
use musicmeta_shared::config::AmqpConfig;
use musicmeta_shared::status;
use tonic::{Request, Response, Status};
use tracing::error;

#[derive(Debug, Clone)]
pub struct AdminApi {
    pool: Pool,
    amqp: AmqpConfig,
}

impl AdminApi {
    pub fn new(pool: Pool, amqp: AmqpConfig) -> Self {
        Self { pool, amqp }
    }
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
}
