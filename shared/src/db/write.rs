//! Idempotent upserts of fetched entities.
//!
//! Each top-level row is upserted in place; its child rows (aliases, tags,
//! credits, media, tracks, ...) are deleted and written again, so storing
//! the same response twice leaves exactly the same rows. Entities that are
//! only referenced (credited artists, a track's recording, a release's label
//! and release group) are written as stubs (`fetched_at` NULL) and never
//! overwrite a row that was fetched in full.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::DbError;
use crate::domain::{
    Annotations, Artist, ArtistCredit, ArtistRef, Entity, Label, LabelRef, Recording, RecordingRef,
    Release, ReleaseGroup, ReleaseGroupRef, ReleaseRef,
};
use crate::mbid::{EntityType, Mbid};

/// Child-row owner kinds in `artist_credit` beyond the five entity types.
const TRACK: &str = "track";

pub async fn upsert_entity(
    tx: &impl GenericClient,
    entity: &Entity,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    match entity {
        Entity::Artist(a) => upsert_artist(tx, a, raw).await?,
        Entity::Label(l) => upsert_label(tx, l, raw).await?,
        Entity::Recording(r) => upsert_recording(tx, r, raw).await?,
        Entity::ReleaseGroup(g) => upsert_release_group(tx, g, raw).await?,
        Entity::Release(r) => upsert_release(tx, r, raw).await?,
    }
    replace_annotations(tx, entity.entity_type(), entity.mbid(), annotations(entity)).await
}

fn annotations(entity: &Entity) -> &Annotations {
    match entity {
        Entity::Artist(e) => &e.annotations,
        Entity::Label(e) => &e.annotations,
        Entity::Recording(e) => &e.annotations,
        Entity::ReleaseGroup(e) => &e.annotations,
        Entity::Release(e) => &e.annotations,
    }
}

async fn upsert_artist(
    tx: &impl GenericClient,
    a: &Artist,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO artist (mbid, name, sort_name, disambiguation, artist_type, gender, \
               country, area, begin_date, end_date, ended, raw, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now()) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               artist_type = EXCLUDED.artist_type, gender = EXCLUDED.gender, \
               country = EXCLUDED.country, area = EXCLUDED.area, \
               begin_date = EXCLUDED.begin_date, end_date = EXCLUDED.end_date, \
               ended = EXCLUDED.ended, raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &a.mbid.as_uuid(),
            &a.name,
            &a.sort_name,
            &a.disambiguation,
            &a.artist_type,
            &a.gender,
            &a.country,
            &a.area,
            &a.life_span.begin,
            &a.life_span.end,
            &a.life_span.ended,
            raw,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_label(
    tx: &impl GenericClient,
    l: &Label,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO label (mbid, name, sort_name, disambiguation, label_type, label_code, \
               country, area, begin_date, end_date, ended, raw, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now()) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               label_type = EXCLUDED.label_type, label_code = EXCLUDED.label_code, \
               country = EXCLUDED.country, area = EXCLUDED.area, \
               begin_date = EXCLUDED.begin_date, end_date = EXCLUDED.end_date, \
               ended = EXCLUDED.ended, raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &l.mbid.as_uuid(),
            &l.name,
            &l.sort_name,
            &l.disambiguation,
            &l.label_type,
            &l.label_code,
            &l.country,
            &l.area,
            &l.life_span.begin,
            &l.life_span.end,
            &l.life_span.ended,
            raw,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_recording(
    tx: &impl GenericClient,
    r: &Recording,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO recording (mbid, title, disambiguation, length_ms, video, \
               first_release_date, raw, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now()) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, length_ms = EXCLUDED.length_ms, \
               video = EXCLUDED.video, first_release_date = EXCLUDED.first_release_date, \
               raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &r.mbid.as_uuid(),
            &r.title,
            &r.disambiguation,
            &r.length_ms,
            &r.video,
            &r.first_release_date,
            raw,
        ],
    )
    .await?;
    replace_isrcs(tx, r.mbid, &r.isrcs).await?;
    replace_credits(
        tx,
        EntityType::Recording.as_str(),
        r.mbid.as_uuid(),
        &r.artist_credit,
    )
    .await
}

async fn replace_isrcs(
    tx: &impl GenericClient,
    mbid: Mbid,
    isrcs: &[String],
) -> Result<(), DbError> {
    let delete = tx
        .prepare_cached("DELETE FROM recording_isrc WHERE recording_mbid = $1")
        .await?;
    tx.execute(&delete, &[&mbid.as_uuid()]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO recording_isrc (recording_mbid, isrc) SELECT $1, unnest($2::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&insert, &[&mbid.as_uuid(), &isrcs]).await?;
    Ok(())
}

async fn upsert_release_group(
    tx: &impl GenericClient,
    g: &ReleaseGroup,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO release_group (mbid, title, disambiguation, primary_type, \
               secondary_types, first_release_date, raw, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now()) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, primary_type = EXCLUDED.primary_type, \
               secondary_types = EXCLUDED.secondary_types, \
               first_release_date = EXCLUDED.first_release_date, \
               raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &g.mbid.as_uuid(),
            &g.title,
            &g.disambiguation,
            &g.primary_type,
            &g.secondary_types,
            &g.first_release_date,
            raw,
        ],
    )
    .await?;
    replace_credits(
        tx,
        EntityType::ReleaseGroup.as_str(),
        g.mbid.as_uuid(),
        &g.artist_credit,
    )
    .await?;
    for release in &g.releases {
        upsert_release_stub(tx, release, Some(g.mbid)).await?;
    }
    Ok(())
}

async fn upsert_release(
    tx: &impl GenericClient,
    r: &Release,
    raw: &serde_json::Value,
) -> Result<(), DbError> {
    if let Some(group) = &r.release_group {
        upsert_release_group_stub(tx, group).await?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO release (mbid, title, disambiguation, status, packaging, release_date, \
               country, barcode, language, script, release_group_mbid, raw, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now()) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, status = EXCLUDED.status, \
               packaging = EXCLUDED.packaging, release_date = EXCLUDED.release_date, \
               country = EXCLUDED.country, barcode = EXCLUDED.barcode, \
               language = EXCLUDED.language, script = EXCLUDED.script, \
               release_group_mbid = EXCLUDED.release_group_mbid, \
               raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at",
        )
        .await?;
    let group = r.release_group.as_ref().map(|g| g.mbid.as_uuid());
    tx.execute(
        &stmt,
        &[
            &r.mbid.as_uuid(),
            &r.title,
            &r.disambiguation,
            &r.status,
            &r.packaging,
            &r.date,
            &r.country,
            &r.barcode,
            &r.language,
            &r.script,
            &group,
            raw,
        ],
    )
    .await?;
    replace_credits(
        tx,
        EntityType::Release.as_str(),
        r.mbid.as_uuid(),
        &r.artist_credit,
    )
    .await?;

    let delete_labels = tx
        .prepare_cached("DELETE FROM release_label WHERE release_mbid = $1")
        .await?;
    tx.execute(&delete_labels, &[&r.mbid.as_uuid()]).await?;
    let insert_label = tx
        .prepare_cached(
            "INSERT INTO release_label (release_mbid, position, label_mbid, catalog_number) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for (position, info) in (0i32..).zip(&r.label_info) {
        if let Some(label) = &info.label {
            upsert_label_stub(tx, label).await?;
        }
        let label = info.label.as_ref().map(|l| l.mbid.as_uuid());
        tx.execute(
            &insert_label,
            &[&r.mbid.as_uuid(), &position, &label, &info.catalog_number],
        )
        .await?;
    }

    // Track credits hang off track ids; drop them before the tracks go.
    let delete_track_credits = tx
        .prepare_cached(
            "DELETE FROM artist_credit WHERE entity_type = 'track' AND mbid IN \
               (SELECT mbid FROM track WHERE release_mbid = $1)",
        )
        .await?;
    tx.execute(&delete_track_credits, &[&r.mbid.as_uuid()])
        .await?;
    let delete_media = tx
        .prepare_cached("DELETE FROM medium WHERE release_mbid = $1")
        .await?;
    tx.execute(&delete_media, &[&r.mbid.as_uuid()]).await?;
    let insert_medium = tx
        .prepare_cached(
            "INSERT INTO medium (release_mbid, position, format, title, track_count) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    // A track id met again (MusicBrainz moved it between releases) is taken over.
    let insert_track = tx
        .prepare_cached(
            "INSERT INTO track (mbid, release_mbid, medium_position, position, number, title, \
               length_ms, recording_mbid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (mbid) DO UPDATE SET release_mbid = EXCLUDED.release_mbid, \
               medium_position = EXCLUDED.medium_position, position = EXCLUDED.position, \
               number = EXCLUDED.number, title = EXCLUDED.title, \
               length_ms = EXCLUDED.length_ms, recording_mbid = EXCLUDED.recording_mbid",
        )
        .await?;
    for medium in &r.media {
        tx.execute(
            &insert_medium,
            &[
                &r.mbid.as_uuid(),
                &medium.position,
                &medium.format,
                &medium.title,
                &medium.track_count,
            ],
        )
        .await?;
    }
    // Each track's statements run in order, but the tracks run concurrently:
    // tokio-postgres pipelines them on the one connection, so a 30-track
    // release costs a few round trips instead of some 300. Within one
    // transaction the interleaving is harmless: every write is an upsert or
    // keyed by its own track.
    let insert_track = &insert_track;
    futures::future::try_join_all(r.media.iter().flat_map(|medium| {
        medium.tracks.iter().map(move |track| async move {
            upsert_recording_stub(tx, &track.recording).await?;
            tx.execute(
                insert_track,
                &[
                    &track.mbid.as_uuid(),
                    &r.mbid.as_uuid(),
                    &medium.position,
                    &track.position,
                    &track.number,
                    &track.title,
                    &track.length_ms,
                    &track.recording.mbid.as_uuid(),
                ],
            )
            .await?;
            replace_credits(tx, TRACK, track.mbid.as_uuid(), &track.artist_credit).await
        })
    }))
    .await?;
    Ok(())
}

/// A list MusicBrainz pages through, and which page of it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// An artist's release groups (through their artist credits).
    ReleaseGroups,
    /// A release group's releases, or a label's.
    Releases,
    /// An artist's recordings (through their artist credits).
    Recordings,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::ReleaseGroups => "release-groups",
            Relation::Releases => "releases",
            Relation::Recordings => "recordings",
        }
    }
}

/// Stores one browse page's items as stubs linked to their parent, and
/// records how much of the list has been seen.
pub async fn store_browse_page(
    tx: &impl GenericClient,
    parent: (EntityType, Mbid),
    relation: Relation,
    items: &[Entity],
    seen: u32,
    total: u32,
) -> Result<(), DbError> {
    for item in items {
        match item {
            Entity::ReleaseGroup(g) => {
                let stub = ReleaseGroupRef {
                    mbid: g.mbid,
                    title: g.title.clone(),
                    disambiguation: g.disambiguation.clone(),
                    primary_type: g.primary_type.clone(),
                    secondary_types: g.secondary_types.clone(),
                    first_release_date: g.first_release_date.clone(),
                    artist_credit: g.artist_credit.clone(),
                };
                upsert_release_group_stub(tx, &stub).await?;
            }
            Entity::Release(r) => {
                let stub = ReleaseRef {
                    mbid: r.mbid,
                    title: r.title.clone(),
                    disambiguation: r.disambiguation.clone(),
                    status: r.status.clone(),
                    date: r.date.clone(),
                    country: r.country.clone(),
                };
                // Only a release group's browse names the group; a label's
                // leaves whatever group the release already had.
                let group = (parent.0 == EntityType::ReleaseGroup).then_some(parent.1);
                if upsert_release_stub(tx, &stub, group).await? {
                    replace_stub_credits(tx, EntityType::Release, r.mbid, &r.artist_credit).await?;
                }
                if parent.0 == EntityType::Label {
                    link_release_label(tx, r.mbid, parent.1).await?;
                }
            }
            Entity::Recording(r) => {
                let still_stub = upsert_browsed_recording_stub(tx, r).await?;
                if still_stub {
                    let credits = if r.artist_credit.is_empty() && parent.0 == EntityType::Artist {
                        // An artist's browse lists only recordings credited to
                        // the artist; a page without credits (asked without
                        // inc=artist-credits) still says that much.
                        parent_credit(tx, parent.1).await?
                    } else {
                        r.artist_credit.clone()
                    };
                    replace_stub_credits(tx, EntityType::Recording, r.mbid, &credits).await?;
                }
            }
            // Browses of other kinds are not crawled.
            _ => {}
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO aggregate_state (entity_type, mbid, relation, complete, item_count, checked_at) \
             VALUES ($1, $2, $3, $4, $5, now()) \
             ON CONFLICT (entity_type, mbid, relation) DO UPDATE SET \
               complete = EXCLUDED.complete, item_count = EXCLUDED.item_count, \
               checked_at = EXCLUDED.checked_at",
        )
        .await?;
    let count = i32::try_from(total).unwrap_or(i32::MAX);
    tx.execute(
        &stmt,
        &[
            &parent.0.as_str(),
            &parent.1.as_uuid(),
            &relation.as_str(),
            &(seen >= total),
            &count,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_artist_stub(tx: &impl GenericClient, a: &ArtistRef) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO artist (mbid, name, sort_name, disambiguation) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation \
             WHERE artist.fetched_at IS NULL",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&a.mbid.as_uuid(), &a.name, &a.sort_name, &a.disambiguation],
    )
    .await?;
    Ok(())
}

async fn upsert_label_stub(tx: &impl GenericClient, l: &LabelRef) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO label (mbid, name, sort_name, disambiguation, label_code) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               label_code = EXCLUDED.label_code \
             WHERE label.fetched_at IS NULL",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &l.mbid.as_uuid(),
            &l.name,
            &l.sort_name,
            &l.disambiguation,
            &l.label_code,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_recording_stub(tx: &impl GenericClient, r: &RecordingRef) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO recording (mbid, title, disambiguation, length_ms, video) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, length_ms = EXCLUDED.length_ms, \
               video = EXCLUDED.video \
             WHERE recording.fetched_at IS NULL",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &r.mbid.as_uuid(),
            &r.title,
            &r.disambiguation,
            &r.length_ms,
            &r.video,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_release_group_stub(
    tx: &impl GenericClient,
    g: &ReleaseGroupRef,
) -> Result<(), DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO release_group (mbid, title, disambiguation, primary_type, \
               secondary_types, first_release_date) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, primary_type = EXCLUDED.primary_type, \
               secondary_types = EXCLUDED.secondary_types, \
               first_release_date = EXCLUDED.first_release_date \
             WHERE release_group.fetched_at IS NULL",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &g.mbid.as_uuid(),
            &g.title,
            &g.disambiguation,
            &g.primary_type,
            &g.secondary_types,
            &g.first_release_date,
        ],
    )
    .await?;
    // A stub group's credit is all we know of it; a fetched one keeps its own.
    let fetched = tx
        .prepare_cached("SELECT fetched_at IS NOT NULL FROM release_group WHERE mbid = $1")
        .await?;
    let is_fetched: bool = tx.query_one(&fetched, &[&g.mbid.as_uuid()]).await?.get(0);
    if !is_fetched && !g.artist_credit.is_empty() {
        replace_credits(
            tx,
            EntityType::ReleaseGroup.as_str(),
            g.mbid.as_uuid(),
            &g.artist_credit,
        )
        .await?;
    }
    Ok(())
}

/// Upserts a release stub; true when the row is (still) a stub. `group`
/// `None` keeps the group the row already names.
async fn upsert_release_stub(
    tx: &impl GenericClient,
    r: &ReleaseRef,
    group: Option<Mbid>,
) -> Result<bool, DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO release (mbid, title, disambiguation, status, release_date, country, \
               release_group_mbid) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, status = EXCLUDED.status, \
               release_date = EXCLUDED.release_date, country = EXCLUDED.country, \
               release_group_mbid = coalesce(EXCLUDED.release_group_mbid, \
                 release.release_group_mbid) \
             WHERE release.fetched_at IS NULL",
        )
        .await?;
    let written = tx
        .execute(
            &stmt,
            &[
                &r.mbid.as_uuid(),
                &r.title,
                &r.disambiguation,
                &r.status,
                &r.date,
                &r.country,
                &group.map(|g| g.as_uuid()),
            ],
        )
        .await?;
    Ok(written > 0)
}

/// A recording met in a browse page: like a track's stub, plus the first
/// release date the browse carries. True when the row is (still) a stub.
async fn upsert_browsed_recording_stub(
    tx: &impl GenericClient,
    r: &Recording,
) -> Result<bool, DbError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO recording (mbid, title, disambiguation, length_ms, video, \
               first_release_date) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, length_ms = EXCLUDED.length_ms, \
               video = EXCLUDED.video, first_release_date = EXCLUDED.first_release_date \
             WHERE recording.fetched_at IS NULL",
        )
        .await?;
    let written = tx
        .execute(
            &stmt,
            &[
                &r.mbid.as_uuid(),
                &r.title,
                &r.disambiguation,
                &r.length_ms,
                &r.video,
                &r.first_release_date,
            ],
        )
        .await?;
    Ok(written > 0)
}

/// The credit "this artist" alone, from the artist's cached row.
async fn parent_credit(
    tx: &impl GenericClient,
    artist: Mbid,
) -> Result<Vec<ArtistCredit>, DbError> {
    let stmt = tx
        .prepare_cached("SELECT name, sort_name, disambiguation FROM artist WHERE mbid = $1")
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&artist.as_uuid()]).await? else {
        return Ok(Vec::new());
    };
    let name: String = row.get(0);
    Ok(vec![ArtistCredit {
        artist: ArtistRef {
            mbid: artist,
            name: name.clone(),
            sort_name: row.get(1),
            disambiguation: row.get(2),
        },
        credited_name: name,
        join_phrase: String::new(),
    }])
}

/// A stub's credit is all we know of it; a fetched entity keeps its own.
async fn replace_stub_credits(
    tx: &impl GenericClient,
    owner: EntityType,
    mbid: Mbid,
    credits: &[ArtistCredit],
) -> Result<(), DbError> {
    if credits.is_empty() {
        return Ok(());
    }
    replace_credits(tx, owner.as_str(), mbid.as_uuid(), credits).await
}

/// Links a release met in a label's browse to the label, unless the release
/// already names it (a fetched release's own label list is left alone: it
/// is replaced whole when the release is fetched).
async fn link_release_label(
    tx: &impl GenericClient,
    release: Mbid,
    label: Mbid,
) -> Result<(), DbError> {
    // The worker fetches the label before browsing it, so its row exists;
    // a nameless stub keeps the reference valid if it somehow does not.
    let ensure_label = tx
        .prepare_cached(
            "INSERT INTO label (mbid, name) VALUES ($1, '') ON CONFLICT (mbid) DO NOTHING",
        )
        .await?;
    tx.execute(&ensure_label, &[&label.as_uuid()]).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO release_label (release_mbid, position, label_mbid) \
             SELECT $1, coalesce(max(position) + 1, 0), $2 FROM release_label \
             WHERE release_mbid = $1 \
             HAVING NOT bool_or(label_mbid IS NOT DISTINCT FROM $2) IS TRUE",
        )
        .await?;
    tx.execute(&stmt, &[&release.as_uuid(), &label.as_uuid()])
        .await?;
    Ok(())
}

async fn replace_credits(
    tx: &impl GenericClient,
    owner_type: &str,
    owner: Uuid,
    credits: &[ArtistCredit],
) -> Result<(), DbError> {
    let delete = tx
        .prepare_cached("DELETE FROM artist_credit WHERE entity_type = $1 AND mbid = $2")
        .await?;
    tx.execute(&delete, &[&owner_type, &owner]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, \
               credited_name, join_phrase) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    for (position, credit) in (0i32..).zip(credits) {
        upsert_artist_stub(tx, &credit.artist).await?;
        tx.execute(
            &insert,
            &[
                &owner_type,
                &owner,
                &position,
                &credit.artist.mbid.as_uuid(),
                &credit.credited_name,
                &credit.join_phrase,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn replace_annotations(
    tx: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
    a: &Annotations,
) -> Result<(), DbError> {
    let (t, m) = (entity_type.as_str(), mbid.as_uuid());
    for table in ["entity_alias", "entity_tag", "entity_url"] {
        // Table names come from the fixed list above, never from input.
        let delete = tx
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE entity_type = $1 AND mbid = $2"
            ))
            .await?;
        tx.execute(&delete, &[&t, &m]).await?;
    }
    let alias = tx
        .prepare_cached(
            "INSERT INTO entity_alias (entity_type, mbid, position, name, sort_name, alias_type, \
               locale, is_primary, begin_date, end_date, ended) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    for (position, x) in (0i32..).zip(&a.aliases) {
        tx.execute(
            &alias,
            &[
                &t,
                &m,
                &position,
                &x.name,
                &x.sort_name,
                &x.alias_type,
                &x.locale,
                &x.primary,
                &x.life_span.begin,
                &x.life_span.end,
                &x.life_span.ended,
            ],
        )
        .await?;
    }
    let tag = tx
        .prepare_cached(
            "INSERT INTO entity_tag (entity_type, mbid, kind, position, name, count) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    for (kind, list) in [("tag", &a.tags), ("genre", &a.genres)] {
        for (position, x) in (0i32..).zip(list) {
            tx.execute(&tag, &[&t, &m, &kind, &position, &x.name, &x.count])
                .await?;
        }
    }
    let url = tx
        .prepare_cached(
            "INSERT INTO entity_url (entity_type, mbid, position, relation_type, url, \
               begin_date, end_date, ended) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    for (position, x) in (0i32..).zip(&a.urls) {
        tx.execute(
            &url,
            &[
                &t,
                &m,
                &position,
                &x.relation_type,
                &x.url,
                &x.life_span.begin,
                &x.life_span.end,
                &x.life_span.ended,
            ],
        )
        .await?;
    }
    Ok(())
}
