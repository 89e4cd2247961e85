//! The job outbox (`job_outbox`): jobs are written to PostgreSQL in the
//! same transaction as their `fetch_request` claim, before they are
//! published, so a job is never lost between "this MBID needs a fetch" and
//! "the broker has it" — not when the broker is down, not when the process
//! dies in between.
//!
//! The publisher deletes the row once the broker confirms the job; a relay
//! publishes the rows left behind ([`take_due`] locks them with `SKIP
//! LOCKED`, so several query-api replicas share the work without
//! publishing one row twice).

use std::time::Duration;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{DbError, outcome};
use crate::jobs::{FetchJob, Lane};

/// Claims a fetch of `job`'s entity and stages the job, in one transaction.
/// True when the caller should publish it (see [`outcome::claim_fetch`]);
/// false when a fetch is already pending, and nothing was staged.
pub async fn stage(
    client: &mut deadpool_postgres::Client,
    job: &FetchJob,
    lane: Lane,
    reask_after: Duration,
) -> Result<bool, DbError> {
    let tx = client.transaction().await?;
    if !outcome::claim_fetch(&tx, job.entity_type, job.mbid, reask_after).await? {
        return Ok(false);
    }
    let stmt = tx
        .prepare_cached("INSERT INTO job_outbox (job_id, lane, job) VALUES ($1, $2, $3)")
        .await?;
    let body = serde_json::to_value(job).map_err(|e| DbError::Inconsistent(e.to_string()))?;
    tx.execute(&stmt, &[&job.job_id, &lane.as_str(), &body])
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Forgets a job the broker has confirmed.
pub async fn remove(client: &impl GenericClient, job_id: Uuid) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached("DELETE FROM job_outbox WHERE job_id = $1")
        .await?;
    client.execute(&stmt, &[&job_id]).await?;
    Ok(())
}

/// A staged job the relay should publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub job: FetchJob,
    pub lane: Lane,
}

/// Locks up to `limit` jobs staged more than `older_than` ago (younger ones
/// are most likely being published by the process that staged them), oldest
/// first. Call inside a transaction; delete what was published before
/// committing. A row that cannot be decoded is logged and dropped: it could
/// only come from a hand edit, and would otherwise block the relay forever.
pub async fn take_due(
    tx: &impl GenericClient,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<Staged>, DbError> {
    let stmt = tx
        .prepare_cached(
            "SELECT job_id, lane, job FROM job_outbox \
             WHERE created_at < now() - make_interval(secs => $1) \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    let rows = tx
        .query(&stmt, &[&older_than.as_secs_f64(), &limit])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let job_id: Uuid = row.get("job_id");
        let lane = row.get::<_, &str>("lane").parse::<Lane>();
        let job = serde_json::from_value::<FetchJob>(row.get("job"));
        match (lane, job) {
            (Ok(lane), Ok(job)) => out.push(Staged { job, lane }),
            _ => {
                tracing::error!(%job_id, "dropping undecodable outbox row");
                remove(tx, job_id).await?;
            }
        }
    }
    Ok(out)
}

/// Records a failed relay attempt, for operators reading the table.
pub async fn record_failure(
    client: &impl GenericClient,
    job_id: Uuid,
    error: &str,
) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached(
            "UPDATE job_outbox SET attempts = attempts + 1, last_error = $2 WHERE job_id = $1",
        )
        .await?;
    client.execute(&stmt, &[&job_id, &error]).await?;
    Ok(())
}

/// Jobs staged and not yet confirmed by the broker.
pub async fn pending(client: &impl GenericClient) -> Result<i64, DbError> {
    let stmt = client
        .prepare_cached("SELECT count(*) FROM job_outbox")
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.get(0))
}
