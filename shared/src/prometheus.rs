//! Prometheus metrics: one recorder per process (the `metrics` facade is
//! global), served as text at `GET /metrics` on `metrics.listen_addr`.
//!
//! Metric names (all prefixed `musicmeta_`) are declared in [`names`], so
//! the code that records them and the docs agree on one list.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The metric names.
pub mod names {
    /// Lookups by `method` and `outcome` (fresh, stale, filled, queued,
    /// not_found, upstream_failed, invalid, unavailable).
    pub const LOOKUPS: &str = "musicmeta_lookups_total";
    /// How long a miss waited for its fill, seconds.
    pub const MISS_WAIT: &str = "musicmeta_miss_wait_seconds";
    /// Jobs published by `lane` and `result` (ok, error).
    pub const JOBS_PUBLISHED: &str = "musicmeta_jobs_published_total";
    /// Jobs a worker finished, by `lane` and `outcome` (stored, not_found,
    /// already_fresh, dead_lettered, requeued).
    pub const JOBS_CONSUMED: &str = "musicmeta_jobs_consumed_total";
    /// Fills that failed for good and are remembered for
    /// `cache.failure_ttl_secs`, by `kind` (an entity type, or `document`).
    pub const FILL_FAILURES: &str = "musicmeta_fill_failures_total";
    /// Requests to MusicBrainz by HTTP `status` (or `error`).
    pub const UPSTREAM_REQUESTS: &str = "musicmeta_upstream_requests_total";
    /// Latency of requests to MusicBrainz, seconds.
    pub const UPSTREAM_LATENCY: &str = "musicmeta_upstream_request_seconds";
    /// Time a request waited for its rate-limit slot, seconds, by `lane`.
    pub const RATE_LIMIT_WAIT: &str = "musicmeta_rate_limit_wait_seconds";
    /// Database pool connections by `state` (size, available, waiting).
    pub const DB_POOL: &str = "musicmeta_db_pool_connections";
    /// 1 while the process holds an open AMQP connection, by `role`.
    pub const AMQP_CONNECTED: &str = "musicmeta_amqp_connected";
    /// Jobs staged in the outbox and not yet confirmed by the broker, as
    /// query-api's relay last counted them.
    pub const OUTBOX_PENDING: &str = "musicmeta_outbox_pending";
    /// Requests to the ws/2 HTTP API by `kind` (lookup, document,
    /// forwarded, error) and `cache` (hit, stale, miss, none).
    pub const HTTP_REQUESTS: &str = "musicmeta_http_requests_total";
    /// Hot-tier lookups by `result` (hit, miss).
    pub const HOT_TIER: &str = "musicmeta_hot_tier_lookups_total";
    /// Copies the hot tier let go, by `cause`: capacity (the memory budget),
    /// expired (`cache.hot_ttl_secs`), invalidated (a fill's notification).
    pub const HOT_TIER_EVICTIONS: &str = "musicmeta_hot_tier_evictions_total";
    /// Stored answers built by a read that found none, by `entity_type`
    /// (first reads, and reads after a write voided the answer).
    pub const ANSWERS_BUILT: &str = "musicmeta_answers_built_total";
    /// Cache reads by the `server` that answered them (primary, replica),
    /// when `database.read_urls` is set.
    pub const DB_READS: &str = "musicmeta_db_reads_total";
    /// 1 while query-api reads from the `replica` (serving, caught up).
    pub const DB_REPLICA_SERVING: &str = "musicmeta_db_replica_serving";
    /// How far the `replica` was behind the primary at its last check, seconds.
    pub const DB_REPLICA_LAG: &str = "musicmeta_db_replica_lag_seconds";
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot install the metrics recorder: {0}")]
    Install(String),
    #[error("cannot listen for /metrics on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The process's recorder, installed on first use.
pub fn handle() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| b.install_recorder())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(MetricsError::Install)
}

/// Refreshes gauges that are read rather than counted (pool sizes) just
/// before each scrape.
pub type BeforeScrape = Arc<dyn Fn() + Send + Sync>;

/// Serves `GET /metrics` on `addr` until `shutdown`; returns the bound
/// address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    before_scrape: BeforeScrape,
    shutdown: CancellationToken,
) -> Result<SocketAddr, MetricsError> {
    let handle = handle()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (handle, before) = (handle.clone(), before_scrape.clone());
            async move {
                before();
                handle.render()
            }
        }),
    );
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            warn!(%error, "metrics endpoint stopped");
        }
    });
    info!(addr = %bound, "serving /metrics");
    Ok(bound)
}

/// Pool gauges for [`BeforeScrape`].
pub fn record_pool(pool: &deadpool_postgres::Pool) {
    let status = pool.status();
    metrics::gauge!(names::DB_POOL, "state" => "size").set(status.size as f64);
    metrics::gauge!(names::DB_POOL, "state" => "available").set(status.available as f64);
    metrics::gauge!(names::DB_POOL, "state" => "waiting").set(status.waiting as f64);
}
