//! PostgreSQL: the connection pool, embedded migrations and the repositories.
//!
//! - [`connection`]: running statements on a pooled connection, replacing
//!   one the server has closed.
//! - [`migrate`]: refinery migrations from `migrations/`, embedded in the
//!   binaries and run under an advisory lock.
//! - [`repository`]: the traits the cache policy depends on, one per aggregate.
//! - [`read`]: loading cached entities with their nested data.
//! - [`answers`]: each entity's finished answer, one probe to read, voided
//!   by triggers whenever what it embeds changes.
//! - [`write`]: idempotent upserts of fetched entities, one transaction each.
//! - [`outcome`]: negative cache, recorded redirects, fill notifications.
//! - [`redirects`]: following merged MBIDs, one rule for every reader.
//! - [`browse`], [`search`]: paged lists and ranked name search over the cache.
//! - [`outbox`]: jobs staged with their claim until the broker confirms them.
//! - [`documents`]: the ws/2 documents the HTTP API answers from.
//! - [`replicas`]: reading from streaming replicas, never older than a fill
//!   this process has heard of.
//!
//! All SQL is parameterized; no value is ever formatted into a statement.

pub mod answers;
pub mod browse;
pub mod connection;
mod details;
pub mod documents;
pub mod dumps;
pub mod migrate;
pub mod outbox;
pub mod outcome;
pub mod read;
pub mod rederive;
pub mod redirects;
pub mod replicas;
pub mod repository;
pub mod search;
pub mod write;

use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, PoolConfig, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::error::SqlState;

use crate::config::{ConfigError, DatabaseConfig};

pub use connection::with_client;
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

    /// True when PostgreSQL aborted the transaction to break a deadlock
    /// (SQLSTATE 40P01): the same transaction, run again, may well succeed.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, DbError::Query(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED))
    }

    /// True when the connection itself is gone, whatever the statement:
    /// closed, broken in transit, or ended by the server (SQLSTATE 57P01
    /// `admin_shutdown`, 57P02 `crash_shutdown`, class 08 connection
    /// exception). Another connection may well work ([`with_client`]).
    pub fn is_connection_lost(&self) -> bool {
        let DbError::Query(e) = self else {
            return false;
        };
        match e.as_db_error() {
            Some(db) => {
                let code = db.code();
                *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CRASH_SHUTDOWN
                    || code.code().starts_with("08")
            }
            None => {
                e.is_closed()
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
            }
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
    // No round trip per checkout; a connection the server closed unseen is
    // replaced by `with_client` instead (see `connection`).
    cfg.manager = Some(ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    });
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

/// Checks that `url` (the value of `key`) is one the pool can use — it parses (a port in range,
/// known parameters), its `sslmode` is supported and its `sslrootcert`
/// readable — so a bad URL stops start-up as a configuration mistake naming
/// `key`, before anything connects. No part of the URL is quoted back: it
/// may hold the password.
pub fn check_url(key: &'static str, url: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { key, reason };
    let tls = crate::tls::postgres(url).map_err(|e| invalid(e.to_string()))?;
    tls.url
        .parse::<tokio_postgres::Config>()
        .map_err(|e| match std::error::Error::source(&e) {
            Some(cause) => invalid(format!("{e}: {cause}")),
            None => invalid(e.to_string()),
        })?;
    Ok(())
}

/// Takes one connection from the pool, so start-up fails with a clear error
/// when the database is unreachable.
pub async fn check(pool: &Pool) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}
