//! The fleet's status, for operators: queue depths per lane, workers alive,
//! jobs done and failed and upstream requests in the last minute.
//!
//! Workers report through PostgreSQL: a heartbeat row while they run and
//! activity counted in 10-second buckets. Queue depths come from RabbitMQ
//! (a passive declare of each queue; the retry queues are summed). Both
//! `ingest-worker status` and the admin gRPC method read it through
//! [`collect`].

use std::time::Duration;

use deadpool_postgres::Pool;
use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use serde::Serialize;

use crate::amqp::{self, AmqpError, Topology};
use crate::config::AmqpConfig;
use crate::db::DbError;
use crate::jobs::Lane;

/// A worker counts as alive when its heartbeat is younger than this.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(15);
/// How often a worker refreshes its heartbeat and flushes its counters.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Broker(#[from] AmqpError),
}

impl From<deadpool_postgres::PoolError> for StatusError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StatusError::Database(e.into())
    }
}

impl From<tokio_postgres::Error> for StatusError {
    fn from(e: tokio_postgres::Error) -> Self {
        StatusError::Database(e.into())
    }
}

impl From<lapin::Error> for StatusError {
    fn from(e: lapin::Error) -> Self {
        StatusError::Broker(e.into())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetStatus {
    /// Ready jobs per lane, highest priority first.
    pub lanes: Vec<(Lane, u32)>,
    /// Jobs waiting out a retry delay, all lanes and tiers together.
    pub retrying: u32,
    pub dead_letters: u32,
    pub workers_alive: u32,
    pub done_last_minute: i64,
    pub failed_last_minute: i64,
    pub upstream_requests_last_minute: i64,
}

impl FleetStatus {
    /// Upstream requests per second over the last minute.
    pub fn upstream_rate(&self) -> f64 {
        self.upstream_requests_last_minute as f64 / 60.0
    }
}

impl std::fmt::Display for FleetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "queue depth (ready jobs)")?;
        for (lane, depth) in &self.lanes {
            writeln!(f, "  {:<12} {depth}", lane.as_str())?;
        }
        writeln!(f, "  {:<12} {}", "retrying", self.retrying)?;
        writeln!(f, "  {:<12} {}", "dead letters", self.dead_letters)?;
        writeln!(f, "workers alive           {}", self.workers_alive)?;
        writeln!(f, "jobs done, last minute  {}", self.done_last_minute)?;
        writeln!(f, "jobs failed, last min.  {}", self.failed_last_minute)?;
        write!(
            f,
            "upstream rate           {:.2} requests/s",
            self.upstream_rate()
        )
    }
}

/// Reads the status from the database and the broker.
pub async fn collect(pool: &Pool, amqp_config: &AmqpConfig) -> Result<FleetStatus, StatusError> {
    let client = pool.get().await?;
    let workers = client
        .query_one(
            "SELECT count(*) FROM worker_heartbeat \
             WHERE last_seen > now() - make_interval(secs => $1)",
            &[&ALIVE_WITHIN.as_secs_f64()],
        )
        .await?;
    let activity = client
        .query_one(
            "SELECT coalesce(sum(done), 0)::bigint, coalesce(sum(failed), 0)::bigint, \
               coalesce(sum(requests), 0)::bigint \
             FROM worker_activity WHERE bucket > now() - interval '60 seconds'",
            &[],
        )
        .await?;
    let topology = Topology::from_config(amqp_config);
    let (connection, _) = amqp::connect_any(&amqp_config.endpoints(), 0).await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let q = channel
            .queue_declare(
                topology.lane_queue(lane).as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await?;
        lanes.push((lane, q.message_count()));
    }
    let mut retrying = 0u32;
    for queue in topology.retry_queues() {
        let q = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await?;
        retrying = retrying.saturating_add(q.message_count());
    }
    let dlq = channel
        .queue_declare(
            topology.dead_letter_queue.as_str().into(),
            passive,
            FieldTable::default(),
        )
        .await?;
    let _ = connection
        .close(200, ShortString::from("status read"))
        .await;
    Ok(FleetStatus {
        lanes,
        retrying,
        dead_letters: dlq.message_count(),
        workers_alive: u32::try_from(workers.get::<_, i64>(0)).unwrap_or(u32::MAX),
        done_last_minute: activity.get(0),
        failed_last_minute: activity.get(1),
        upstream_requests_last_minute: activity.get(2),
    })
}

/// Counts since the last flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub done: i32,
    pub failed: i32,
    pub requests: i32,
}

/// Refreshes the worker's heartbeat and adds `activity` to the current bucket.
pub async fn heartbeat(
    pool: &Pool,
    worker_id: &str,
    hostname: &str,
    activity: Activity,
) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "INSERT INTO worker_heartbeat (worker_id, hostname) VALUES ($1, $2) \
             ON CONFLICT (worker_id) DO UPDATE SET last_seen = now()",
            &[&worker_id, &hostname],
        )
        .await?;
    if activity != Activity::default() {
        client
            .execute(
                "INSERT INTO worker_activity (worker_id, bucket, done, failed, requests) \
                 VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / 10) * 10), $2, $3, $4) \
                 ON CONFLICT (worker_id, bucket) DO UPDATE SET \
                   done = worker_activity.done + EXCLUDED.done, \
                   failed = worker_activity.failed + EXCLUDED.failed, \
                   requests = worker_activity.requests + EXCLUDED.requests",
                &[
                    &worker_id,
                    &activity.done,
                    &activity.failed,
                    &activity.requests,
                ],
            )
            .await?;
    }
    client
        .execute(
            "DELETE FROM worker_activity WHERE bucket < now() - interval '10 minutes'",
            &[],
        )
        .await?;
    Ok(())
}

/// Removes the worker's heartbeat when it stops (its activity stays).
pub async fn sign_off(pool: &Pool, worker_id: &str) -> Result<(), DbError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM worker_heartbeat WHERE worker_id = $1",
            &[&worker_id],
        )
        .await?;
    Ok(())
}
