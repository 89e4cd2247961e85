//! Embedded refinery migrations, applied under a PostgreSQL advisory lock so
//! that two processes migrating at once (two replicas starting together)
//! take turns instead of racing on the history table.

use deadpool_postgres::Pool;
use tracing::info;

use super::DbError;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Arbitrary but fixed: "musicmeta" in ASCII, truncated to fit an i64.
const MIGRATION_LOCK_KEY: i64 = 0x6d75_7369_636d_6574;

/// Applies pending migrations and returns the versions applied (empty when
/// the schema was already current).
pub async fn run(pool: &Pool) -> Result<Vec<i32>, DbError> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let result = embedded::migrations::runner()
        .run_async(&mut **client)
        .await;
    // Unlock even when migrating failed; the lock also dies with the session.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let report = result?;
    unlocked?;
    let applied: Vec<i32> = report
        .applied_migrations()
        .iter()
        .map(|m| m.version())
        .collect();
    info!(applied = ?applied, "migrations done");
    Ok(applied)
}
