//! Filling the `details` columns (migration V10) of rows stored before
//! them, from the document each row keeps in `raw`: the database side of
//! `ingest-worker rederive`, which parses the documents.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::DbError;
use super::browse::table;
use super::details::{EntityDetails, MediumDetails, track_relations};
use crate::domain::{Entity, Relation, Track};
use crate::mbid::{EntityType, Mbid};

/// Rows of `entity_type` stored before V10: fetched, with their document in
/// `raw`, but no `details`. At most `limit`, with the document's text.
pub async fn pending(
    client: &impl GenericClient,
    entity_type: EntityType,
    limit: i64,
) -> Result<Vec<(Mbid, String)>, DbError> {
    let (table, _, _) = table(entity_type);
    let rows = client
        .query(
            &format!(
                "SELECT mbid, raw::text AS raw FROM {table} \
                 WHERE details IS NULL AND raw IS NOT NULL AND fetched_at IS NOT NULL \
                 ORDER BY mbid LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (Mbid::from_uuid(r.get("mbid")), r.get("raw")))
        .collect())
}

/// Writes the details of `entity`, derived from the document of the row
/// `mbid` already holds, leaving every other column (and `fetched_at`, so
/// freshness) as it is.
pub async fn write(
    client: &impl GenericClient,
    mbid: Mbid,
    entity: &Entity,
) -> Result<(), DbError> {
    let (table, _, _) = table(entity.entity_type());
    let id = mbid.as_uuid();
    client
        .execute(
            &format!("UPDATE {table} SET details = $2 WHERE mbid = $1"),
            &[&id, &EntityDetails::of(entity)],
        )
        .await?;
    let Entity::Release(release) = entity else {
        return Ok(());
    };
    for medium in &release.media {
        client
            .execute(
                "UPDATE medium SET details = $3 WHERE release_mbid = $1 AND position = $2",
                &[&id, &medium.position, &MediumDetails::of(medium)],
            )
            .await?;
    }
    let tracks: Vec<&Track> = release.media.iter().flat_map(|m| &m.tracks).collect();
    let ids: Vec<Uuid> = tracks.iter().map(|t| t.mbid.as_uuid()).collect();
    let relations: Vec<Option<Json<&[Relation]>>> =
        tracks.iter().map(|t| track_relations(t)).collect();
    client
        .execute(
            "UPDATE track SET recording_relations = u.rr \
             FROM unnest($2::uuid[], $3::jsonb[]) AS u(m, rr) \
             WHERE track.mbid = u.m AND track.release_mbid = $1",
            &[&id, &ids, &relations],
        )
        .await?;
    Ok(())
}

/// Marks a row whose stored document no longer reads as its entity, so it
/// is not tried again; its next refresh replaces it.
pub async fn skip(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<(), DbError> {
    let (table, _, _) = table(entity_type);
    client
        .execute(
            &format!("UPDATE {table} SET details = '{{}}' WHERE mbid = $1"),
            &[&mbid.as_uuid()],
        )
        .await?;
    Ok(())
}
