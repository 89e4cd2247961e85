//! The outbox relay: publishes the jobs that were staged in `job_outbox`
//! but could not be handed to the broker — it was down or slow, or the
//! process that staged them died before publishing.
//!
//! Every query-api and every worker runs one. Each round locks the due rows (`SKIP LOCKED`,
//! so replicas never publish the same row at once), publishes them in order
//! and deletes each once the broker confirms it, all in one transaction: a
//! crash mid-round leaves the rest for the next round. The relay polls
//! (a cheap indexed query on a table that is empty in normal operation) and
//! backs off while the broker or the database is unavailable.

use std::sync::Arc;
use std::time::Duration;

use crate::amqp::{AmqpError, JobPublisher};
use crate::db::{DbError, outbox};
use crate::prometheus::names;
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the relay looks for due jobs while all is well.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Jobs per round (and per transaction).
const BATCH: i64 = 200;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Rows younger than this are left to the process that staged them, which
/// may be publishing them right now: it gives up after one publish timeout,
/// counted from after its commit.
fn grace(publish_timeout: Duration) -> Duration {
    publish_timeout * 2 + Duration::from_secs(1)
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Broker(#[from] AmqpError),
}

impl From<tokio_postgres::Error> for RelayError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Database(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for RelayError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Database(e.into())
    }
}

/// Relays until `stop` is cancelled.
pub async fn run(
    pool: Pool,
    publisher: Arc<JobPublisher>,
    publish_timeout: Duration,
    stop: CancellationToken,
) {
    let mut wait = POLL_EVERY;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match relay_once(&pool, &publisher, publish_timeout).await {
            Ok(0) => wait = POLL_EVERY,
            Ok(published) => {
                info!(published, "relayed jobs from the outbox");
                wait = POLL_EVERY;
            }
            Err(error) => {
                wait = (wait * 2).min(MAX_BACKOFF);
                warn!(%error, retry_in_ms = wait.as_millis() as u64, "outbox relay round failed");
            }
        }
    }
}

/// One round: publishes what is due; returns how many jobs were published.
async fn relay_once(
    pool: &Pool,
    publisher: &JobPublisher,
    publish_timeout: Duration,
) -> Result<usize, RelayError> {
    let mut client = pool.get().await?;
    let pending = outbox::pending(&client).await?;
    metrics::gauge!(names::OUTBOX_PENDING).set(pending as f64);
    if pending == 0 {
        return Ok(0);
    }
    let tx = client.transaction().await?;
    let due = outbox::take_due(&tx, grace(publish_timeout), BATCH).await?;
    let mut published = 0;
    for staged in due {
        let job_id = staged.job.job_id();
        let result = match tokio::time::timeout(
            publish_timeout,
            publisher.publish(&staged.job, staged.lane),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(AmqpError::Timeout(publish_timeout)),
        };
        match result {
            Ok(()) => {
                outbox::remove(&tx, &[job_id]).await?;
                published += 1;
            }
            Err(error) => {
                // Keep what was published so far; the rest waits for the broker.
                outbox::record_failure(&tx, job_id, &error.to_string()).await?;
                tx.commit().await?;
                return Err(error.into());
            }
        }
    }
    tx.commit().await?;
    Ok(published)
}
