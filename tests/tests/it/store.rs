//! Storing, straight through the `EntityWriter` (no queue, no worker): every
//! recorded lookup and browse page, mixed so that stubs meet fetched rows
//! both ways round, then all of it again — which must change nothing.

use std::path::{Path, PathBuf};

use musicmeta_musicbrainz::model::{parse_browse, parse_entity};
use musicmeta_shared::catalog::Relation;
use musicmeta_shared::db::{self, EntityWriter, PgStore};
use musicmeta_shared::domain::{Document, Entity, FetchOutcome};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::fixtures;

/// A lookup to store, or a browse page of `relation` under `parent`.
pub(crate) enum Step {
    Lookup(EntityType, Vec<u8>),
    Browse {
        parent: (EntityType, Mbid),
        relation: Relation,
        item_type: EntityType,
        body: Vec<u8>,
    },
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

/// The full MBID of a recorded artist or label whose id starts with `prefix`,
/// else one made up from it.
fn parent_mbid(entity_type: EntityType, prefix: &str) -> Mbid {
    json_files(&fixtures::dir().join(entity_type.as_str()))
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .split('.')
                .next()
                .map(str::to_owned)
        })
        .find(|name| name.starts_with(prefix))
        .and_then(|name| Mbid::parse(&name).ok())
        .unwrap_or_else(|| {
            Mbid::from_uuid(uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                prefix.as_bytes(),
            ))
        })
}

/// Releases first (their credits, tracks and labels make stubs that the
/// later lookups fill), the rest interleaved, browse pages in between.
pub(crate) fn steps() -> Vec<Step> {
    let dir = fixtures::dir();
    let mut steps = Vec::new();
    for entity_type in [
        EntityType::Release,
        EntityType::Artist,
        EntityType::ReleaseGroup,
        EntityType::Recording,
        EntityType::Label,
    ] {
        for path in json_files(&dir.join(entity_type.as_str())) {
            steps.push(Step::Lookup(entity_type, std::fs::read(path).unwrap()));
        }
    }
    for path in json_files(&dir.join("edge")) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let entity_type = match name.split('_').next().unwrap() {
            "artist" => EntityType::Artist,
            "recording" => EntityType::Recording,
            "release" if name.starts_with("release_group") => EntityType::ReleaseGroup,
            "release" | "media" | "track" | "wrtag" => EntityType::Release,
            _ => continue,
        };
        steps.push(Step::Lookup(entity_type, std::fs::read(&path).unwrap()));
    }
    for path in json_files(&dir.join("browse")) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let (item_type, relation, parent_type, rest) =
            if let Some(rest) = name.strip_prefix("release-group-by-artist-") {
                let r = Relation::ReleaseGroups;
                (EntityType::ReleaseGroup, r, EntityType::Artist, rest)
            } else if let Some(rest) = name.strip_prefix("release-by-label-") {
                (
                    EntityType::Release,
                    Relation::Releases,
                    EntityType::Label,
                    rest,
                )
            } else if let Some(rest) = name.strip_prefix("recording-by-artist-") {
                let r = Relation::Recordings;
                (EntityType::Recording, r, EntityType::Artist, rest)
            } else {
                continue;
            };
        let parent = (parent_type, parent_mbid(parent_type, &rest[..8]));
        let step = Step::Browse {
            parent,
            relation,
            item_type,
            body: std::fs::read(&path).unwrap(),
        };
        // Between the lookups, so browsed stubs meet fetched rows and the
        // other way round.
        let at = (steps.len() * 7 / 11).min(steps.len());
        steps.insert(at, step);
    }
    steps
}

/// Stores one step as the worker would; false when its body does not parse
/// (some recordings are error pages).
pub(crate) async fn store_step(store: &PgStore, step: &Step) -> bool {
    match step {
        Step::Lookup(entity_type, body) => {
            let Ok(entity) = parse_entity(*entity_type, body) else {
                return false;
            };
            // Stored as received, as the worker stores a response.
            let raw = Document::new(body.clone());
            let mbid = entity.mbid();
            store
                .store(
                    *entity_type,
                    mbid,
                    FetchOutcome::Found {
                        entity,
                        document: raw,
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("storing {entity_type} {mbid}: {e}"));
        }
        Step::Browse {
            parent,
            relation,
            item_type,
            body,
        } => {
            let Ok(page) = parse_browse(*item_type, body) else {
                return false;
            };
            store
                .store_browse_page(*parent, *relation, &page.items, page.received, page.total)
                .await
                .unwrap_or_else(|e| panic!("storing a browse page under {parent:?}: {e}"));
        }
    }
    true
}

async fn store_all(store: &PgStore, steps: &[Step]) -> usize {
    let mut stored = 0;
    for step in steps {
        if store_step(store, step).await {
            stored += 1;
        }
    }
    stored
}

#[tokio::test]
async fn every_recording_stored_again_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let store = PgStore::new(db::build_pool(&db.config()).unwrap());
    let steps = steps();
    let stored = store_all(&store, &steps).await;
    assert!(stored > 80, "only {stored} recordings stored");
    // A merged MBID and a 404, as the worker records them.
    let body = fixtures::read("release/7c07f9a1-381f-4c00-8d17-2acc537597f8.json");
    let release = parse_entity(EntityType::Release, &body).unwrap();
    let merged = Mbid::parse("0d3b2e6a-8f0e-4c52-9d38-3f7e5c1b2a90").unwrap();
    let raw = Document::new(body);
    store
        .store(
            EntityType::Release,
            merged,
            FetchOutcome::Found {
                entity: release,
                document: raw,
            },
        )
        .await
        .unwrap();
    let missing = Mbid::parse("f0c3a1d2-4b5e-4f60-8a71-9b2c3d4e5f60").unwrap();
    store
        .store(EntityType::Artist, missing, FetchOutcome::NotFound)
        .await
        .unwrap();

    let first = db.snapshot().await;
    for table in [
        "track",
        "artist_credit",
        "medium",
        "release_label",
        "entity_alias",
    ] {
        assert!(
            first.iter().any(|r| r.starts_with(&format!("{table}: "))),
            "no {table} rows"
        );
    }
    // A stub never overwrites a fetched row: every fetched entity still
    // holds the fields of its own lookup after everything else was stored.
    let fetched = db
        .count("SELECT count(*) FROM artist WHERE fetched_at IS NOT NULL AND raw->>'name' <> name")
        .await;
    assert_eq!(fetched, 0, "a fetched artist's name was overwritten");

    store_all(&store, &steps).await;
    assert_eq!(db.snapshot().await, first);
}

/// What the `details` columns carry, per entity: relationships (with the
/// nested work-level ones on tracks), annotation, rating, IPIs/ISNIs, areas,
/// release events, ASIN, quality, disc IDs, pregap and data tracks.
fn details(e: &Entity) -> String {
    match e {
        Entity::Artist(a) => format!(
            "{:?}",
            (
                &a.annotations.relations,
                &a.annotations.annotation,
                &a.annotations.rating,
                &a.ipis,
                &a.isnis,
                &a.begin_area,
                &a.end_area
            )
        ),
        Entity::Label(l) => format!(
            "{:?}",
            (
                &l.annotations.relations,
                &l.annotations.annotation,
                &l.annotations.rating,
                &l.ipis,
                &l.isnis
            )
        ),
        Entity::Recording(r) => format!(
            "{:?}",
            (
                &r.annotations.relations,
                &r.annotations.annotation,
                &r.annotations.rating
            )
        ),
        Entity::ReleaseGroup(g) => format!(
            "{:?}",
            (
                &g.annotations.relations,
                &g.annotations.annotation,
                &g.annotations.rating
            )
        ),
        Entity::Release(r) => {
            let media: Vec<_> = r
                .media
                .iter()
                .map(|m| {
                    let tracks: Vec<_> = m.tracks.iter().map(|t| &t.recording.relations).collect();
                    (&m.discs, &m.pregap, &m.data_tracks, tracks)
                })
                .collect();
            format!(
                "{:?}",
                (
                    &r.annotations.relations,
                    &r.annotations.annotation,
                    &r.release_events,
                    &r.asin,
                    &r.quality,
                    media
                )
            )
        }
    }
}

#[tokio::test]
async fn every_recorded_detail_reads_back_as_parsed() {
    let db = TestDatabase::migrated().await;
    let store = PgStore::new(db::build_pool(&db.config()).unwrap());
    let mut relations = 0;
    for step in steps() {
        let Step::Lookup(entity_type, body) = step else {
            continue;
        };
        let Ok(entity) = parse_entity(entity_type, &body) else {
            continue;
        };
        let mbid = entity.mbid();
        let want = details(&entity);
        relations += want.matches("Relation {").count();
        store
            .store(
                entity_type,
                mbid,
                FetchOutcome::Found {
                    entity,
                    document: Document::new(body),
                },
            )
            .await
            .unwrap();
        let client = store.pool().get().await.unwrap();
        let got = match entity_type {
            EntityType::Artist => db::read::artist(&client, mbid)
                .await
                .unwrap()
                .map(|c| Entity::Artist(c.entity)),
            EntityType::Label => db::read::label(&client, mbid)
                .await
                .unwrap()
                .map(|c| Entity::Label(c.entity)),
            EntityType::Recording => db::read::recording(&client, mbid)
                .await
                .unwrap()
                .map(|c| Entity::Recording(c.entity)),
            EntityType::ReleaseGroup => db::read::release_group(&client, mbid)
                .await
                .unwrap()
                .map(|c| Entity::ReleaseGroup(c.entity)),
            EntityType::Release => db::read::release(&client, mbid)
                .await
                .unwrap()
                .map(|c| Entity::Release(Box::new(c.entity))),
        };
        let got = got.unwrap_or_else(|| panic!("{entity_type} {mbid} was not read back"));
        assert_eq!(details(&got), want, "{entity_type} {mbid}");
    }
    assert!(relations > 1000, "only {relations} relationships stored");
}

/// Rows stored by a version before the details columns (V10) get them from
/// their own stored document, without MusicBrainz and without their
/// freshness changing; a document that no longer reads is skipped.
#[tokio::test]
async fn rederive_fills_details_of_rows_stored_before_them() {
    let db = TestDatabase::migrated().await;
    let pool = db::build_pool(&db.config()).unwrap();
    let store = PgStore::new(pool.clone());
    store_all(&store, &steps()).await;
    let want = db.snapshot().await;

    let client = db.connect().await;
    client
        .batch_execute(
            "UPDATE artist SET details = NULL; UPDATE label SET details = NULL; \
             UPDATE recording SET details = NULL; UPDATE release_group SET details = NULL; \
             UPDATE release SET details = NULL; UPDATE medium SET details = NULL; \
             UPDATE track SET recording_relations = NULL",
        )
        .await
        .unwrap();
    assert_ne!(db.snapshot().await, want, "nothing was cleared");
    let fetched = db
        .count("SELECT count(*) FROM artist WHERE fetched_at IS NOT NULL")
        .await
        + db.count("SELECT count(*) FROM label WHERE fetched_at IS NOT NULL")
            .await
        + db.count("SELECT count(*) FROM recording WHERE fetched_at IS NOT NULL")
            .await
        + db.count("SELECT count(*) FROM release_group WHERE fetched_at IS NOT NULL")
            .await
        + db.count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
            .await;

    let done = musicmeta_ingest_worker::rederive::run(&pool).await.unwrap();
    assert_eq!(done.rows, fetched as u64);
    assert_eq!(done.skipped, 0);
    assert_eq!(db.snapshot().await, want);
    // Run again: nothing left to do.
    let again = musicmeta_ingest_worker::rederive::run(&pool).await.unwrap();
    assert_eq!((again.rows, again.skipped), (0, 0));

    // A row whose document does not read is skipped, once.
    client
        .batch_execute(
            "UPDATE artist SET details = NULL, raw = '{\"error\": \"edited\"}' \
             WHERE mbid = (SELECT mbid FROM artist WHERE fetched_at IS NOT NULL LIMIT 1)",
        )
        .await
        .unwrap();
    let done = musicmeta_ingest_worker::rederive::run(&pool).await.unwrap();
    assert_eq!((done.rows, done.skipped), (0, 1));
    let again = musicmeta_ingest_worker::rederive::run(&pool).await.unwrap();
    assert_eq!((again.rows, again.skipped), (0, 0));
}
