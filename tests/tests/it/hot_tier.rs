//! The hot tier answers repeated lookups without the database, and a
//! worker's commit (its NOTIFY) evicts the copy at once.

use std::time::Duration;

use musicmeta_musicbrainz::parse_entity;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::db::{self, write};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::notify;
use musicmeta_tests::{TestApp, TestOptions, fixtures};

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

async fn label_name(app: &TestApp) -> String {
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .expect("label answered")
        .into_inner()
        .label
        .unwrap()
        .name
}

/// Caches the recorded label without a NOTIFY, so no eviction is in flight
/// when the test starts.
async fn cache_label(app: &TestApp) {
    let body = std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap();
    let entity = parse_entity(EntityType::Label, &body).unwrap();
    let pool = db::build_pool(&app.db.config()).unwrap();
    let mut client = pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    write::upsert_entity(&tx, &entity, &serde_json::json!({}), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Renames the cached label behind query-api's back (no NOTIFY).
async fn rename_quietly(app: &TestApp, name: &str) {
    app.db
        .connect()
        .await
        .execute(
            "UPDATE label SET name = $1 WHERE mbid = $2",
            &[&name, &uuid::Uuid::parse_str(LABEL).unwrap()],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn hot_copies_are_served_until_a_commit_notifies_them() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        // Longer than the test: only the eviction can end the copy.
        env: vec![("MUSICMETA_CACHE__HOT_TTL_SECS".into(), "3600".into())],
        ..TestOptions::default()
    })
    .await;
    cache_label(&app).await;
    let original = label_name(&app).await;

    rename_quietly(&app, "Renamed Quietly").await;
    assert_eq!(
        label_name(&app).await,
        original,
        "a hot lookup does not read the database"
    );

    // What a worker's commit sends for the entity it stored.
    let payload = notify::payload(EntityType::Label, Mbid::parse(LABEL).unwrap());
    app.db
        .connect()
        .await
        .execute("SELECT pg_notify($1, $2)", &[&notify::CHANNEL, &payload])
        .await
        .unwrap();
    // The notification reaches query-api's listener asynchronously.
    let evicted = async {
        while label_name(&app).await != "Renamed Quietly" {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), evicted)
        .await
        .expect("the notified copy is evicted");
}

#[tokio::test]
async fn with_the_hot_tier_off_every_lookup_reads_the_database() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        env: vec![("MUSICMETA_CACHE__HOT_CAPACITY_MB".into(), "0".into())],
        ..TestOptions::default()
    })
    .await;
    cache_label(&app).await;
    label_name(&app).await;
    rename_quietly(&app, "Renamed Quietly").await;
    assert_eq!(label_name(&app).await, "Renamed Quietly");
}
