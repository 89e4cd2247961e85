//! Loading cached entities, with their nested data, into domain types.
//!
//! Only rows with `fetched_at` set count as cached; stubs do not. The
//! queries for one entity's parts run pipelined on one connection.

use std::collections::HashMap;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use futures::TryFutureExt;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::DbError;
use super::details::{self, EntityDetails, MediumDetails};
use crate::domain::{
    Alias, Annotations, Artist, ArtistCredit, ArtistRef, Cached, Label, LabelInfo, LabelRef,
    LifeSpan, Medium, Recording, RecordingRef, Release, ReleaseGroup, ReleaseGroupRef, ReleaseRef,
    Tag, Track, UrlRelation,
};
use crate::mbid::{EntityType, Mbid};

pub async fn fetched_at(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
) -> Result<Option<SystemTime>, DbError> {
    // One statement per table; the table name is chosen here, not by input.
    let sql = match entity_type {
        EntityType::Artist => "SELECT fetched_at FROM artist WHERE mbid = $1",
        EntityType::ReleaseGroup => "SELECT fetched_at FROM release_group WHERE mbid = $1",
        EntityType::Release => "SELECT fetched_at FROM release WHERE mbid = $1",
        EntityType::Recording => "SELECT fetched_at FROM recording WHERE mbid = $1",
        EntityType::Label => "SELECT fetched_at FROM label WHERE mbid = $1",
    };
    let stmt = client.prepare_cached(sql).await?;
    let row = client.query_opt(&stmt, &[&mbid.as_uuid()]).await?;
    Ok(row.and_then(|r| r.get::<_, Option<SystemTime>>(0)))
}

/// What the cache has seen of a paged list (see `aggregate_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateState {
    pub complete: bool,
    pub item_count: i32,
    pub checked_at: SystemTime,
}

pub async fn aggregate(
    client: &impl GenericClient,
    entity_type: EntityType,
    mbid: Mbid,
    relation: crate::catalog::Relation,
) -> Result<Option<AggregateState>, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT complete, item_count, checked_at FROM aggregate_state \
             WHERE entity_type = $1 AND mbid = $2 AND relation = $3",
        )
        .await?;
    let row = client
        .query_opt(
            &stmt,
            &[&entity_type.as_str(), &mbid.as_uuid(), &relation.as_str()],
        )
        .await?;
    Ok(row.map(|r| AggregateState {
        complete: r.get(0),
        item_count: r.get(1),
        checked_at: r.get(2),
    }))
}

pub async fn children(
    client: &impl GenericClient,
    item_type: EntityType,
    parent: (EntityType, Mbid),
) -> Result<Vec<Mbid>, DbError> {
    let sql = match (parent.0, item_type) {
        (EntityType::Artist, EntityType::ReleaseGroup) => {
            "SELECT DISTINCT mbid FROM artist_credit \
             WHERE entity_type = 'release-group' AND artist_mbid = $1 ORDER BY mbid"
        }
        (EntityType::ReleaseGroup, EntityType::Release) => {
            "SELECT mbid FROM release WHERE release_group_mbid = $1 ORDER BY mbid"
        }
        _ => return Ok(Vec::new()),
    };
    let stmt = client.prepare_cached(sql).await?;
    let rows = client.query(&stmt, &[&parent.1.as_uuid()]).await?;
    Ok(rows.iter().map(|r| mbid(r, "mbid")).collect())
}

fn mbid(row: &Row, idx: &str) -> Mbid {
    Mbid::from_uuid(row.get::<_, Uuid>(idx))
}

fn life_span(row: &Row) -> LifeSpan {
    LifeSpan {
        begin: row.get("begin_date"),
        end: row.get("end_date"),
        ended: row.get("ended"),
    }
}

pub async fn artist(
    client: &impl GenericClient,
    id: Mbid,
) -> Result<Option<Cached<Artist>>, DbError> {
    let id_param = id.as_uuid();
    let by_id: [&(dyn ToSql + Sync); 1] = [&id_param];
    let stmt = client
        .prepare_cached(
            "SELECT mbid, name, sort_name, disambiguation, artist_type, gender, country, area, \
               begin_date, end_date, ended, details, fetched_at, \
               EXISTS (SELECT 1 FROM aggregate_state s WHERE s.entity_type = 'artist' \
                 AND s.mbid = artist.mbid AND s.relation = 'release-groups' AND s.complete) \
                 AS complete \
             FROM artist WHERE mbid = $1 AND fetched_at IS NOT NULL",
        )
        .await?;
    let (row, annotations) = tokio::try_join!(
        client.query_opt(&stmt, &by_id).map_err(DbError::from),
        load_annotations(client, EntityType::Artist, id),
    )?;
    let Some(row) = row else { return Ok(None) };
    let mut entity = Artist {
        mbid: mbid(&row, "mbid"),
        name: row.get("name"),
        sort_name: row.get("sort_name"),
        disambiguation: row.get("disambiguation"),
        artist_type: row.get("artist_type"),
        gender: row.get("gender"),
        country: row.get("country"),
        area: row.get("area"),
        life_span: life_span(&row),
        annotations,
        release_groups_complete: row.get("complete"),
        ..Artist::default()
    };
    EntityDetails::read(row.get("details")).apply_to_artist(&mut entity);
    Ok(Some(Cached {
        entity,
        fetched_at: row.get("fetched_at"),
    }))
}

pub async fn label(
    client: &impl GenericClient,
    id: Mbid,
) -> Result<Option<Cached<Label>>, DbError> {
    let id_param = id.as_uuid();
    let by_id: [&(dyn ToSql + Sync); 1] = [&id_param];
    let stmt = client
        .prepare_cached(
            "SELECT mbid, name, sort_name, disambiguation, label_type, label_code, country, area, \
               begin_date, end_date, ended, details, fetched_at \
             FROM label WHERE mbid = $1 AND fetched_at IS NOT NULL",
        )
        .await?;
    let (row, annotations) = tokio::try_join!(
        client.query_opt(&stmt, &by_id).map_err(DbError::from),
        load_annotations(client, EntityType::Label, id),
    )?;
    let Some(row) = row else { return Ok(None) };
    let mut entity = Label {
        mbid: mbid(&row, "mbid"),
        name: row.get("name"),
        sort_name: row.get("sort_name"),
        disambiguation: row.get("disambiguation"),
        label_type: row.get("label_type"),
        label_code: row.get("label_code"),
        country: row.get("country"),
        area: row.get("area"),
        life_span: life_span(&row),
        annotations,
        ..Label::default()
    };
    EntityDetails::read(row.get("details")).apply_to_label(&mut entity);
    Ok(Some(Cached {
        entity,
        fetched_at: row.get("fetched_at"),
    }))
}

pub async fn recording(
    client: &impl GenericClient,
    id: Mbid,
) -> Result<Option<Cached<Recording>>, DbError> {
    let id_param = id.as_uuid();
    let ids = [id_param];
    let by_id: [&(dyn ToSql + Sync); 1] = [&id_param];
    let stmt = client
        .prepare_cached(
            "SELECT mbid, title, disambiguation, length_ms, video, first_release_date, details, \
               fetched_at \
             FROM recording WHERE mbid = $1 AND fetched_at IS NOT NULL",
        )
        .await?;
    let isrc_stmt = client
        .prepare_cached("SELECT isrc FROM recording_isrc WHERE recording_mbid = $1 ORDER BY isrc")
        .await?;
    let (row, isrcs, mut credits, mut annotations) = tokio::try_join!(
        client.query_opt(&stmt, &by_id).map_err(DbError::from),
        client.query(&isrc_stmt, &by_id).map_err(DbError::from),
        load_credits(client, EntityType::Recording.as_str(), &ids),
        load_annotations(client, EntityType::Recording, id),
    )?;
    let Some(row) = row else { return Ok(None) };
    EntityDetails::read(row.get("details")).apply_to(&mut annotations);
    Ok(Some(Cached {
        entity: Recording {
            mbid: mbid(&row, "mbid"),
            title: row.get("title"),
            disambiguation: row.get("disambiguation"),
            length_ms: row.get("length_ms"),
            video: row.get("video"),
            first_release_date: row.get("first_release_date"),
            artist_credit: credits.remove(&id.as_uuid()).unwrap_or_default(),
            isrcs: isrcs.iter().map(|r| r.get(0)).collect(),
            annotations,
        },
        fetched_at: row.get("fetched_at"),
    }))
}

pub async fn release_group(
    client: &impl GenericClient,
    id: Mbid,
) -> Result<Option<Cached<ReleaseGroup>>, DbError> {
    let id_param = id.as_uuid();
    let ids = [id_param];
    let by_id: [&(dyn ToSql + Sync); 1] = [&id_param];
    let stmt = client
        .prepare_cached(
            "SELECT mbid, title, disambiguation, primary_type, secondary_types, \
               first_release_date, details, fetched_at, \
               EXISTS (SELECT 1 FROM aggregate_state s WHERE s.entity_type = 'release-group' \
                 AND s.mbid = release_group.mbid AND s.relation = 'releases' AND s.complete) \
                 AS complete \
             FROM release_group WHERE mbid = $1 AND fetched_at IS NOT NULL",
        )
        .await?;
    let releases_stmt = client
        .prepare_cached(
            "SELECT mbid, title, disambiguation, status, release_date, country FROM release \
             WHERE release_group_mbid = $1 \
             ORDER BY release_date NULLS LAST, title, mbid",
        )
        .await?;
    let (row, releases, mut credits, mut annotations) = tokio::try_join!(
        client.query_opt(&stmt, &by_id).map_err(DbError::from),
        client.query(&releases_stmt, &by_id).map_err(DbError::from),
        load_credits(client, EntityType::ReleaseGroup.as_str(), &ids),
        load_annotations(client, EntityType::ReleaseGroup, id),
    )?;
    let Some(row) = row else { return Ok(None) };
    EntityDetails::read(row.get("details")).apply_to(&mut annotations);
    Ok(Some(Cached {
        entity: ReleaseGroup {
            mbid: mbid(&row, "mbid"),
            title: row.get("title"),
            disambiguation: row.get("disambiguation"),
            primary_type: row.get("primary_type"),
            secondary_types: row.get("secondary_types"),
            first_release_date: row.get("first_release_date"),
            artist_credit: credits.remove(&id.as_uuid()).unwrap_or_default(),
            releases: releases
                .iter()
                .map(|r| ReleaseRef {
                    mbid: mbid(r, "mbid"),
                    title: r.get("title"),
                    disambiguation: r.get("disambiguation"),
                    status: r.get("status"),
                    date: r.get("release_date"),
                    country: r.get("country"),
                })
                .collect(),
            annotations,
            releases_complete: row.get("complete"),
        },
        fetched_at: row.get("fetched_at"),
    }))
}

pub async fn release(
    client: &impl GenericClient,
    id: Mbid,
) -> Result<Option<Cached<Release>>, DbError> {
    let id_param = id.as_uuid();
    let by_id: [&(dyn ToSql + Sync); 1] = [&id_param];
    let stmt = client
        .prepare_cached(
            "SELECT r.mbid, r.title, r.disambiguation, r.status, r.packaging, r.release_date, \
               r.country, r.barcode, r.language, r.script, r.details, r.fetched_at, \
               g.mbid AS group_mbid, g.title AS group_title, \
               g.disambiguation AS group_disambiguation, g.primary_type, g.secondary_types, \
               g.first_release_date \
             FROM release r LEFT JOIN release_group g ON g.mbid = r.release_group_mbid \
             WHERE r.mbid = $1 AND r.fetched_at IS NOT NULL",
        )
        .await?;
    let labels_stmt = client
        .prepare_cached(
            "SELECT l.mbid, l.name, l.sort_name, l.disambiguation, l.label_code, rl.catalog_number \
             FROM release_label rl LEFT JOIN label l ON l.mbid = rl.label_mbid \
             WHERE rl.release_mbid = $1 ORDER BY rl.position",
        )
        .await?;
    let media_stmt = client
        .prepare_cached(
            "SELECT position, format, title, track_count, details FROM medium \
             WHERE release_mbid = $1 ORDER BY position",
        )
        .await?;
    let tracks_stmt = client
        .prepare_cached(
            "SELECT t.mbid, t.medium_position, t.position, t.number, t.title, t.length_ms, \
               c.mbid AS rec_mbid, c.title AS rec_title, c.disambiguation AS rec_disambiguation, \
               c.length_ms AS rec_length_ms, c.video AS rec_video, t.recording_relations, \
               COALESCE((SELECT array_agg(i.isrc ORDER BY i.isrc) FROM recording_isrc i \
                         WHERE i.recording_mbid = c.mbid), '{}') AS isrcs \
             FROM track t JOIN recording c ON c.mbid = t.recording_mbid \
             WHERE t.release_mbid = $1 ORDER BY t.medium_position, t.position",
        )
        .await?;
    // Everything in one pipelined batch: one round trip however many tracks.
    let (row, labels, media, tracks, credits, annotations) = tokio::try_join!(
        client.query_opt(&stmt, &by_id).map_err(DbError::from),
        client.query(&labels_stmt, &by_id).map_err(DbError::from),
        client.query(&media_stmt, &by_id).map_err(DbError::from),
        client.query(&tracks_stmt, &by_id).map_err(DbError::from),
        load_release_credits(client, id_param),
        load_annotations(client, EntityType::Release, id),
    )?;
    let Some(row) = row else { return Ok(None) };
    let ReleaseCredits {
        release: mut credits,
        tracks: mut track_credits,
        recordings: mut rec_credits,
        group: mut group_credits,
    } = credits;
    let group_id: Option<Uuid> = row.get("group_mbid");

    let mut media: Vec<Medium> = media
        .iter()
        .map(|m| {
            let mut medium = Medium {
                position: m.get("position"),
                format: m.get("format"),
                title: m.get("title"),
                track_count: m.get("track_count"),
                ..Medium::default()
            };
            MediumDetails::apply(m.get("details"), &mut medium);
            medium
        })
        .collect();
    for t in &tracks {
        let medium_position: i32 = t.get("medium_position");
        let track_id: Uuid = t.get("mbid");
        let rec_id: Uuid = t.get("rec_mbid");
        let track = Track {
            mbid: Mbid::from_uuid(track_id),
            position: t.get("position"),
            number: t.get("number"),
            title: t.get("title"),
            length_ms: t.get("length_ms"),
            artist_credit: track_credits.remove(&track_id).unwrap_or_default(),
            recording: RecordingRef {
                mbid: Mbid::from_uuid(rec_id),
                title: t.get("rec_title"),
                disambiguation: t.get("rec_disambiguation"),
                length_ms: t.get("rec_length_ms"),
                video: t.get("rec_video"),
                isrcs: t.get("isrcs"),
                // A recording can appear on several tracks; clone, don't take.
                artist_credit: rec_credits.get(&rec_id).cloned().unwrap_or_default(),
                relations: details::read_track_relations(t.get("recording_relations")),
            },
        };
        match media.iter_mut().find(|m| m.position == medium_position) {
            Some(m) => m.tracks.push(track),
            None => {
                return Err(DbError::Inconsistent(format!(
                    "track {track_id} on missing medium {medium_position}"
                )));
            }
        }
    }
    rec_credits.clear();

    let release_group = group_id.map(|g| ReleaseGroupRef {
        mbid: Mbid::from_uuid(g),
        title: row.get("group_title"),
        disambiguation: row.get("group_disambiguation"),
        primary_type: row.get("primary_type"),
        secondary_types: row.get("secondary_types"),
        first_release_date: row.get("first_release_date"),
        artist_credit: group_credits.remove(&g).unwrap_or_default(),
    });

    let mut entity = Release {
        mbid: mbid(&row, "mbid"),
        title: row.get("title"),
        disambiguation: row.get("disambiguation"),
        status: row.get("status"),
        packaging: row.get("packaging"),
        date: row.get("release_date"),
        country: row.get("country"),
        barcode: row.get("barcode"),
        language: row.get("language"),
        script: row.get("script"),
        artist_credit: credits.remove(&id.as_uuid()).unwrap_or_default(),
        release_group,
        label_info: labels
            .iter()
            .map(|l| LabelInfo {
                label: l.get::<_, Option<Uuid>>("mbid").map(|m| LabelRef {
                    mbid: Mbid::from_uuid(m),
                    name: l.get("name"),
                    sort_name: l.get("sort_name"),
                    disambiguation: l.get("disambiguation"),
                    label_code: l.get("label_code"),
                }),
                catalog_number: l.get("catalog_number"),
            })
            .collect(),
        media,
        annotations,
        ..Release::default()
    };
    EntityDetails::read(row.get("details")).apply_to_release(&mut entity);
    Ok(Some(Cached {
        entity,
        fetched_at: row.get("fetched_at"),
    }))
}

/// The artist credits a release shows: its own, its tracks', their
/// recordings' and its release group's, each keyed by owner.
#[derive(Debug, Default)]
struct ReleaseCredits {
    release: HashMap<Uuid, Vec<ArtistCredit>>,
    tracks: HashMap<Uuid, Vec<ArtistCredit>>,
    recordings: HashMap<Uuid, Vec<ArtistCredit>>,
    group: HashMap<Uuid, Vec<ArtistCredit>>,
}

/// [`ReleaseCredits`] in one statement, so it needs no second round trip
/// after the tracks are known (each branch is a primary-key lookup).
async fn load_release_credits(
    client: &impl GenericClient,
    release: Uuid,
) -> Result<ReleaseCredits, DbError> {
    let stmt = client
        .prepare_cached(
            "SELECT c.entity_type, c.mbid AS owner, c.position, c.credited_name, c.join_phrase, \
               a.mbid, a.name, a.sort_name, a.disambiguation \
             FROM (SELECT * FROM artist_credit WHERE entity_type = 'release' AND mbid = $1 \
                   UNION ALL \
                   SELECT * FROM artist_credit WHERE entity_type = 'track' \
                     AND mbid IN (SELECT mbid FROM track WHERE release_mbid = $1) \
                   UNION ALL \
                   SELECT * FROM artist_credit WHERE entity_type = 'recording' \
                     AND mbid IN (SELECT recording_mbid FROM track WHERE release_mbid = $1) \
                   UNION ALL \
                   SELECT * FROM artist_credit WHERE entity_type = 'release-group' \
                     AND mbid = (SELECT release_group_mbid FROM release WHERE mbid = $1)) c \
             JOIN artist a ON a.mbid = c.artist_mbid \
             ORDER BY c.entity_type, c.mbid, c.position",
        )
        .await?;
    let mut out = ReleaseCredits::default();
    for row in client.query(&stmt, &[&release]).await? {
        let owners = match row.get::<_, &str>("entity_type") {
            "release" => &mut out.release,
            "track" => &mut out.tracks,
            "recording" => &mut out.recordings,
            _ => &mut out.group,
        };
        owners
            .entry(row.get("owner"))
            .or_default()
            .push(credit(&row));
    }
    Ok(out)
}

fn credit(row: &Row) -> ArtistCredit {
    ArtistCredit {
        artist: ArtistRef {
            mbid: mbid(row, "mbid"),
            name: row.get("name"),
            sort_name: row.get("sort_name"),
            disambiguation: row.get("disambiguation"),
        },
        credited_name: row.get("credited_name"),
        join_phrase: row.get("join_phrase"),
    }
}

/// Artist credits of many owners of one kind, keyed by owner.
async fn load_credits(
    client: &impl GenericClient,
    owner_type: &str,
    owners: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ArtistCredit>>, DbError> {
    let mut out: HashMap<Uuid, Vec<ArtistCredit>> = HashMap::new();
    if owners.is_empty() {
        return Ok(out);
    }
    let stmt = client
        .prepare_cached(
            "SELECT c.mbid AS owner, c.credited_name, c.join_phrase, a.mbid, a.name, \
               a.sort_name, a.disambiguation \
             FROM artist_credit c JOIN artist a ON a.mbid = c.artist_mbid \
             WHERE c.entity_type = $1 AND c.mbid = ANY($2) ORDER BY c.mbid, c.position",
        )
        .await?;
    for row in client.query(&stmt, &[&owner_type, &owners]).await? {
        out.entry(row.get("owner")).or_default().push(credit(&row));
    }
    Ok(out)
}

async fn load_annotations(
    client: &impl GenericClient,
    entity_type: EntityType,
    id: Mbid,
) -> Result<Annotations, DbError> {
    let aliases_stmt = client
        .prepare_cached(
            "SELECT name, sort_name, alias_type, locale, is_primary, begin_date, end_date, ended \
             FROM entity_alias WHERE entity_type = $1 AND mbid = $2 ORDER BY position",
        )
        .await?;
    let tags_stmt = client
        .prepare_cached(
            "SELECT kind, name, count FROM entity_tag WHERE entity_type = $1 AND mbid = $2 \
             ORDER BY kind, position",
        )
        .await?;
    let urls_stmt = client
        .prepare_cached(
            "SELECT relation_type, url, begin_date, end_date, ended FROM entity_url \
             WHERE entity_type = $1 AND mbid = $2 ORDER BY position",
        )
        .await?;
    let (t, m) = (entity_type.as_str(), id.as_uuid());
    let key: [&(dyn ToSql + Sync); 2] = [&t, &m];
    let (aliases, tags, urls) = tokio::try_join!(
        client.query(&aliases_stmt, &key),
        client.query(&tags_stmt, &key),
        client.query(&urls_stmt, &key),
    )?;
    let mut out = Annotations {
        aliases: aliases
            .iter()
            .map(|r| Alias {
                name: r.get("name"),
                sort_name: r.get("sort_name"),
                alias_type: r.get("alias_type"),
                locale: r.get("locale"),
                primary: r.get("is_primary"),
                life_span: life_span(r),
            })
            .collect(),
        urls: urls
            .iter()
            .map(|r| UrlRelation {
                relation_type: r.get("relation_type"),
                url: r.get("url"),
                life_span: life_span(r),
            })
            .collect(),
        ..Annotations::default()
    };
    for r in &tags {
        let tag = Tag {
            name: r.get("name"),
            count: r.get("count"),
        };
        match r.get::<_, &str>("kind") {
            "genre" => out.genres.push(tag),
            _ => out.tags.push(tag),
        }
    }
    Ok(out)
}
