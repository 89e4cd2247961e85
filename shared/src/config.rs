//! Typed configuration shared by both binaries, loaded once at start.
//!
//! Sources, later ones winning: the YAML file given with `--config`, then
//! `MUSICMETA_<SECTION>__<KEY>` environment variables (`__` separates levels,
//! e.g. `MUSICMETA_CACHE__TTL_SECS__RELEASE=3600`), then the conventional
//! `DATABASE_URL` and `AMQP_URL`. Unknown keys are rejected so that a typo
//! never silently falls back to a default; every invalid value is reported
//! as one line naming its key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::mbid::EntityType;

/// Default MusicBrainz endpoint; tests and offline demos point elsewhere.
pub const MUSICBRAINZ_BASE_URL: &str = "https://musicbrainz.org/ws/2";
const ENV_PREFIX: &str = "MUSICMETA";
/// Shortest bearer token accepted (`grpc.admin_token`, `grpc.lookup_token`).
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub amqp: AmqpConfig,
    #[serde(default)]
    pub musicbrainz: MusicBrainzConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub grpc: GrpcConfig,
    /// The MusicBrainz-compatible HTTP API; absent: no HTTP listener (an
    /// empty section serves it with its defaults).
    #[serde(default)]
    pub http: Option<HttpConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub retry: RetryConfig,
}

/// Retries of a job across deliveries, through the delayed retry queues
/// (`shared/src/amqp.rs`): the delay grows fourfold per attempt from
/// `first_delay_ms` up to `max_delay_ms`, with jitter, and after
/// `max_attempts` failed attempts the job is dead-lettered.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts (deliveries) a job gets before it is dead-lettered.
    #[serde(default = "defaults::retry_max_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry.
    #[serde(default = "defaults::retry_first_delay_ms")]
    pub first_delay_ms: u64,
    /// Longest delay between two attempts.
    #[serde(default = "defaults::retry_max_delay_ms")]
    pub max_delay_ms: u64,
}

/// Trace export. Trace context is always propagated; export is optional.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; absent: no export.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// Prometheus metrics. Both programs read the same key: give each process
/// its own address (an environment override per process), or port 0.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served; absent: not served.
    #[serde(default)]
    pub listen_addr: Option<SocketAddr>,
}

// Debug by hand: the URL may hold a password, which must not reach logs.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/db`.
    pub url: String,
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// How long to wait for a pooled connection before answering UNAVAILABLE.
    #[serde(default = "defaults::db_timeout_ms")]
    pub timeout_ms: u64,
    /// Streaming replicas of `url` that query-api reads lookups, browse
    /// lists and search from (`db::replicas`); writes, claims, LISTEN and
    /// the outbox stay on `url`. Empty: everything reads the primary.
    #[serde(default)]
    pub read_urls: Vec<String>,
    /// A replica further behind the primary than this is reported lagging
    /// and not read from until it catches up.
    #[serde(default = "defaults::max_replica_lag_ms")]
    pub max_replica_lag_ms: u64,
}

// Debug by hand: the URL may hold a password, which must not reach logs.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:port/vhost` (`%2f` is the default vhost).
    pub url: String,
    /// Further nodes of the same RabbitMQ cluster. A process connects to
    /// `url` and, when that fails, to each of these in turn; after losing a
    /// connection it starts again from the node after the one it lost, so
    /// it moves to a surviving node by itself.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Unacknowledged deliveries a worker holds at once; also its concurrency.
    #[serde(default = "defaults::prefetch")]
    pub prefetch: u16,
    /// Exchange jobs are published to.
    #[serde(default = "defaults::exchange")]
    pub exchange: String,
    /// Queue workers consume; its dead-letter queue is `<queue>.dlq`.
    #[serde(default = "defaults::queue")]
    pub queue: String,
    /// Longest a publisher waits for the broker to confirm a job. A job not
    /// confirmed by then stays in the outbox, and the relay publishes it.
    #[serde(default = "defaults::publish_timeout_ms")]
    pub publish_timeout_ms: u64,
    /// The type of every queue musicmeta declares: `quorum` (replicated
    /// across a RabbitMQ cluster's nodes, the default) or `classic` (one
    /// node; for a broker whose queues were declared classic before, as a
    /// queue's type cannot change: see docs/operations.md).
    #[serde(default)]
    pub queue_type: QueueType,
}

impl AmqpConfig {
    /// Every node to connect to, `url` first.
    pub fn endpoints(&self) -> Vec<String> {
        std::iter::once(self.url.clone())
            .chain(self.urls.iter().cloned())
            .collect()
    }
}

/// How RabbitMQ keeps musicmeta's queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueType {
    /// Raft-replicated on several nodes: a job survives the loss of a node.
    #[default]
    Quorum,
    /// On one node, declared without a type as before v1.1.
    Classic,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MusicBrainzConfig {
    #[serde(default = "defaults::base_url")]
    pub base_url: String,
    /// Sent with every request; MusicBrainz asks for an application name,
    /// version and contact (an e-mail address or URL). The worker refuses to
    /// start without a contact in it.
    #[serde(default = "defaults::user_agent")]
    pub user_agent: String,
    /// MusicBrainz allows about one request per second per client. 0 turns
    /// the limiter off, for a private mirror: no shared budget, no database
    /// round trip per request (a 503 still pauses this worker).
    #[serde(default = "defaults::requests_per_second")]
    pub requests_per_second: f64,
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts on 503/transport errors before a job is handed back to the queue.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Largest response body accepted from MusicBrainz; a larger one is a
    /// permanent failure (dead-lettered), refused from its Content-Length or
    /// as soon as the bytes read pass the limit, so it is never held whole.
    ///
    /// Default 16 MiB. The largest recorded response (tests/fixtures/
    /// musicbrainz) is 262 kB, a 10-track release with every `inc=`
    /// (174 kB compact; the heaviest tracks weigh 17 kB each with their
    /// relations). At that weight a 500-track release is about 8.5 MB, so
    /// 16 MiB leaves twice that for the largest box sets, and it is also
    /// query-api's largest gRPC answer (`MAX_RESPONSE_BYTES`): a bigger
    /// release could not be served anyway.
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub ttl_secs: TtlConfig,
    /// How long a MusicBrainz 404 is remembered.
    #[serde(default = "defaults::negative_ttl_secs")]
    pub negative_ttl_secs: u64,
    /// How long a fill that failed for good (an answer that cannot be
    /// read) is remembered: lookups are told at once, and MusicBrainz is
    /// not asked again, until then.
    #[serde(default = "defaults::failure_ttl_secs")]
    pub failure_ttl_secs: u64,
    /// Longest a lookup waits for a miss to be filled (the client's deadline
    /// may cut it shorter).
    #[serde(default = "defaults::miss_wait_ms")]
    pub miss_wait_ms: u64,
    /// Memory for query-api's in-process copy of hot entities, in MiB; 0
    /// turns it off. A worker's commit evicts the entity it stored at once
    /// (PostgreSQL NOTIFY); `hot_ttl_secs` bounds how long a copy may lag
    /// behind changes to the rows it embeds (e.g. an artist's name in a
    /// release's credits).
    #[serde(default = "defaults::hot_capacity_mb")]
    pub hot_capacity_mb: u64,
    #[serde(default = "defaults::hot_ttl_secs")]
    pub hot_ttl_secs: u64,
    /// A fetch asked for longer ago than this and not yet done is assumed
    /// lost, and the next request for it publishes a new job.
    #[serde(default = "defaults::reask_after_secs")]
    pub reask_after_secs: u64,
}

/// How long a fetched entity or document counts as fresh, per kind.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TtlConfig {
    /// Search answers the HTTP API passes on from MusicBrainz.
    #[serde(default = "defaults::search_ttl_secs")]
    pub search: u64,
    /// Every other ws/2 document (browses, disc IDs, ISRCs, works, areas, …).
    #[serde(default = "defaults::ttl_secs")]
    pub document: u64,
    #[serde(default = "defaults::ttl_secs")]
    pub artist: u64,
    #[serde(default = "defaults::ttl_secs")]
    pub release_group: u64,
    #[serde(default = "defaults::ttl_secs")]
    pub release: u64,
    #[serde(default = "defaults::ttl_secs")]
    pub recording: u64,
    #[serde(default = "defaults::ttl_secs")]
    pub label: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Port 0 picks a free port (tests use it).
    #[serde(default = "defaults::listen_addr")]
    pub listen_addr: SocketAddr,
    /// Bearer token every AdminService call must carry. Absent (or empty):
    /// AdminService answers UNAUTHENTICATED to every call (safe by default).
    #[serde(
        default,
        serialize_with = "serialize_secret",
        deserialize_with = "deserialize_token"
    )]
    pub admin_token: Option<SecretString>,
    /// Bearer token the read services (MetadataService, CatalogService)
    /// and reflection require.
    /// Absent (or empty): lookups are open.
    #[serde(
        default,
        serialize_with = "serialize_secret",
        deserialize_with = "deserialize_token"
    )]
    pub lookup_token: Option<SecretString>,
    #[serde(default)]
    pub tls: GrpcTlsConfig,
}

/// The MusicBrainz-compatible HTTP API (ws/2) of query-api.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where clients (Picard, beets, musicbrainzngs) connect; port 0 picks a
    /// free port.
    #[serde(default = "defaults::http_listen_addr")]
    pub listen_addr: SocketAddr,
    /// Longest a request for something not cached yet waits for its fill
    /// before answering 503 with a Retry-After (beets gives up after 10 s).
    #[serde(default = "defaults::http_miss_wait_ms")]
    pub miss_wait_ms: u64,
    /// Requests only MusicBrainz can answer for a user (credentials,
    /// `user-*` includes, collections, anything but GET, `/oauth2/`) are
    /// forwarded to MusicBrainz unchanged and never cached. False: they get
    /// 401 instead.
    #[serde(default = "defaults::pass_through")]
    pub pass_through: bool,
    /// Requests per second one client (IP address) may make; absent: no
    /// limit. Excess gets 503 with Retry-After, as from MusicBrainz.
    #[serde(default)]
    pub client_rate_limit: Option<f64>,
    /// The base URL clients reach this API under (`http://host:port`), for
    /// the Location of a redirect; absent: taken from each request's Host.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub tls: GrpcTlsConfig,
}

impl HttpConfig {
    pub fn miss_wait(&self) -> Duration {
        Duration::from_millis(self.miss_wait_ms)
    }
}

/// TLS for a server (gRPC, HTTP); both paths or neither (plain text).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcTlsConfig {
    /// PEM certificate chain, the server's certificate first.
    #[serde(default)]
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_path: Option<PathBuf>,
}

/// Secrets never leave the process through a configuration dump: they
/// serialize as `"***"` (or null when unset).
fn serialize_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some("***"),
        None => serializer.serialize_none(),
    }
}

/// An empty token is no token: deployment files can then pass a variable
/// through (`${ADMIN_TOKEN:-}`) whether or not the operator set it.
fn deserialize_token<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    let token: Option<String> = Option::deserialize(deserializer)?;
    Ok(token.filter(|t| !t.is_empty()).map(SecretString::from))
}

mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};

    pub fn max_connections() -> usize {
        16
    }
    pub fn db_timeout_ms() -> u64 {
        5_000
    }
    pub fn max_replica_lag_ms() -> u64 {
        5_000
    }
    pub fn prefetch() -> u16 {
        8
    }
    pub fn exchange() -> String {
        "musicmeta.jobs".into()
    }
    pub fn queue() -> String {
        "musicmeta.fetch".into()
    }
    pub fn publish_timeout_ms() -> u64 {
        1_000
    }
    pub fn reask_after_secs() -> u64 {
        60
    }
    pub fn base_url() -> String {
        super::MUSICBRAINZ_BASE_URL.into()
    }
    pub fn user_agent() -> String {
        concat!("musicmeta/", env!("CARGO_PKG_VERSION")).into()
    }
    pub fn requests_per_second() -> f64 {
        1.0
    }
    pub fn timeout_ms() -> u64 {
        10_000
    }
    pub fn max_attempts() -> u32 {
        5
    }
    pub fn max_body_bytes() -> u64 {
        16 * 1024 * 1024
    }
    pub fn ttl_secs() -> u64 {
        7 * 24 * 3600
    }
    pub fn search_ttl_secs() -> u64 {
        3600
    }
    pub fn negative_ttl_secs() -> u64 {
        24 * 3600
    }
    pub fn failure_ttl_secs() -> u64 {
        300
    }
    pub fn hot_capacity_mb() -> u64 {
        40
    }
    pub fn hot_ttl_secs() -> u64 {
        30
    }
    pub fn miss_wait_ms() -> u64 {
        5_000
    }
    pub fn http_listen_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 5000))
    }
    pub fn http_miss_wait_ms() -> u64 {
        8_000
    }
    pub fn pass_through() -> bool {
        true
    }
    pub fn listen_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 50051))
    }
    pub fn retry_max_attempts() -> u32 {
        8
    }
    pub fn retry_first_delay_ms() -> u64 {
        1_000
    }
    pub fn retry_max_delay_ms() -> u64 {
        300_000
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: defaults::retry_max_attempts(),
            first_delay_ms: defaults::retry_first_delay_ms(),
            max_delay_ms: defaults::retry_max_delay_ms(),
        }
    }
}

impl Default for MusicBrainzConfig {
    fn default() -> Self {
        Self {
            base_url: defaults::base_url(),
            user_agent: defaults::user_agent(),
            requests_per_second: defaults::requests_per_second(),
            timeout_ms: defaults::timeout_ms(),
            max_attempts: defaults::max_attempts(),
            max_body_bytes: defaults::max_body_bytes(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_secs: TtlConfig::default(),
            negative_ttl_secs: defaults::negative_ttl_secs(),
            failure_ttl_secs: defaults::failure_ttl_secs(),
            miss_wait_ms: defaults::miss_wait_ms(),
            hot_capacity_mb: defaults::hot_capacity_mb(),
            hot_ttl_secs: defaults::hot_ttl_secs(),
            reask_after_secs: defaults::reask_after_secs(),
        }
    }
}

impl Default for TtlConfig {
    fn default() -> Self {
        let t = defaults::ttl_secs();
        Self {
            search: defaults::search_ttl_secs(),
            document: t,
            artist: t,
            release_group: t,
            release: t,
            recording: t,
            label: t,
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen_addr: defaults::listen_addr(),
            admin_token: None,
            lookup_token: None,
            tls: GrpcTlsConfig::default(),
        }
    }
}

/// `url` with any password replaced by `***`, for logs and debug output.
///
/// Done on the text, not through a URL parser: tokio-postgres ends the
/// credentials at the *first* `@` and accepts `/`, `?` and `#` in a
/// password, where a WHATWG parser ends the authority at them and would see
/// no password at all (found by the property tests). So everything from the
/// first `:` of the credentials to the *last* `@` is hidden (too much rather
/// than too little), and so is any `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    if url::Url::parse(url).is_err() {
        // Not a URL we can take apart: show nothing of it.
        return "<unparseable url>".to_owned();
    }
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return "<unparseable url>".to_owned();
    };
    let (head, rest) = url.split_at(scheme_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(head);
    match (rest.find(':'), rest.find('@'), rest.rfind('@')) {
        (Some(colon), Some(first_at), Some(last_at)) if colon < first_at => {
            out.push_str(&rest[..=colon]);
            out.push_str("***");
            out.push_str(&rest[last_at..]);
        }
        _ => out.push_str(rest),
    }
    redact_password_parameters(&out)
}

/// Replaces the value of every `password=` parameter with `***`.
fn redact_password_parameters(url: &str) -> String {
    let Some(query_start) = url.find('?') else {
        return url.to_owned();
    };
    let (base, query) = url.split_at(query_start + 1);
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}{}", params.join("&"))
}

impl DatabaseConfig {
    /// `url` with every other setting at its default.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: defaults::max_connections(),
            timeout_ms: defaults::db_timeout_ms(),
            read_urls: Vec::new(),
            max_replica_lag_ms: defaults::max_replica_lag_ms(),
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("timeout_ms", &self.timeout_ms)
            .field(
                "read_urls",
                &self
                    .read_urls
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("max_replica_lag_ms", &self.max_replica_lag_ms)
            .finish()
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| redact_url(u)).collect();
        f.debug_struct("AmqpConfig")
            .field("url", &redact_url(&self.url))
            .field("urls", &urls)
            .field("prefetch", &self.prefetch)
            .field("exchange", &self.exchange)
            .field("queue", &self.queue)
            .field("publish_timeout_ms", &self.publish_timeout_ms)
            .field("queue_type", &self.queue_type)
            .finish()
    }
}

impl CacheConfig {
    pub fn ttl(&self, entity_type: EntityType) -> Duration {
        let t = &self.ttl_secs;
        Duration::from_secs(match entity_type {
            EntityType::Artist => t.artist,
            EntityType::ReleaseGroup => t.release_group,
            EntityType::Release => t.release,
            EntityType::Recording => t.recording,
            EntityType::Label => t.label,
        })
    }

    pub fn negative_ttl(&self) -> Duration {
        Duration::from_secs(self.negative_ttl_secs)
    }

    /// The freshness rule, the one place it is written: an entity fetched
    /// less than its type's TTL ago is fresh and needs no upstream request.
    pub fn is_fresh(&self, entity_type: EntityType, fetched_at: SystemTime) -> bool {
        age(fetched_at) < self.ttl(entity_type)
    }

    /// A 404 recorded less than `negative_ttl` ago is still believed.
    pub fn remembers_not_found(&self, recorded_at: SystemTime) -> bool {
        age(recorded_at) < self.negative_ttl()
    }

    /// A fill that failed for good less than `failure_ttl_secs` ago is not
    /// tried again yet.
    pub fn remembers_failure(&self, recorded_at: SystemTime) -> bool {
        age(recorded_at) < Duration::from_secs(self.failure_ttl_secs)
    }

    /// The freshness rule for a stored ws/2 document: a 404 is believed for
    /// `negative_ttl`, a failed fill (5xx, see `documents::FAILED`) for
    /// `failure_ttl_secs`, any other answer for its kind's TTL.
    pub fn is_document_fresh(
        &self,
        kind: DocumentKind,
        status: u16,
        fetched_at: SystemTime,
    ) -> bool {
        let ttl = match (status, kind) {
            (404, _) => self.negative_ttl(),
            (500.., _) => Duration::from_secs(self.failure_ttl_secs),
            (_, DocumentKind::Search) => Duration::from_secs(self.ttl_secs.search),
            (_, DocumentKind::Other) => Duration::from_secs(self.ttl_secs.document),
        };
        age(fetched_at) < ttl
    }

    pub fn reask_after(&self) -> Duration {
        Duration::from_secs(self.reask_after_secs)
    }

    pub fn miss_wait(&self) -> Duration {
        Duration::from_millis(self.miss_wait_ms)
    }
}

/// Which TTL a stored ws/2 document lives by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Search,
    Other,
}

/// How long ago `t` was; a time in the future (clock skew between hosts)
/// counts as now.
fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

impl AmqpConfig {
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] ::config::ConfigError),
    #[error("configuration key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Config {
    /// Loads from `path` (if any) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars().collect())
    }

    /// Like [`Config::load`] with an explicit environment, so tests need not
    /// mutate the process environment.
    pub fn load_with_env(
        path: Option<&Path>,
        env: HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut builder = ::config::Config::builder();
        if let Some(path) = path {
            builder = builder.add_source(
                ::config::File::from(path)
                    .format(::config::FileFormat::Yaml)
                    .required(true),
            );
        }
        // Only `MUSICMETA_<SECTION>__<KEY>` are configuration keys; other
        // MUSICMETA_ variables (MUSICMETA_CONFIG, MUSICMETA_LOG_FORMAT) are not.
        let prefix = format!("{ENV_PREFIX}_");
        let prefixed = env
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.contains("__"))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            ::config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("amqp.urls")
                .with_list_parse_key("database.read_urls")
                .source(Some(prefixed)),
        );
        for (var, key) in [("DATABASE_URL", "database.url"), ("AMQP_URL", "amqp.url")] {
            if let Some(value) = env.get(var) {
                builder = builder.set_override(key, value.as_str())?;
            }
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if !self.database.url.starts_with("postgres://")
            && !self.database.url.starts_with("postgresql://")
        {
            return invalid(
                "database.url",
                "must start with postgres:// or postgresql://",
            );
        }
        if self
            .database
            .read_urls
            .iter()
            .any(|u| !u.starts_with("postgres://") && !u.starts_with("postgresql://"))
        {
            return invalid(
                "database.read_urls",
                "each must start with postgres:// or postgresql://",
            );
        }
        if self.database.max_replica_lag_ms == 0 {
            return invalid("database.max_replica_lag_ms", "must be at least 1");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if !self.amqp.url.starts_with("amqp://") && !self.amqp.url.starts_with("amqps://") {
            return invalid("amqp.url", "must start with amqp:// or amqps://");
        }
        if self
            .amqp
            .urls
            .iter()
            .any(|u| !u.starts_with("amqp://") && !u.starts_with("amqps://"))
        {
            return invalid("amqp.urls", "each must start with amqp:// or amqps://");
        }
        if self.amqp.prefetch == 0 {
            return invalid("amqp.prefetch", "must be at least 1");
        }
        if self.amqp.exchange.is_empty() {
            return invalid("amqp.exchange", "must not be empty");
        }
        if self.amqp.queue.is_empty() {
            return invalid("amqp.queue", "must not be empty");
        }
        let mb = &self.musicbrainz;
        if !mb.base_url.starts_with("http://") && !mb.base_url.starts_with("https://") {
            return invalid("musicbrainz.base_url", "must be an http:// or https:// URL");
        }
        if !(mb.requests_per_second.is_finite() && mb.requests_per_second >= 0.0) {
            return invalid(
                "musicbrainz.requests_per_second",
                "must be a number of 0 (no limit) or above",
            );
        }
        if mb.timeout_ms == 0 {
            return invalid("musicbrainz.timeout_ms", "must be at least 1");
        }
        if mb.max_attempts == 0 {
            return invalid("musicbrainz.max_attempts", "must be at least 1");
        }
        if mb.max_body_bytes == 0 {
            return invalid("musicbrainz.max_body_bytes", "must be at least 1");
        }
        if mb.user_agent.trim().is_empty() {
            return invalid("musicbrainz.user_agent", "must not be empty");
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return invalid("retry.max_attempts", "must be at least 1");
        }
        if retry.first_delay_ms == 0 {
            return invalid("retry.first_delay_ms", "must be at least 1");
        }
        if retry.max_delay_ms < retry.first_delay_ms {
            return invalid(
                "retry.max_delay_ms",
                "must be at least retry.first_delay_ms",
            );
        }
        Ok(())
    }
}

impl GrpcConfig {
    /// Checks the tokens and TLS files' pairing. Only query-api, which
    /// serves gRPC, enforces this (the worker ignores the section).
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        for (key, token) in [
            ("grpc.admin_token", &self.admin_token),
            ("grpc.lookup_token", &self.lookup_token),
        ] {
            // Bearer tokens travel in an HTTP header; a short one is guessable.
            if let Some(token) = token {
                let token = token.expose_secret();
                if token.len() < MIN_TOKEN_LEN || !token.chars().all(|c| c.is_ascii_graphic()) {
                    return invalid(
                        key,
                        "must be at least 16 printable ASCII characters without spaces",
                    );
                }
            }
        }
        if self.tls.cert_path.is_some() != self.tls.key_path.is_some() {
            return invalid(
                "grpc.tls",
                "cert_path and key_path must be given together (or neither)",
            );
        }
        Ok(())
    }
}

impl MusicBrainzConfig {
    /// MusicBrainz blocks anonymous clients; a User-Agent must say how to
    /// reach whoever runs it. Only the worker, which talks to MusicBrainz,
    /// enforces this.
    pub fn check_contact(&self) -> Result<(), ConfigError> {
        if user_agent_has_contact(&self.user_agent) {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                key: "musicbrainz.user_agent",
                reason: format!(
                    "{:?} has no contact; MusicBrainz requires one, e.g. \"musicmeta/0.1 ( you@example.org )\"",
                    self.user_agent
                ),
            })
        }
    }
}

/// True when `ua` holds an e-mail address or an http(s) URL.
pub fn user_agent_has_contact(ua: &str) -> bool {
    ua.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .any(|word| {
            let email = word
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            let url = (word.starts_with("https://") || word.starts_with("http://"))
                && word.len() > "https://".len();
            email || url
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn yaml(text: &str) -> tempfile_like::TempYaml {
        tempfile_like::TempYaml::new(text)
    }

    /// A tiny self-deleting file, to avoid a dev-dependency for one use.
    mod tempfile_like {
        use std::path::PathBuf;
        pub struct TempYaml(pub PathBuf);
        impl TempYaml {
            pub fn new(text: &str) -> Self {
                let path = std::env::temp_dir()
                    .join(format!("musicmeta-config-{}.yaml", uuid::Uuid::new_v4()));
                let mut f = std::fs::File::create(&path).expect("create temp config");
                super::Write::write_all(&mut f, text.as_bytes()).expect("write temp config");
                TempYaml(path)
            }
        }
        impl Drop for TempYaml {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    const MINIMAL: &str = "database: { url: 'postgres://postgres@127.0.0.1/x' }\namqp: { url: 'amqp://guest:guest@127.0.0.1:5672/%2f' }\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let f = yaml(MINIMAL);
        let c = Config::load_with_env(Some(&f.0), env(&[])).unwrap();
        assert_eq!(c.musicbrainz.base_url, MUSICBRAINZ_BASE_URL);
        assert_eq!(c.musicbrainz.requests_per_second, 1.0);
        assert_eq!(c.amqp.prefetch, 8);
        assert_eq!(
            c.cache.ttl(EntityType::ReleaseGroup),
            Duration::from_secs(604_800)
        );
        assert_eq!(c.grpc.listen_addr.port(), 50051);
    }

    #[test]
    fn environment_overrides_file() {
        let f = yaml(MINIMAL);
        let c = Config::load_with_env(
            Some(&f.0),
            env(&[
                ("DATABASE_URL", "postgres://other@db/y"),
                ("MUSICMETA_CACHE__TTL_SECS__RELEASE_GROUP", "60"),
                ("MUSICMETA_AMQP__PREFETCH", "3"),
                (
                    "MUSICMETA_MUSICBRAINZ__USER_AGENT",
                    "app/1 ( me@example.org )",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.url, "postgres://other@db/y");
        assert_eq!(
            c.cache.ttl(EntityType::ReleaseGroup),
            Duration::from_secs(60)
        );
        assert_eq!(c.amqp.prefetch, 3);
        assert_eq!(c.musicbrainz.user_agent, "app/1 ( me@example.org )");
    }

    #[test]
    fn environment_alone_is_enough() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("DATABASE_URL", "postgres://a@b/c"),
                ("AMQP_URL", "amqp://h"),
            ]),
        )
        .unwrap();
        assert_eq!(c.amqp.url, "amqp://h");
    }

    fn error_of(text: &str) -> String {
        let f = yaml(text);
        Config::load_with_env(Some(&f.0), env(&[]))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn zero_requests_per_second_turns_the_limiter_off() {
        let f = yaml(MINIMAL);
        let vars = env(&[("MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND", "0")]);
        let c = Config::load_with_env(Some(&f.0), vars).unwrap();
        assert_eq!(c.musicbrainz.requests_per_second, 0.0);
    }

    #[test]
    fn errors_name_the_key() {
        let e = error_of("amqp: { url: 'amqp://h' }\n");
        assert!(e.contains("database"), "{e}");
        let e = error_of(
            "database: { url: 'postgres://h/d' }\namqp: { url: 'amqp://h', prefetch: lots }\n",
        );
        assert!(e.contains("amqp.prefetch"), "{e}");
        let e = error_of(&format!(
            "{MINIMAL}cache: {{ ttl_secs: {{ relase: 5 }} }}\n"
        ));
        assert!(e.contains("relase") && e.contains("cache.ttl_secs"), "{e}");
        let e = error_of(&format!(
            "{MINIMAL}musicbrainz: {{ requests_per_second: -1 }}\n"
        ));
        assert!(e.contains("musicbrainz.requests_per_second"), "{e}");
        let e = error_of("database: { url: 'mysql://x' }\namqp: { url: 'amqp://h' }\n");
        assert!(e.contains("database.url"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn retry_delays_are_checked() {
        let c = Config::load_with_env(Some(&yaml(MINIMAL).0), env(&[])).unwrap();
        assert_eq!(
            (
                c.retry.max_attempts,
                c.retry.first_delay_ms,
                c.retry.max_delay_ms
            ),
            (8, 1_000, 300_000)
        );
        let e = error_of(&format!(
            "{MINIMAL}retry: {{ first_delay_ms: 500, max_delay_ms: 100 }}\n"
        ));
        assert!(e.contains("retry.max_delay_ms"), "{e}");
        let e = error_of(&format!("{MINIMAL}retry: {{ max_attempts: 0 }}\n"));
        assert!(e.contains("retry.max_attempts"), "{e}");
    }

    #[test]
    fn read_urls_must_be_postgres_urls() {
        let e = Config::load_with_env(
            Some(&yaml(MINIMAL).0),
            env(&[("MUSICMETA_DATABASE__READ_URLS", "mysql://r1/x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("database.read_urls"), "{e}");
        let c = Config::load_with_env(Some(&yaml(MINIMAL).0), env(&[])).unwrap();
        assert!(c.database.read_urls.is_empty());
        assert_eq!(c.database.max_replica_lag_ms, 5_000);
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let e = error_of(&format!("{MINIMAL}grcp: {{ listen_addr: '0.0.0.0:1' }}\n"));
        assert!(e.contains("grcp"), "{e}");
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("DATABASE_URL", "postgres://app:s3cret-db@db.example/x"),
                ("AMQP_URL", "amqp://app:s3cret-mq@mq.example:5672/%2f"),
                (
                    "MUSICMETA_DATABASE__READ_URLS",
                    "postgres://app:s3cret-r1@r1/x,postgres://app:s3cret-r2@r2/x",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.database.read_urls.len(), 2);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@r2/x"), "{shown}");
        assert!(shown.contains("postgres://app:***@db.example/x"), "{shown}");
        assert_eq!(redact_url("amqp://guest@h/%2f"), "amqp://guest@h/%2f");
        // Passwords a URL parser would not see as passwords, but
        // tokio-postgres would use (found by tests/properties.rs).
        for (url, shown) in [
            ("postgres://a:?Aa0a@a:5432/db", "postgres://a:***@a:5432/db"),
            ("postgres://u:2024/secret@h/db", "postgres://u:***@h/db"),
            ("postgres://u:/pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u@h:5432/db?sslmode=require&password=hush",
                "postgres://u@h:5432/db?sslmode=require&password=***",
            ),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        assert_eq!(redact_url("not a url: secret"), "<unparseable url>");
    }

    #[test]
    fn tokens_are_checked_and_never_dumped() {
        let with = |pairs: &[(&str, &str)]| {
            let mut all = env(&[
                ("DATABASE_URL", "postgres://a@b/c"),
                ("AMQP_URL", "amqp://h"),
            ]);
            all.extend(env(pairs));
            Config::load_with_env(None, all)
        };
        let c = with(&[
            ("MUSICMETA_GRPC__ADMIN_TOKEN", "admin-s3cret-0123456789"),
            ("MUSICMETA_GRPC__LOOKUP_TOKEN", "lookup-s3cret-0123456789"),
        ])
        .unwrap();
        assert_eq!(
            c.grpc.admin_token.as_ref().map(|t| t.expose_secret()),
            Some("admin-s3cret-0123456789")
        );
        let debug = format!("{c:?}");
        let dump = serde_json::to_string(&c).unwrap();
        for shown in [&debug, &dump] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        assert!(dump.contains(r#""admin_token":"***""#), "{dump}");
        assert!(c.grpc.check().is_ok());
        let short = with(&[("MUSICMETA_GRPC__ADMIN_TOKEN", "short")]).unwrap();
        let e = short.grpc.check().unwrap_err();
        assert!(e.to_string().contains("grpc.admin_token"), "{e}");
        assert!(!e.to_string().contains("short"), "{e}");
        let empty = with(&[("MUSICMETA_GRPC__ADMIN_TOKEN", "")]).unwrap();
        assert!(empty.grpc.admin_token.is_none(), "empty is no token");
        assert!(empty.grpc.check().is_ok());
        let half = with(&[("MUSICMETA_GRPC__TLS__CERT_PATH", "/x.pem")]).unwrap();
        let e = half.grpc.check().unwrap_err();
        assert!(e.to_string().contains("grpc.tls"), "{e}");
    }

    #[test]
    fn a_missing_file_or_bad_yaml_is_one_clear_line() {
        let missing = std::path::Path::new("/nonexistent/musicmeta.yaml");
        let e = Config::load_with_env(Some(missing), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/musicmeta.yaml"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = error_of("database: [unclosed\n");
        assert!(e.starts_with("configuration:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn user_agent_contact() {
        assert!(user_agent_has_contact("musicmeta/0.1 ( ops@example.org )"));
        assert!(user_agent_has_contact(
            "musicmeta/0.1 ( https://example.org/contact )"
        ));
        assert!(!user_agent_has_contact("musicmeta/0.1"));
        assert!(!user_agent_has_contact("musicmeta/0.1 ( @ )"));
        let mut mb = MusicBrainzConfig::default();
        assert!(mb.check_contact().is_err());
        mb.user_agent = "x/1 (a@b.c)".into();
        assert!(mb.check_contact().is_ok());
    }
}
