//! PostgreSQL: the connection pool, embedded migrations and the repositories.
//!
//! - [`migrate`]: refinery migrations from `migrations/`, embedded in the
//!   binaries and run under an advisory lock.
//! - [`repository`]: the traits the cache policy depends on, one per aggregate.
//! - [`read`]: loading cached entities with their nested data.
//! - [`write`]: idempotent upserts of fetched entities, one transaction each.
//! - [`outcome`]: negative cache, recorded redirects, fill notifications.
//! - [`redirects`]: following merged MBIDs, one rule for every reader.
//! - [`browse`], [`search`]: paged lists and ranked name search over the cache.
//! - [`outbox`]: jobs staged with their claim until the broker confirms them.
//! - [`documents`]: the ws/2 documents the HTTP API answers from.
//!
//! All SQL is parameterized; no value is ever formatted into a statement.

pub mod browse;
pub mod documents;
pub mod migrate;
pub mod outbox;
pub mod outcome;
pub mod read;
pub mod redirects;
pub mod repository;
pub mod search;
pub mod write;

use std::time::Duration;

use deadpool_postgres::{Pool, PoolConfig, Runtime, Timeouts};

use crate::config::DatabaseConfig;

pub use repository::{
    CacheStateRepository, CatalogRepository, DocumentRepository, EntityRepository, EntityWriter,
    PgStore,
};

/// A document goes to a `json`/`jsonb` column as the bytes it came in:
/// PostgreSQL parses it once, where a `serde_json::Value` would cost the
/// worker a parse, a print and hundreds of small allocations per release.
impl tokio_postgres::types::ToSql for crate::domain::Document {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // jsonb's binary format is a version byte and the JSON text.
        if *ty == tokio_postgres::types::Type::JSONB {
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(self.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    tokio_postgres::types::accepts!(JSON, JSONB);
    tokio_postgres::types::to_sql_checked!();
}

/// A database failure, as the layers above need to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time: the database is down or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("database pool misconfigured: {0}")]
    Config(#[from] deadpool_postgres::CreatePoolError),
    /// `sslmode`/`sslrootcert` in the URL cannot be applied.
    #[error("database TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    /// A row that the schema's constraints should have prevented.
    #[error("inconsistent data: {0}")]
    Inconsistent(String),
}

impl DbError {
    /// True when retrying later may succeed (connection lost or refused).
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Unavailable(_) => true,
            DbError::Query(e) => match e.as_db_error() {
                // No server error: the connection broke.
                None => true,
                // SQLSTATE classes that heal: connection exception (08),
                // transaction rollback such as deadlock (40), insufficient
                // resources (53), operator intervention such as shutdown (57).
                Some(db) => matches!(&db.code().code()[..2], "08" | "40" | "53" | "57"),
            },
            _ => false,
        }
    }
}

/// Builds the pool. Building never connects; call [`check`] to fail fast.
/// Connections use TLS as the URL's `sslmode` asks ([`crate::tls::postgres`]).
pub fn build_pool(config: &DatabaseConfig) -> Result<Pool, DbError> {
    let timeout = Some(Duration::from_millis(config.timeout_ms));
    let tls = crate::tls::postgres(&config.url)?;
    let mut cfg = deadpool_postgres::Config::new();
    cfg.url = Some(tls.url);
    cfg.pool = Some(PoolConfig {
        max_size: config.max_connections,
        timeouts: Timeouts {
            wait: timeout,
            create: timeout,
            recycle: timeout,
        },
        ..PoolConfig::default()
    });
    Ok(cfg.create_pool(Some(Runtime::Tokio1), tls.connector)?)
}

/// Takes one connection from the pool, so start-up fails with a clear error
/// when the database is unreachable.
pub async fn check(pool: &Pool) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}
