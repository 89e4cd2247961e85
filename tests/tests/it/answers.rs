//! Stored answers (migration V13): a cached read is one probe of the answer
//! built on the first read, and no write ever leaves an answer that differs
//! from what the tables now say.

use std::time::{Duration, Instant};

use musicmeta_proto::v1 as pb;
use musicmeta_query_api::hot::Hot;
use musicmeta_shared::db::answers::Answerable;
use musicmeta_shared::db::{self, EntityRepository, PgStore};
use musicmeta_shared::domain::{Artist, Label, Recording, Release, ReleaseGroup};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::fixtures;
use prost::Message;

use crate::store::{Step, steps, store_step};

/// Every fetched entity in the cache.
async fn cached(db: &TestDatabase) -> Vec<(EntityType, Mbid)> {
    let rows = db
        .connect()
        .await
        .query(
            "SELECT 'artist', mbid FROM artist WHERE fetched_at IS NOT NULL \
             UNION ALL SELECT 'label', mbid FROM label WHERE fetched_at IS NOT NULL \
             UNION ALL SELECT 'recording', mbid FROM recording WHERE fetched_at IS NOT NULL \
             UNION ALL SELECT 'release-group', mbid FROM release_group \
               WHERE fetched_at IS NOT NULL \
             UNION ALL SELECT 'release', mbid FROM release WHERE fetched_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let kind: String = r.get(0);
            (kind.parse().unwrap(), Mbid::from_uuid(r.get(1)))
        })
        .collect()
}

/// Checks the stored answer of `T` `mbid` against a build from the tables
/// now, and builds one where there is none; `Err` names a stale answer.
async fn check<T>(store: &PgStore, pool: &deadpool_postgres::Pool, mbid: Mbid) -> Result<(), String>
where
    T: Answerable + Hot,
    PgStore: EntityRepository<T>,
{
    let Some(stored) = EntityRepository::<T>::find_answer(store, mbid)
        .await
        .unwrap()
    else {
        store
            .build_answer(mbid, T::encode)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} {mbid} is cached but built no answer", T::TYPE));
        return Ok(());
    };
    let client = pool.get().await.unwrap();
    let fresh = T::read(&client, mbid).await.unwrap().unwrap();
    if stored.body != T::encode(fresh.entity) || stored.fetched_at != fresh.fetched_at {
        return Err(format!("{} {mbid}", T::TYPE));
    }
    Ok(())
}

/// Checks every cached entity's stored answer ([`check`]); the stale ones.
async fn check_all(
    db: &TestDatabase,
    store: &PgStore,
    pool: &deadpool_postgres::Pool,
    checked: &mut usize,
) -> Vec<String> {
    let mut stale = Vec::new();
    for (kind, mbid) in cached(db).await {
        let result = match kind {
            EntityType::Artist => check::<Artist>(store, pool, mbid).await,
            EntityType::Label => check::<Label>(store, pool, mbid).await,
            EntityType::Recording => check::<Recording>(store, pool, mbid).await,
            EntityType::ReleaseGroup => check::<ReleaseGroup>(store, pool, mbid).await,
            EntityType::Release => check::<Release>(store, pool, mbid).await,
        };
        match result {
            Ok(()) => *checked += 1,
            Err(which) => stale.push(which),
        }
    }
    stale
}

#[tokio::test]
async fn no_write_leaves_a_stored_answer_that_differs_from_the_tables() {
    let db = TestDatabase::migrated().await;
    let pool = db::build_pool(&db.config()).unwrap();
    let store = PgStore::new(pool.clone());
    let steps = steps();
    let (mut checked, mut lookups) = (0, 0);
    for (n, step) in steps.iter().enumerate() {
        if !store_step(&store, step).await {
            continue;
        }
        lookups += usize::from(matches!(step, Step::Lookup(..)));
        let stale = check_all(&db, &store, &pool, &mut checked).await;
        assert!(
            stale.is_empty(),
            "after step {n}, stale stored answers: {stale:?}"
        );
    }
    // Then edits of what answers embed, by any writer (plain SQL here):
    // names of rows that others show (stubs among them), the credits a
    // release shows of its tracks' recordings and of its group, which
    // change apart from their owner's row, and list states.
    let client = db.connect().await;
    for (what, embedded, edit) in [
        (
            "artist",
            "SELECT DISTINCT artist_mbid FROM artist_credit ORDER BY 1 LIMIT 4",
            "UPDATE artist SET name = name || ' (edited)' WHERE mbid = $1",
        ),
        (
            "label",
            "SELECT DISTINCT label_mbid FROM release_label ORDER BY 1 LIMIT 4",
            "UPDATE label SET name = name || ' (edited)' WHERE mbid = $1",
        ),
        (
            "recording",
            "SELECT DISTINCT recording_mbid FROM track ORDER BY 1 LIMIT 4",
            "UPDATE recording SET title = title || ' (edited)' WHERE mbid = $1",
        ),
        (
            "release group",
            "SELECT DISTINCT release_group_mbid FROM release ORDER BY 1 LIMIT 4",
            "UPDATE release_group SET title = title || ' (edited)' WHERE mbid = $1",
        ),
        (
            "release",
            "SELECT mbid FROM release ORDER BY 1 LIMIT 4",
            "UPDATE release SET title = title || ' (edited)' WHERE mbid = $1",
        ),
        (
            "a credit of a recording on a track",
            "SELECT DISTINCT recording_mbid FROM track ORDER BY 1 LIMIT 2",
            "INSERT INTO artist_credit (entity_type, mbid, position, artist_mbid, credited_name) \
             SELECT 'recording', $1, 1000, artist_mbid, 'Inserted' FROM artist_credit LIMIT 1",
        ),
        (
            "a track's credit",
            "SELECT DISTINCT mbid FROM artist_credit WHERE entity_type = 'track' ORDER BY 1 LIMIT 2",
            "UPDATE artist_credit SET credited_name = credited_name || ' (edited)' \
             WHERE entity_type = 'track' AND mbid = $1",
        ),
        (
            "a release group's credit",
            "SELECT DISTINCT c.mbid FROM artist_credit c JOIN release r ON r.release_group_mbid = c.mbid \
             WHERE c.entity_type = 'release-group' ORDER BY 1 LIMIT 4",
            "DELETE FROM artist_credit WHERE entity_type = 'release-group' AND mbid = $1",
        ),
    ] {
        let rows = client.query(embedded, &[]).await.unwrap();
        assert!(!rows.is_empty(), "no {what} is embedded anywhere");
        for row in rows {
            let id: uuid::Uuid = row.get(0);
            assert!(client.execute(edit, &[&id]).await.unwrap() > 0);
            let stale = check_all(&db, &store, &pool, &mut checked).await;
            assert!(stale.is_empty(), "after editing {what} {id}: {stale:?}");
        }
    }
    let flipped = client
        .execute("UPDATE aggregate_state SET complete = NOT complete", &[])
        .await
        .unwrap();
    assert!(flipped > 0, "no list state to flip");
    let stale = check_all(&db, &store, &pool, &mut checked).await;
    assert!(stale.is_empty(), "after flipping list states: {stale:?}");
    assert!(lookups > 60, "only {lookups} lookups stored");
    assert!(checked > 2_000, "only {checked} answers compared");
}

#[tokio::test]
async fn a_build_that_meets_a_write_waits_for_it_and_reads_what_it_committed() {
    let db = TestDatabase::migrated().await;
    let pool = db::build_pool(&db.config()).unwrap();
    let store = PgStore::new(pool.clone());
    // One release with a credited artist, stored as a worker stores it;
    // its answer built.
    let body = fixtures::read("release/7c07f9a1-381f-4c00-8d17-2acc537597f8.json");
    assert!(store_step(&store, &Step::Lookup(EntityType::Release, body)).await);
    let mbid = Mbid::parse("7c07f9a1-381f-4c00-8d17-2acc537597f8").unwrap();
    let built = store
        .build_answer(mbid, Release::encode)
        .await
        .unwrap()
        .unwrap();
    let credited = pb::Release::decode(built.body.clone())
        .unwrap()
        .artist_credit[0]
        .artist
        .clone()
        .unwrap();
    assert_ne!(credited.name, "Renamed in a write");

    // A write renames the credited artist and holds its transaction open.
    let mut writer = db.connect().await;
    let write = writer.transaction().await.unwrap();
    let renamed = write
        .execute(
            "UPDATE artist SET name = 'Renamed in a write' WHERE mbid = $1",
            &[&uuid::Uuid::parse_str(&credited.mbid).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(renamed, 1);
    assert!(
        EntityRepository::<Release>::find_answer(&store, mbid)
            .await
            .unwrap()
            .is_some(),
        "voided before the commit"
    );

    // A read finds the answer voided once the write commits; a build that
    // starts now must wait for the write's lock on the answer row.
    let building = tokio::spawn({
        let store = store.clone();
        async move { store.build_answer(mbid, Release::encode).await }
    });
    let watcher = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build never waited for the write"
        );
        tokio::task::yield_now().await;
    }
    write.commit().await.unwrap();

    let rebuilt = building.await.unwrap().unwrap().unwrap();
    let credit = pb::Release::decode(rebuilt.body.clone())
        .unwrap()
        .artist_credit[0]
        .artist
        .clone()
        .unwrap();
    assert_eq!(credit.name, "Renamed in a write");
    assert_eq!(
        EntityRepository::<Release>::find_answer(&store, mbid)
            .await
            .unwrap(),
        Some(rebuilt)
    );
    // The write voided the answer in its own transaction, too: checked by
    // the stale-answer test; here, what a racing build stores.
    let rows: i64 = db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM stored_answer WHERE body IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}
