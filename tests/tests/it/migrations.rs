//! Embedded migrations: applied once, a no-op when current, and safe when
//! two processes run them at the same time.

use musicmeta_shared::db;
use musicmeta_tests::database::TestDatabase;

#[tokio::test]
async fn concurrent_migrations_apply_each_version_once() {
    let database = TestDatabase::empty().await;
    let a = db::build_pool(&database.config()).unwrap();
    let b = db::build_pool(&database.config()).unwrap();
    let (ra, rb) = tokio::join!(db::migrate::run(&a), db::migrate::run(&b));
    let (ra, rb) = (ra.expect("first migrator"), rb.expect("second migrator"));
    assert!(
        ra.is_empty() != rb.is_empty(),
        "exactly one process applies the migrations: {ra:?} / {rb:?}"
    );
    let applied = if ra.is_empty() { rb } else { ra };
    assert_eq!(applied.first(), Some(&1));
    let history = database
        .count("SELECT count(*) FROM refinery_schema_history")
        .await;
    assert_eq!(history, applied.len() as i64);
    assert_eq!(
        database
            .count("SELECT count(DISTINCT version) FROM refinery_schema_history")
            .await,
        history
    );
    // Nothing pending: a no-op.
    assert!(db::migrate::run(&a).await.unwrap().is_empty());
}
