//! The job outbox (`job_outbox`): a job is written to PostgreSQL in the
//! same transaction as the `fetch_request` claim that asks for it, before it
//! is published, so a job is never lost between "this needs a fetch" and
//! "the broker has it" — not when the broker is down, not when the process
//! dies in between.
//!
//! The publisher deletes the row once the broker confirms the job; a relay
//! publishes the rows left behind ([`take_due`] locks them with `SKIP
//! LOCKED`, so several processes share the work without publishing one row
//! twice). The rules for using this live in `crate::fetch_requests`.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::DbError;
use crate::jobs::{Job, Lane};
use crate::mbid::Mbid;

/// One job to stage, and the `fetch_request` row that claims it: an entity
/// type (`release`), a list key (`artist/recordings`) or `ws2` for a
/// document, and an MBID (for a document, a UUID derived from its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staging {
    pub claim: (String, Mbid),
    pub job: Job,
    pub lane: Lane,
}

/// Claims each staging's ledger row and stages the jobs whose claim was
/// granted, in one transaction. A claim is granted when no fetch is pending
/// for its row, or the pending one is older than `reask_after` (its job may
/// have been lost); of two stagings with the same claim only the first can
/// be granted. Returns, per staging, whether it was staged.
pub async fn stage(
    client: &mut deadpool_postgres::Client,
    stagings: &[Staging],
    reask_after: Duration,
) -> Result<Vec<bool>, DbError> {
    let mut seen = HashSet::new();
    let first: Vec<bool> = stagings
        .iter()
        .map(|s| seen.insert(s.claim.clone()))
        .collect();
    let (keys, ids): (Vec<&str>, Vec<Uuid>) = stagings
        .iter()
        .zip(&first)
        .filter(|(_, first)| **first)
        .map(|(s, _)| (s.claim.0.as_str(), s.claim.1.as_uuid()))
        .unzip();
    let tx = client.transaction().await?;
    let claim = tx
        .prepare_cached(
            "INSERT INTO fetch_request (entity_type, mbid, requested_at) \
             SELECT k, m, now() FROM unnest($1::text[], $2::uuid[]) AS t(k, m) \
             ON CONFLICT (entity_type, mbid) DO UPDATE SET requested_at = now() \
             WHERE fetch_request.requested_at < now() - make_interval(secs => $3) \
             RETURNING entity_type, mbid",
        )
        .await?;
    let granted: HashSet<(String, Uuid)> = tx
        .query(&claim, &[&keys, &ids, &reask_after.as_secs_f64()])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let staged: Vec<bool> = stagings
        .iter()
        .zip(first)
        .map(|(s, first)| first && granted.contains(&(s.claim.0.clone(), s.claim.1.as_uuid())))
        .collect();
    let mut job_ids = Vec::new();
    let mut lanes = Vec::new();
    let mut bodies = Vec::new();
    for (s, _) in stagings.iter().zip(&staged).filter(|(_, staged)| **staged) {
        job_ids.push(s.job.job_id());
        lanes.push(s.lane.as_str());
        bodies
            .push(serde_json::to_value(&s.job).map_err(|e| DbError::Inconsistent(e.to_string()))?);
    }
    if !job_ids.is_empty() {
        let insert = tx
            .prepare_cached(
                "INSERT INTO job_outbox (job_id, lane, job) \
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])",
            )
            .await?;
        tx.execute(&insert, &[&job_ids, &lanes, &bodies]).await?;
    }
    tx.commit().await?;
    Ok(staged)
}

/// Forgets jobs the broker has confirmed.
pub async fn remove(client: &impl GenericClient, job_ids: &[Uuid]) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached("DELETE FROM job_outbox WHERE job_id = ANY($1)")
        .await?;
    client.execute(&stmt, &[&job_ids]).await?;
    Ok(())
}

/// A staged job the relay should publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub job: Job,
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
        let job = row
            .get::<_, Option<serde_json::Value>>("job")
            .and_then(|v| Job::decode(v.to_string().as_bytes()).ok());
        match (lane, job) {
            (Ok(lane), Some(job)) => out.push(Staged { job, lane }),
            _ => {
                tracing::error!(%job_id, "dropping undecodable outbox row");
                remove(tx, &[job_id]).await?;
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
