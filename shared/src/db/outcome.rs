//! The negative cache, merged-MBID redirects, fills that failed for good,
//! releasing fetch-request
//! claims (they are taken in `super::outbox`) and the fill notification:
//! everything about an MBID that is not the entity.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use super::DbError;
use crate::mbid::{EntityType, Mbid};
use crate::notify::{self, Filled};

/// What MusicBrainz answered for an MBID that is not an entity of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    NotFound {
        recorded_at: SystemTime,
    },
    /// The MBID was merged into `to`.
    Redirect {
        to: Mbid,
        recorded_at: SystemTime,
    },
    /// Its fill failed for good: MusicBrainz's answer could not be read.
    Failed {
        recorded_at: SystemTime,
    },
}

pub async fn find(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<Option<Outcome>, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT outcome, redirect_to, recorded_at FROM lookup_outcome \
             WHERE entity_type = $1 AND mbid = $2",
        )
        .await?;
    let Some(row) = client
        .query_opt(&stmt, &[&entity_type.as_str(), &mbid.as_uuid()])
        .await?
    else {
        return Ok(None);
    };
    let recorded_at: SystemTime = row.get(2);
    match row.get::<_, &str>(0) {
        "not_found" => Ok(Some(Outcome::NotFound { recorded_at })),
        "failed" => Ok(Some(Outcome::Failed { recorded_at })),
        "redirect" => {
            let to: uuid::Uuid = row.get(1);
            Ok(Some(Outcome::Redirect {
                to: Mbid::from_uuid(to),
                recorded_at,
            }))
        }
        other => Err(DbError::Inconsistent(format!(
            "lookup_outcome.outcome = {other:?}"
        ))),
    }
}

pub async fn record_not_found(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<(), DbError> {
    upsert(client, entity_type, mbid, "not_found", None).await
}

pub async fn record_redirect(
    client: &impl GenericClient,
    entity_type: EntityType,
    from: Mbid,
    to: Mbid,
) -> Result<(), DbError> {
    upsert(client, entity_type, from, "redirect", Some(to.as_uuid())).await
}

/// Remembers that the fill of an MBID failed for good, with the reason for
/// operators. A 404 or redirect already known for it is kept: a failed
/// refresh does not unlearn what MusicBrainz said before.
pub async fn record_failed(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
    reason: &str,
) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO lookup_outcome (entity_type, mbid, outcome, reason, recorded_at) \
             VALUES ($1, $2, 'failed', $3, now()) \
             ON CONFLICT (entity_type, mbid) DO UPDATE SET \
               reason = EXCLUDED.reason, recorded_at = EXCLUDED.recorded_at \
             WHERE lookup_outcome.outcome = 'failed'",
        )
        .await?;
    client
        .execute(&stmt, &[&entity_type.as_str(), &mbid.as_uuid(), &reason])
        .await?;
    Ok(())
}

async fn upsert(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
    outcome: &str,
    redirect_to: Option<uuid::Uuid>,
) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO lookup_outcome (entity_type, mbid, outcome, redirect_to, recorded_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (entity_type, mbid) DO UPDATE SET \
               outcome = EXCLUDED.outcome, redirect_to = EXCLUDED.redirect_to, \
               reason = NULL, recorded_at = EXCLUDED.recorded_at",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &entity_type.as_str(),
                &mbid.as_uuid(),
                &outcome,
                &redirect_to,
            ],
        )
        .await?;
    Ok(())
}

/// Drops a remembered 404, redirect or failure for an MBID that now is an
/// entity.
pub async fn forget(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached("DELETE FROM lookup_outcome WHERE entity_type = $1 AND mbid = $2")
        .await?;
    client
        .execute(&stmt, &[&entity_type.as_str(), &mbid.as_uuid()])
        .await?;
    Ok(())
}

/// Fetches asked for within `reask_after` and not done yet, every kind
/// together: roughly the upstream requests ahead of a new one.
pub async fn pending_fetches(
    client: &impl GenericClient,
    reask_after: std::time::Duration,
) -> Result<i64, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT count(*) FROM fetch_request \
             WHERE requested_at > now() - make_interval(secs => $1)",
        )
        .await?;
    Ok(client
        .query_one(&stmt, &[&reask_after.as_secs_f64()])
        .await?
        .get(0))
}

/// The ledger key of ws/2 document claims (their MBID column holds the
/// document's id, `jobs::document_id`).
pub const DOCUMENT_CLAIM: &str = "ws2";

/// Forgets the claim `(key, mbid)`: an entity type, a list key or
/// [`DOCUMENT_CLAIM`], and its id.
pub async fn release_claim(
    client: &impl GenericClient,
    key: &str,
    mbid: Mbid,
) -> Result<(), DbError> {
    let stmt = client
        .prepare_cached("DELETE FROM fetch_request WHERE entity_type = $1 AND mbid = $2")
        .await?;
    client.execute(&stmt, &[&key, &mbid.as_uuid()]).await?;
    Ok(())
}

pub async fn release_fetch(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<(), DbError> {
    release_claim(client, entity_type.as_str(), mbid).await
}

/// Queues the fill notification; PostgreSQL sends it when the surrounding
/// transaction commits, and drops it if it rolls back.
pub async fn notify_filled(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<(), DbError> {
    notify(client, Filled::Entity(entity_type, mbid)).await
}

/// Queues the notifications of many fills in one statement (an import's
/// batch), sent on commit.
pub async fn notify_all(client: &impl GenericClient, filled: &[Filled]) -> Result<(), DbError> {
    if filled.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> = filled.iter().map(Filled::payload).collect();
    let stmt = client
        .prepare_cached("SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p")
        .await?;
    client
        .execute(&stmt, &[&notify::CHANNEL, &payloads])
        .await?;
    Ok(())
}

/// Queues `filled`'s notification, sent on commit.
pub async fn notify(client: &impl GenericClient, filled: Filled) -> Result<(), DbError> {
    let stmt = client.prepare_cached("SELECT pg_notify($1, $2)").await?;
    client
        .execute(&stmt, &[&notify::CHANNEL, &filled.payload()])
        .await?;
    Ok(())
}
