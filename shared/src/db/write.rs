//! Idempotent upserts of fetched entities.
//!
//! Each top-level row is upserted in place; its child rows (aliases, tags,
//! credits, media, tracks, ...) are deleted and written again, so storing
//! the same response twice leaves exactly the same rows. Entities that are
//! only referenced (credited artists, a track's recording, a release's label
//! and release group) are written as stubs (`fetched_at` NULL) and never
//! overwrite a row that was fetched in full.
//!
//! Child rows are written set-based: one `INSERT ... SELECT FROM unnest(...)`
//! per table with the rows as column arrays, so a 30-track release costs
//! some fifteen statements, not hundreds. The statements of one entity go
//! out as one [`Batch`]: pipelined on the connection and run by the server
//! in the order they were added, so a later one may rely on an earlier one
//! (a credit on its artist's stub) while the whole store costs about one
//! round trip.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::DbError;
use super::details::{self, EntityDetails, MediumDetails};
use crate::catalog::Relation;
use crate::domain::{
    Annotations, Artist, ArtistCredit, ArtistRef, Entity, Label, LabelRef, Recording, RecordingRef,
    Release, ReleaseGroup, ReleaseGroupRef, ReleaseRef, Track,
};
use crate::mbid::{EntityType, Mbid};

/// Child-row owner kinds in `artist_credit` beyond the five entity types.
const TRACK: &str = "track";

/// One statement parameter, owned by the statement's future.
type Param<'a> = Box<dyn ToSql + Sync + Send + 'a>;

fn p<'a>(value: impl ToSql + Sync + Send + 'a) -> Param<'a> {
    Box::new(value)
}

/// One column of an `unnest` insert: `f` of every row, as an array.
fn column<'a, T, U>(rows: impl IntoIterator<Item = T>, f: impl FnMut(T) -> U) -> Param<'a>
where
    U: ToSql + Sync + Send + 'a,
{
    p(rows.into_iter().map(f).collect::<Vec<_>>())
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// Statements that run in the order they were added, pipelined.
///
/// tokio-postgres sends a request when its future is first polled, and
/// `try_join_all` polls its futures in order, so the server receives (and
/// runs) them in order without waiting for each answer. Statements are
/// prepared (`prepare_cached`) as they are added, so no prepare round trip
/// can reorder them. The first error wins; the transaction is then aborted
/// and rolled back by its owner.
struct Batch<'a, C> {
    tx: &'a C,
    pending: Vec<Pending<'a>>,
}

impl<'a, C: GenericClient> Batch<'a, C> {
    fn new(tx: &'a C) -> Self {
        Self {
            tx,
            pending: Vec::new(),
        }
    }

    async fn add(&mut self, sql: &str, params: Vec<Param<'a>>) -> Result<(), DbError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        let tx = self.tx;
        self.pending.push(Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|x| &**x as _).collect();
            tx.execute(&stmt, &refs).await
        }));
        Ok(())
    }

    async fn run(self) -> Result<(), DbError> {
        futures::future::try_join_all(self.pending).await?;
        Ok(())
    }
}

/// The last of each MBID, in MBID order. Row-at-a-time upserts let a later
/// stub overwrite an earlier one; one multi-row upsert may not touch a row
/// twice, so the last is kept. The order makes concurrent stores lock
/// shared stub rows in the same order.
fn last_by_mbid<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    mbid: impl Fn(&T) -> Mbid,
) -> Vec<&'a T>
where
    T: 'a,
{
    let mut by_mbid = BTreeMap::new();
    for item in items {
        by_mbid.insert(mbid(item).as_uuid(), item);
    }
    by_mbid.into_values().collect()
}

/// Stores a fetched entity with its child rows and the stubs it names.
/// `raw` is the response for the `raw` column: a [`crate::domain::Document`] as
/// received, or a `serde_json::Value`; `raw_inc` the inc= it was fetched
/// with (`a+b+c`), when known.
pub async fn upsert_entity(
    tx: &impl GenericClient,
    entity: &Entity,
    raw: &(impl ToSql + Sync + Send),
    raw_inc: Option<&str>,
) -> Result<(), DbError> {
    upsert_entity_at(tx, entity, raw, raw_inc, None).await
}

/// [`upsert_entity`] with the time the document was fetched, when it is not
/// now (an entity imported from a dump was fetched when the dump was made).
pub async fn upsert_entity_at(
    tx: &impl GenericClient,
    entity: &Entity,
    raw: &(impl ToSql + Sync + Send),
    raw_inc: Option<&str>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    let mut batch = Batch::new(tx);
    let raw_inc = &raw_inc;
    let details = EntityDetails::of(entity);
    let at = fetched_at;
    match entity {
        Entity::Artist(a) => upsert_artist(&mut batch, a, raw, raw_inc, details, at).await?,
        Entity::Label(l) => upsert_label(&mut batch, l, raw, raw_inc, details, at).await?,
        Entity::Recording(r) => upsert_recording(&mut batch, r, raw, raw_inc, details, at).await?,
        Entity::ReleaseGroup(g) => {
            upsert_release_group(&mut batch, g, raw, raw_inc, details, at).await?
        }
        Entity::Release(r) => upsert_release(&mut batch, r, raw, raw_inc, details, at).await?,
    }
    replace_annotations(
        &mut batch,
        entity.entity_type(),
        entity.mbid(),
        entity.annotations(),
    )
    .await?;
    batch.run().await
}

async fn upsert_artist<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    a: &'a Artist,
    raw: &'a (impl ToSql + Sync + Send),
    raw_inc: &'a Option<&str>,
    details: Json<EntityDetails>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO artist (mbid, name, sort_name, disambiguation, artist_type, gender, \
               country, area, begin_date, end_date, ended, raw, raw_inc, details, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
               coalesce($15, now())) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               artist_type = EXCLUDED.artist_type, gender = EXCLUDED.gender, \
               country = EXCLUDED.country, area = EXCLUDED.area, \
               begin_date = EXCLUDED.begin_date, end_date = EXCLUDED.end_date, \
               ended = EXCLUDED.ended, raw = EXCLUDED.raw, raw_inc = EXCLUDED.raw_inc, \
               details = EXCLUDED.details, fetched_at = EXCLUDED.fetched_at",
            vec![
                p(a.mbid.as_uuid()),
                p(&a.name),
                p(&a.sort_name),
                p(&a.disambiguation),
                p(&a.artist_type),
                p(&a.gender),
                p(&a.country),
                p(&a.area),
                p(&a.life_span.begin),
                p(&a.life_span.end),
                p(a.life_span.ended),
                p(raw),
                p(raw_inc),
                p(details),
                p(fetched_at),
            ],
        )
        .await
}

async fn upsert_label<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    l: &'a Label,
    raw: &'a (impl ToSql + Sync + Send),
    raw_inc: &'a Option<&str>,
    details: Json<EntityDetails>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO label (mbid, name, sort_name, disambiguation, label_type, label_code, \
               country, area, begin_date, end_date, ended, raw, raw_inc, details, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
               coalesce($15, now())) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               label_type = EXCLUDED.label_type, label_code = EXCLUDED.label_code, \
               country = EXCLUDED.country, area = EXCLUDED.area, \
               begin_date = EXCLUDED.begin_date, end_date = EXCLUDED.end_date, \
               ended = EXCLUDED.ended, raw = EXCLUDED.raw, raw_inc = EXCLUDED.raw_inc, \
               details = EXCLUDED.details, fetched_at = EXCLUDED.fetched_at",
            vec![
                p(l.mbid.as_uuid()),
                p(&l.name),
                p(&l.sort_name),
                p(&l.disambiguation),
                p(&l.label_type),
                p(l.label_code),
                p(&l.country),
                p(&l.area),
                p(&l.life_span.begin),
                p(&l.life_span.end),
                p(l.life_span.ended),
                p(raw),
                p(raw_inc),
                p(details),
                p(fetched_at),
            ],
        )
        .await
}

async fn upsert_recording<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    r: &'a Recording,
    raw: &'a (impl ToSql + Sync + Send),
    raw_inc: &'a Option<&str>,
    details: Json<EntityDetails>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO recording (mbid, title, disambiguation, length_ms, video, \
               first_release_date, raw, raw_inc, details, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now())) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, length_ms = EXCLUDED.length_ms, \
               video = EXCLUDED.video, first_release_date = EXCLUDED.first_release_date, \
               raw = EXCLUDED.raw, raw_inc = EXCLUDED.raw_inc, details = EXCLUDED.details, \
               fetched_at = EXCLUDED.fetched_at",
            vec![
                p(r.mbid.as_uuid()),
                p(&r.title),
                p(&r.disambiguation),
                p(r.length_ms),
                p(r.video),
                p(&r.first_release_date),
                p(raw),
                p(raw_inc),
                p(details),
                p(fetched_at),
            ],
        )
        .await?;
    batch
        .add(
            "DELETE FROM recording_isrc WHERE recording_mbid = $1",
            vec![p(r.mbid.as_uuid())],
        )
        .await?;
    if !r.isrcs.is_empty() {
        batch
            .add(
                "INSERT INTO recording_isrc (recording_mbid, isrc) \
                 SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
                vec![p(r.mbid.as_uuid()), p(&r.isrcs)],
            )
            .await?;
    }
    let mut credits = Credits::default();
    credits.replace(
        EntityType::Recording.as_str(),
        r.mbid.as_uuid(),
        &r.artist_credit,
    );
    credits.write(batch).await
}

async fn upsert_release_group<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    g: &'a ReleaseGroup,
    raw: &'a (impl ToSql + Sync + Send),
    raw_inc: &'a Option<&str>,
    details: Json<EntityDetails>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO release_group (mbid, title, disambiguation, primary_type, \
               secondary_types, first_release_date, raw, raw_inc, details, fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10, now())) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, primary_type = EXCLUDED.primary_type, \
               secondary_types = EXCLUDED.secondary_types, \
               first_release_date = EXCLUDED.first_release_date, \
               raw = EXCLUDED.raw, raw_inc = EXCLUDED.raw_inc, details = EXCLUDED.details, \
               fetched_at = EXCLUDED.fetched_at",
            vec![
                p(g.mbid.as_uuid()),
                p(&g.title),
                p(&g.disambiguation),
                p(&g.primary_type),
                p(&g.secondary_types),
                p(&g.first_release_date),
                p(raw),
                p(raw_inc),
                p(details),
                p(fetched_at),
            ],
        )
        .await?;
    let mut credits = Credits::default();
    credits.replace(
        EntityType::ReleaseGroup.as_str(),
        g.mbid.as_uuid(),
        &g.artist_credit,
    );
    credits.write(batch).await?;
    let releases = last_by_mbid(&g.releases, |r| r.mbid);
    if releases.is_empty() {
        return Ok(());
    }
    // The group's releases as stubs, as `upsert_release_stub` writes one.
    batch
        .add(
            "INSERT INTO release (mbid, title, disambiguation, status, release_date, country, \
               release_group_mbid) \
             SELECT u.*, $7::uuid FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], \
               $5::text[], $6::text[]) AS u \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, status = EXCLUDED.status, \
               release_date = EXCLUDED.release_date, country = EXCLUDED.country, \
               release_group_mbid = coalesce(EXCLUDED.release_group_mbid, \
                 release.release_group_mbid) \
             WHERE release.fetched_at IS NULL",
            vec![
                column(releases.iter(), |r| r.mbid.as_uuid()),
                column(releases.iter(), |r| r.title.as_str()),
                column(releases.iter(), |r| r.disambiguation.as_str()),
                column(releases.iter(), |r| r.status.as_deref()),
                column(releases.iter(), |r| r.date.as_deref()),
                column(releases.iter(), |r| r.country.as_deref()),
                p(g.mbid.as_uuid()),
            ],
        )
        .await
}

async fn upsert_release<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    r: &'a Release,
    raw: &'a (impl ToSql + Sync + Send),
    raw_inc: &'a Option<&str>,
    details: Json<EntityDetails>,
    fetched_at: Option<SystemTime>,
) -> Result<(), DbError> {
    let release = r.mbid.as_uuid();
    let mut credits = Credits::default();
    // Run at once, before the batch: whether the group is (still) a stub
    // decides whether its credit is written.
    if let Some(group) = &r.release_group
        && upsert_release_group_row(batch.tx, group).await?
        && !group.artist_credit.is_empty()
    {
        credits.replace(
            EntityType::ReleaseGroup.as_str(),
            group.mbid.as_uuid(),
            &group.artist_credit,
        );
    }
    batch
        .add(
            "INSERT INTO release (mbid, title, disambiguation, status, packaging, release_date, \
               country, barcode, language, script, release_group_mbid, raw, raw_inc, details, \
               fetched_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
               coalesce($15, now())) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, status = EXCLUDED.status, \
               packaging = EXCLUDED.packaging, release_date = EXCLUDED.release_date, \
               country = EXCLUDED.country, barcode = EXCLUDED.barcode, \
               language = EXCLUDED.language, script = EXCLUDED.script, \
               release_group_mbid = EXCLUDED.release_group_mbid, \
               raw = EXCLUDED.raw, raw_inc = EXCLUDED.raw_inc, details = EXCLUDED.details, \
               fetched_at = EXCLUDED.fetched_at",
            vec![
                p(release),
                p(&r.title),
                p(&r.disambiguation),
                p(&r.status),
                p(&r.packaging),
                p(&r.date),
                p(&r.country),
                p(&r.barcode),
                p(&r.language),
                p(&r.script),
                p(r.release_group.as_ref().map(|g| g.mbid.as_uuid())),
                p(raw),
                p(raw_inc),
                p(details),
                p(fetched_at),
            ],
        )
        .await?;

    // A track id met again (MusicBrainz moved it between releases) is taken
    // over, with its credit. Should one release repeat a track id, its last
    // occurrence counts (one multi-row upsert may not touch a row twice).
    let mut seen = HashSet::new();
    let mut tracks: Vec<(i32, &Track)> = r
        .media
        .iter()
        .flat_map(|m| m.tracks.iter().map(move |t| (m.position, t)))
        .rev()
        .filter(|(_, t)| seen.insert(t.mbid.as_uuid()))
        .collect();
    tracks.reverse();
    // Credits of the tracks the release has now go before the tracks do, and
    // before the new credits are written (most are the same tracks).
    batch
        .add(
            "DELETE FROM artist_credit WHERE entity_type = 'track' AND mbid IN \
               (SELECT mbid FROM track WHERE release_mbid = $1)",
            vec![p(release)],
        )
        .await?;
    credits.replace(EntityType::Release.as_str(), release, &r.artist_credit);
    for (_, track) in &tracks {
        credits.replace(TRACK, track.mbid.as_uuid(), &track.artist_credit);
    }
    credits.write(batch).await?;

    let labels = last_by_mbid(r.label_info.iter().filter_map(|i| i.label.as_ref()), |l| {
        l.mbid
    });
    if !labels.is_empty() {
        add_label_stubs(batch, &labels).await?;
    }
    batch
        .add(
            "DELETE FROM release_label WHERE release_mbid = $1",
            vec![p(release)],
        )
        .await?;
    if !r.label_info.is_empty() {
        batch
            .add(
                "INSERT INTO release_label (release_mbid, position, label_mbid, catalog_number) \
                 SELECT $1::uuid, u.* FROM unnest($2::int[], $3::uuid[], $4::text[]) AS u",
                vec![
                    p(release),
                    p((0..r.label_info.len() as i32).collect::<Vec<_>>()),
                    column(r.label_info.iter(), |i| {
                        i.label.as_ref().map(|l| l.mbid.as_uuid())
                    }),
                    column(r.label_info.iter(), |i| i.catalog_number.as_deref()),
                ],
            )
            .await?;
    }

    let recordings = last_by_mbid(tracks.iter().map(|(_, t)| &t.recording), |r| r.mbid);
    if !recordings.is_empty() {
        add_recording_stubs(batch, &recordings).await?;
    }
    // Deleting the media deletes their tracks (ON DELETE CASCADE).
    batch
        .add(
            "DELETE FROM medium WHERE release_mbid = $1",
            vec![p(release)],
        )
        .await?;
    if !r.media.is_empty() {
        batch
            .add(
                "INSERT INTO medium (release_mbid, position, format, title, track_count, details) \
                 SELECT $1::uuid, u.* FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], \
                   $6::jsonb[]) AS u",
                vec![
                    p(release),
                    column(r.media.iter(), |m| m.position),
                    column(r.media.iter(), |m| m.format.as_deref()),
                    column(r.media.iter(), |m| m.title.as_str()),
                    column(r.media.iter(), |m| m.track_count),
                    column(r.media.iter(), MediumDetails::of),
                ],
            )
            .await?;
    }
    if !tracks.is_empty() {
        batch
            .add(
                "INSERT INTO track (mbid, release_mbid, medium_position, position, number, title, \
                   length_ms, recording_mbid, recording_relations) \
                 SELECT u.m, $1::uuid, u.mp, u.p, u.n, u.t, u.l, u.r, u.rr FROM unnest($2::uuid[], \
                   $3::int[], $4::int[], $5::text[], $6::text[], $7::int[], $8::uuid[], \
                   $9::jsonb[]) AS u(m, mp, p, n, t, l, r, rr) \
                 ON CONFLICT (mbid) DO UPDATE SET release_mbid = EXCLUDED.release_mbid, \
                   medium_position = EXCLUDED.medium_position, position = EXCLUDED.position, \
                   number = EXCLUDED.number, title = EXCLUDED.title, \
                   length_ms = EXCLUDED.length_ms, recording_mbid = EXCLUDED.recording_mbid, \
                   recording_relations = EXCLUDED.recording_relations",
                vec![
                    p(release),
                    column(tracks.iter(), |(_, t)| t.mbid.as_uuid()),
                    column(tracks.iter(), |(m, _)| *m),
                    column(tracks.iter(), |(_, t)| t.position),
                    column(tracks.iter(), |(_, t)| t.number.as_str()),
                    column(tracks.iter(), |(_, t)| t.title.as_str()),
                    column(tracks.iter(), |(_, t)| t.length_ms),
                    column(tracks.iter(), |(_, t)| t.recording.mbid.as_uuid()),
                    column(tracks.iter(), |(_, t)| details::track_relations(t)),
                ],
            )
            .await?;
    }
    Ok(())
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
                if upsert_release_group_row(tx, &stub).await? {
                    replace_stub_credits(tx, EntityType::ReleaseGroup, g.mbid, &g.artist_credit)
                        .await?;
                }
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

/// Stubs of credited artists (one row per MBID, see [`last_by_mbid`]).
async fn add_artist_stubs<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    artists: &[&'a ArtistRef],
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO artist (mbid, name, sort_name, disambiguation) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation \
             WHERE artist.fetched_at IS NULL",
            vec![
                column(artists.iter(), |a| a.mbid.as_uuid()),
                column(artists.iter(), |a| a.name.as_str()),
                column(artists.iter(), |a| a.sort_name.as_str()),
                column(artists.iter(), |a| a.disambiguation.as_str()),
            ],
        )
        .await
}

/// Stubs of a release's labels (one row per MBID, see [`last_by_mbid`]).
async fn add_label_stubs<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    labels: &[&'a LabelRef],
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO label (mbid, name, sort_name, disambiguation, label_code) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[]) \
             ON CONFLICT (mbid) DO UPDATE SET name = EXCLUDED.name, \
               sort_name = EXCLUDED.sort_name, disambiguation = EXCLUDED.disambiguation, \
               label_code = EXCLUDED.label_code \
             WHERE label.fetched_at IS NULL",
            vec![
                column(labels.iter(), |l| l.mbid.as_uuid()),
                column(labels.iter(), |l| l.name.as_str()),
                column(labels.iter(), |l| l.sort_name.as_str()),
                column(labels.iter(), |l| l.disambiguation.as_str()),
                column(labels.iter(), |l| l.label_code),
            ],
        )
        .await
}

/// Stubs of the recordings on a release's tracks (one row per MBID).
async fn add_recording_stubs<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    recordings: &[&'a RecordingRef],
) -> Result<(), DbError> {
    batch
        .add(
            "INSERT INTO recording (mbid, title, disambiguation, length_ms, video) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::bool[]) \
             ON CONFLICT (mbid) DO UPDATE SET title = EXCLUDED.title, \
               disambiguation = EXCLUDED.disambiguation, length_ms = EXCLUDED.length_ms, \
               video = EXCLUDED.video \
             WHERE recording.fetched_at IS NULL",
            vec![
                column(recordings.iter(), |r| r.mbid.as_uuid()),
                column(recordings.iter(), |r| r.title.as_str()),
                column(recordings.iter(), |r| r.disambiguation.as_str()),
                column(recordings.iter(), |r| r.length_ms),
                column(recordings.iter(), |r| r.video),
            ],
        )
        .await
}

/// Upserts a release group's stub row; true when the row is (still) a stub
/// (a fetched group is left alone, so nothing is written).
async fn upsert_release_group_row(
    tx: &impl GenericClient,
    g: &ReleaseGroupRef,
) -> Result<bool, DbError> {
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
    let written = tx
        .execute(
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
    Ok(written > 0)
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
    let mut batch = Batch::new(tx);
    let mut replaced = Credits::default();
    replaced.replace(owner.as_str(), mbid.as_uuid(), credits);
    replaced.write(&mut batch).await?;
    batch.run().await
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

/// The artist credits of one or more owners (a release and its tracks),
/// replaced together: every owner's old rows go, the new ones are written
/// with one statement, after the stubs of the artists they name.
#[derive(Default)]
struct Credits<'a> {
    owner_types: Vec<&'static str>,
    owners: Vec<Uuid>,
    // The new rows, column by column.
    entity_type: Vec<&'static str>,
    mbid: Vec<Uuid>,
    position: Vec<i32>,
    artist: Vec<Uuid>,
    credited_name: Vec<&'a str>,
    join_phrase: Vec<&'a str>,
    /// The artists named, for their stubs: the last seen of each MBID, in
    /// MBID order (as [`last_by_mbid`]).
    artists: BTreeMap<Uuid, &'a ArtistRef>,
}

impl<'a> Credits<'a> {
    /// `owner`'s credit becomes `credits` (none: it is cleared).
    fn replace(&mut self, owner_type: &'static str, owner: Uuid, credits: &'a [ArtistCredit]) {
        self.owner_types.push(owner_type);
        self.owners.push(owner);
        for (position, credit) in (0i32..).zip(credits) {
            self.entity_type.push(owner_type);
            self.mbid.push(owner);
            self.position.push(position);
            self.artist.push(credit.artist.mbid.as_uuid());
            self.credited_name.push(&credit.credited_name);
            self.join_phrase.push(&credit.join_phrase);
            self.artists
                .insert(credit.artist.mbid.as_uuid(), &credit.artist);
        }
    }

    async fn write<C: GenericClient>(self, batch: &mut Batch<'a, C>) -> Result<(), DbError> {
        if self.owners.is_empty() {
            return Ok(());
        }
        if !self.artists.is_empty() {
            let artists: Vec<&ArtistRef> = self.artists.into_values().collect();
            add_artist_stubs(batch, &artists).await?;
        }
        batch
            .add(
                "DELETE FROM artist_credit c USING unnest($1::text[], $2::uuid[]) AS o(t, m) \
                 WHERE c.entity_type = o.t AND c.mbid = o.m",
                vec![p(self.owner_types), p(self.owners)],
            )
            .await?;
        if self.mbid.is_empty() {
            return Ok(());
        }
        batch
            .add(
                "INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, \
                   credited_name, join_phrase) \
                 SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::uuid[], \
                   $5::text[], $6::text[])",
                vec![
                    p(self.entity_type),
                    p(self.mbid),
                    p(self.position),
                    p(self.artist),
                    p(self.credited_name),
                    p(self.join_phrase),
                ],
            )
            .await
    }
}

/// Replaces an entity's aliases, tags, genres and URL relations.
async fn replace_annotations<'a, C: GenericClient>(
    batch: &mut Batch<'a, C>,
    entity_type: EntityType,
    mbid: Mbid,
    a: &'a Annotations,
) -> Result<(), DbError> {
    let (t, m) = (entity_type.as_str(), mbid.as_uuid());
    batch
        .add(
            "WITH alias AS (DELETE FROM entity_alias WHERE entity_type = $1 AND mbid = $2), \
               tag AS (DELETE FROM entity_tag WHERE entity_type = $1 AND mbid = $2) \
             DELETE FROM entity_url WHERE entity_type = $1 AND mbid = $2",
            vec![p(t), p(m)],
        )
        .await?;
    if !a.aliases.is_empty() {
        let x = &a.aliases;
        batch
            .add(
                "INSERT INTO entity_alias (entity_type, mbid, position, name, sort_name, \
                   alias_type, locale, is_primary, begin_date, end_date, ended) \
                 SELECT $1::text, $2::uuid, u.* FROM unnest($3::int[], $4::text[], $5::text[], \
                   $6::text[], $7::text[], $8::bool[], $9::text[], $10::text[], $11::bool[]) AS u",
                vec![
                    p(t),
                    p(m),
                    p((0..x.len() as i32).collect::<Vec<_>>()),
                    column(x.iter(), |x| x.name.as_str()),
                    column(x.iter(), |x| x.sort_name.as_str()),
                    column(x.iter(), |x| x.alias_type.as_deref()),
                    column(x.iter(), |x| x.locale.as_deref()),
                    column(x.iter(), |x| x.primary),
                    column(x.iter(), |x| x.life_span.begin.as_deref()),
                    column(x.iter(), |x| x.life_span.end.as_deref()),
                    column(x.iter(), |x| x.life_span.ended),
                ],
            )
            .await?;
    }
    if !a.tags.is_empty() || !a.genres.is_empty() {
        let all = || {
            [("tag", &a.tags), ("genre", &a.genres)]
                .into_iter()
                .flat_map(|(kind, list)| (0i32..).zip(list).map(move |(i, x)| (kind, i, x)))
        };
        batch
            .add(
                "INSERT INTO entity_tag (entity_type, mbid, kind, position, name, count) \
                 SELECT $1::text, $2::uuid, u.* FROM unnest($3::text[], $4::int[], $5::text[], \
                   $6::int[]) AS u",
                vec![
                    p(t),
                    p(m),
                    p(all().map(|(kind, _, _)| kind).collect::<Vec<_>>()),
                    p(all().map(|(_, i, _)| i).collect::<Vec<_>>()),
                    p(all().map(|(_, _, x)| x.name.as_str()).collect::<Vec<_>>()),
                    p(all().map(|(_, _, x)| x.count).collect::<Vec<_>>()),
                ],
            )
            .await?;
    }
    if !a.urls.is_empty() {
        let x = &a.urls;
        batch
            .add(
                "INSERT INTO entity_url (entity_type, mbid, position, relation_type, url, \
                   begin_date, end_date, ended) \
                 SELECT $1::text, $2::uuid, u.* FROM unnest($3::int[], $4::text[], $5::text[], \
                   $6::text[], $7::text[], $8::bool[]) AS u",
                vec![
                    p(t),
                    p(m),
                    p((0..x.len() as i32).collect::<Vec<_>>()),
                    column(x.iter(), |x| x.relation_type.as_str()),
                    column(x.iter(), |x| x.url.as_str()),
                    column(x.iter(), |x| x.life_span.begin.as_deref()),
                    column(x.iter(), |x| x.life_span.end.as_deref()),
                    column(x.iter(), |x| x.life_span.ended),
                ],
            )
            .await?;
    }
    Ok(())
}
