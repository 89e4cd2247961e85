//! `ingest-worker rederive`: fills what a newer version of the typed tables
//! keeps (the `details` columns of migration V10: relationships, ratings,
//! release events, disc IDs, ...) for rows stored before it, from the ws/2
//! document each row keeps in `raw`. MusicBrainz is not asked again and
//! `fetched_at` is left alone, so freshness is unchanged.
//!
//! Works in batches, each one transaction with its rows locked (`SKIP
//! LOCKED`), so it may run beside workers and in several processes at
//! once; stopped, it goes on where it was on the next run. A row whose
//! document no longer reads as its entity is counted and skipped (its next
//! refresh replaces it).

use std::fmt;

use deadpool_postgres::Pool;
use musicmeta_musicbrainz::model::parse_entity;
use musicmeta_shared::db::{DbError, rederive};
use musicmeta_shared::mbid::EntityType;
use tracing::warn;

/// Rows per transaction.
const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rederived {
    pub rows: u64,
    pub skipped: u64,
}

impl fmt::Display for Rederived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rederived {} row(s), skipped {} whose document did not read",
            self.rows, self.skipped
        )
    }
}

pub async fn run(pool: &Pool) -> Result<Rederived, DbError> {
    let mut done = Rederived::default();
    let mut client = pool.get().await?;
    for entity_type in EntityType::ALL {
        loop {
            let tx = client.transaction().await?;
            let rows = rederive::pending(&tx, entity_type, BATCH).await?;
            if rows.is_empty() {
                break;
            }
            for (mbid, raw) in rows {
                match parse_entity(entity_type, raw.as_bytes()) {
                    Ok(entity) => {
                        rederive::write(&tx, mbid, &entity).await?;
                        done.rows += 1;
                    }
                    Err(error) => {
                        warn!(%entity_type, %mbid, %error, "stored document does not read; skipped");
                        rederive::skip(&tx, entity_type, mbid).await?;
                        done.skipped += 1;
                    }
                }
            }
            tx.commit().await?;
        }
    }
    Ok(done)
}
