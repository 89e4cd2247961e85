//! The outbox relay: publishes the jobs that lookups staged in `job_outbox`
//! but could not hand to the broker — it was down or slow, or the process
//! that staged them died before publishing.
//!
//! Every query-api runs one. Each round locks the due rows (`SKIP LOCKED`,
//! so replicas never publish the same row at once), publishes them in order
//! and deletes each once the broker confirms it, all in one transaction: a
//! crash mid-round leaves the rest for the next round. The relay polls
//! (a cheap indexed query on a table that is empty in normal operation) and
//! backs off while the broker or the database is unavailable.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use musicmeta_shared::amqp::{AmqpError, JobPublisher};
use musicmeta_shared::db::{DbError, outbox};
use musicmeta_shared::prometheus::names;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the relay looks for due jobs while all is well.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Rows younger than this are left to the lookup that staged them, which
/// is publishing them right now (its publish gives up after 1 s).
const GRACE: Duration = Duration::from_secs(2);
/// Jobs per round (and per transaction).
const BATCH: i64 = 200;
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
pub async fn run(pool: Pool, publisher: Arc<JobPublisher>, stop: CancellationToken) {
    let mut wait = POLL_EVERY;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        match relay_once(&pool, &publisher).await {
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
async fn relay_once(pool: &Pool, publisher: &JobPublisher) -> Result<usize, RelayError> {
    let mut client = pool.get().await?;
    let pending = outbox::pending(&client).await?;
    metrics::gauge!(names::OUTBOX_PENDING).set(pending as f64);
    if pending == 0 {
        return Ok(0);
    }
    let tx = client.transaction().await?;
    let due = outbox::take_due(&tx, GRACE, BATCH).await?;
    let mut published = 0;
    for staged in due {
        let job_id = staged.job.job_id;
        let result = match tokio::time::timeout(
            PUBLISH_TIMEOUT,
            publisher.publish(&staged.job, staged.lane),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(AmqpError::Timeout(PUBLISH_TIMEOUT)),
        };
        match result {
            Ok(()) => {
                outbox::remove(&tx, job_id).await?;
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
