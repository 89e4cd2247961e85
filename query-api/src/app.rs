//! Wiring: [`Application::build`] turns a [`Config`] into a bound, ready
//! server; [`Application::run_until_stopped`] serves until the shutdown
//! future resolves. `main` and the integration tests both go through here,
//! so tests exercise the production start-up path.

use std::future::Future;
use std::net::SocketAddr;

use musicmeta_proto::FILE_DESCRIPTOR_SET;
use musicmeta_proto::v1::admin_service_server::AdminServiceServer;
use musicmeta_proto::v1::catalog_service_server::CatalogServiceServer;
use musicmeta_proto::v1::identifier_service_server::IdentifierServiceServer;
use musicmeta_proto::v1::work_service_server::WorkServiceServer;
use musicmeta_proto::wire::metadata_service_server::MetadataServiceServer;
use musicmeta_shared::amqp::{JobPublisher, Topology};
use musicmeta_shared::config::{Config, ConfigError, GrpcTlsConfig};
use musicmeta_shared::db::replicas::Replicas;
use musicmeta_shared::db::{self, DbError, PgStore};
use musicmeta_shared::prometheus::{self, BeforeScrape, MetricsError};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::{InterceptedService, InterceptorLayer};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};
use tracing::info;

use crate::admin::AdminApi;
use crate::auth::BearerAuth;
use crate::catalog::{Catalog, CatalogApi};
use crate::documents::DocumentLookups;
use crate::fills::Fills;
use crate::hot::HotTier;
use crate::identifiers::IdentifierApi;
use crate::limits::{
    HTTP2_MAX_HEADER_LIST_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, check_metadata_size,
};
use crate::metadata::{MetadataApi, Policy};
use musicmeta_musicbrainz::RateGate;
use musicmeta_musicbrainz::forward::Forwarder;
use musicmeta_proto::v1::catalog_service_server::CatalogServiceServer as CatalogHealth;
use musicmeta_shared::fetch_requests::FetchRequests;

use crate::ws2::{self, Ws2Api};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A configuration mistake, found in the file or only at start (a short
    /// token, an unreadable TLS file): `main` exits 2 with this one line.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("gRPC TLS: {0}")]
    Tls(tonic::transport::Error),
    #[error("cannot set up the MusicBrainz forwarder: {0}")]
    Forwarder(#[from] musicmeta_musicbrainz::FetchError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    pool: deadpool_postgres::Pool,
    api: MetadataApi,
    identifiers: IdentifierApi,
    admin: AdminApi,
    catalog: CatalogApi,
    publisher: Arc<JobPublisher>,
    background: CancellationToken,
    /// Set when `grpc.tls` is configured: the server speaks only TLS.
    tls: Option<ServerTlsConfig>,
    admin_auth: BearerAuth,
    lookup_auth: BearerAuth,
    /// The ws/2 HTTP API, when `http` is configured.
    http: Option<(TcpListener, SocketAddr, Ws2Api)>,
}

impl Application {
    /// Connects to PostgreSQL (failing fast when it is unreachable), starts
    /// the fill listener, the outbox relay and the hot tier, and binds the
    /// gRPC port. The broker is connected on first use, so cached lookups
    /// are served even while it is down. Should a step fail, everything
    /// started before it is stopped again: a failed start leaves no task,
    /// connection or port behind.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        // Configuration mistakes first, before anything starts or logs.
        config.grpc.check()?;
        let tls = server_tls(&config.grpc.tls)?;
        let http_tls = match &config.http {
            Some(http) => http_tls(&http.tls)?,
            None => None,
        };
        let pool = db::build_pool(&config.database)?;
        db::check(&pool).await?;
        let background = CancellationToken::new();
        // Cancels what was started if a later step returns early.
        let started = background.clone().drop_guard();
        // First: metric handles taken before the recorder exists count nothing.
        let metrics_addr = match config.metrics.listen_addr {
            Some(addr) => {
                let pool = pool.clone();
                let before: BeforeScrape = Arc::new(move || prometheus::record_pool(&pool));
                Some(prometheus::serve(addr, before, background.child_token()).await?)
            }
            None => None,
        };
        let replicas = Replicas::build(&config.database)?;
        replicas.spawn_monitor(pool.clone(), background.child_token());
        let store = PgStore::with_replicas(pool.clone(), replicas.clone());
        let fills = Fills::spawn(
            config.database.url.clone(),
            replicas.clone(),
            background.child_token(),
        );
        let publisher = Arc::new(JobPublisher::new(
            config.amqp.endpoints(),
            Topology::from_config(&config.amqp),
        ));
        let requests = FetchRequests::new(pool.clone(), publisher.clone(), &config);
        requests.spawn_relay(background.child_token());
        let admin = AdminApi::new(
            pool.clone(),
            replicas,
            config.amqp.clone(),
            requests.clone(),
            config.cache.clone(),
        );
        let policy: Policy = Policy::new(
            store.clone(),
            requests.clone(),
            fills.clone(),
            HotTier::spawn(
                config.cache.hot_capacity_mb,
                Duration::from_secs(config.cache.hot_ttl_secs),
                fills.clone(),
                background.child_token(),
            ),
            config.cache.clone(),
        );
        let addr = config.grpc.listen_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        // Normally instant; bounded so a LISTEN that cannot connect delays
        // start-up, not blocks it (waiters re-read when it connects).
        let wait = Duration::from_millis(config.database.timeout_ms);
        if tokio::time::timeout(wait, fills.wait_listening())
            .await
            .is_err()
        {
            tracing::warn!("fill listener not connected yet; misses will wait for it");
        }
        let documents = DocumentLookups::new(
            store.clone(),
            requests.clone(),
            fills.clone(),
            config.cache.clone(),
        );
        let catalog = CatalogApi::new(Catalog::new(
            store.clone(),
            requests.clone(),
            config.cache.clone(),
        ));
        let http = match &config.http {
            Some(http) => {
                let addr = http.listen_addr;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?;
                let addr = listener
                    .local_addr()
                    .map_err(|source| StartError::Bind { addr, source })?;
                // Forwarded requests spend the budget every worker shares.
                let gate = RateGate::shared(
                    config.musicbrainz.requests_per_second,
                    pool.clone(),
                    config.musicbrainz.base_url.clone(),
                );
                let api = Ws2Api::new(ws2::Parts {
                    store,
                    requests,
                    fills: fills.clone(),
                    hot: policy.hot().clone(),
                    cache: config.cache.clone(),
                    http: http.clone(),
                    forwarder: Some(Forwarder::new(&config.musicbrainz, gate)?),
                    upstream_rate: config.musicbrainz.requests_per_second,
                    tls: http_tls,
                });
                Some((listener, addr, api))
            }
            None => None,
        };
        started.disarm();
        Ok(Self {
            listener,
            addr,
            metrics_addr,
            pool,
            api: MetadataApi::new(policy, documents.clone()),
            identifiers: IdentifierApi::new(documents),
            admin,
            catalog,
            publisher,
            background,
            tls,
            admin_auth: BearerAuth::admin(config.grpc.admin_token.clone()),
            lookup_auth: BearerAuth::lookups(config.grpc.lookup_token.clone()),
            http,
        })
    }

    /// Where the ws/2 HTTP API listens, when configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, addr, _)| *addr)
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Serves until `shutdown` resolves: health turns NOT_SERVING first, then
    /// in-flight calls finish, then background tasks stop.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, true).await;
        let health_watch = self.background.child_token();
        tokio::spawn(watch_database(
            self.pool.clone(),
            health.clone(),
            health_watch.clone(),
        ));
        // v1 and v1alpha: grpcurl and older clients ask for either.
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        info!(addr = %self.addr, tls = self.tls.is_some(), "query-api serving");
        // One shutdown for both front doors: each drains its calls in flight.
        let stop_http = CancellationToken::new();
        let http = self.http.map(|(listener, addr, api)| {
            info!(%addr, "ws/2 HTTP API serving");
            tokio::spawn(api.serve(listener, stop_http.clone().cancelled_owned()))
        });
        let stopping = async move {
            shutdown.await;
            stop_http.cancel();
            info!("shutting down: draining in-flight calls");
            // Stop the database watch first, so it cannot report SERVING again.
            health_watch.cancel();
            set_health(&health, false).await;
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = self.tls {
            server = server.tls_config(tls).map_err(StartError::Tls)?;
        }
        // Health stays open for probes; reflection is guarded like lookups.
        let lookups = self.lookup_auth;
        let served = server
            .http2_max_header_list_size(HTTP2_MAX_HEADER_LIST_BYTES)
            .layer(InterceptorLayer::new(check_metadata_size))
            .add_service(health_service)
            .add_service(InterceptedService::new(reflection, lookups.clone()))
            .add_service(InterceptedService::new(reflection_alpha, lookups.clone()))
            .add_service(InterceptedService::new(
                CatalogServiceServer::new(self.catalog)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
                lookups.clone(),
            ))
            .add_service(InterceptedService::new(
                MetadataServiceServer::new(self.api)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
                lookups.clone(),
            ))
            .add_service(InterceptedService::new(
                IdentifierServiceServer::new(self.identifiers.clone())
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
                lookups.clone(),
            ))
            .add_service(InterceptedService::new(
                WorkServiceServer::new(self.identifiers)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_RESPONSE_BYTES),
                lookups,
            ))
            .add_service(InterceptedService::new(
                AdminServiceServer::new(self.admin),
                self.admin_auth,
            ))
            .serve_with_incoming_shutdown(
                // Nagle's algorithm held small answers back ~40 ms (delayed
                // ACKs on the client): a latency service wants every write sent.
                TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                stopping,
            )
            .await;
        if let Some(http) = http {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(StartError::Http(error)),
                Err(error) => tracing::error!(%error, "the HTTP server task failed"),
            }
        }
        self.background.cancel();
        self.publisher.close().await;
        info!("query-api stopped");
        Ok(served?)
    }
}

/// Sets the health of the read services, which stand or fall with the
/// database (AdminService is for operators and stays out of the checks).
async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
    if serving {
        health
            .set_serving::<MetadataServiceServer<MetadataApi>>()
            .await;
        health.set_serving::<CatalogHealth<CatalogApi>>().await;
        health
            .set_serving::<IdentifierServiceServer<IdentifierApi>>()
            .await;
        health
            .set_serving::<WorkServiceServer<IdentifierApi>>()
            .await;
    } else {
        health
            .set_not_serving::<MetadataServiceServer<MetadataApi>>()
            .await;
        health.set_not_serving::<CatalogHealth<CatalogApi>>().await;
        health
            .set_not_serving::<IdentifierServiceServer<IdentifierApi>>()
            .await;
        health
            .set_not_serving::<WorkServiceServer<IdentifierApi>>()
            .await;
    }
}

/// Reads `grpc.tls`'s PEM files and checks that rustls accepts them, so a
/// bad certificate stops start-up rather than the first handshake.
fn server_tls(config: &GrpcTlsConfig) -> Result<Option<ServerTlsConfig>, StartError> {
    let (Some(cert_path), Some(key_path)) = (&config.cert_path, &config.key_path) else {
        return Ok(None);
    };
    // A file that cannot be read or used is a configuration mistake.
    let invalid = |key, reason| StartError::Config(ConfigError::Invalid { key, reason });
    let read = |key, path: &std::path::PathBuf| {
        std::fs::read(path)
            .map_err(|source| invalid(key, format!("cannot read {}: {source}", path.display())))
    };
    musicmeta_shared::tls::install_crypto_provider();
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(
        read("grpc.tls.cert_path", cert_path)?,
        read("grpc.tls.key_path", key_path)?,
    ));
    tonic::transport::Server::builder()
        .tls_config(tls.clone())
        .map_err(|e| invalid("grpc.tls", format!("unusable certificate or key: {e}")))?;
    Ok(Some(tls))
}

/// Reads `http.tls`'s PEM files into the HTTP listener's TLS set-up; a file
/// that cannot be read or used is a configuration mistake naming its key.
fn http_tls(config: &GrpcTlsConfig) -> Result<Option<Arc<rustls::ServerConfig>>, StartError> {
    let invalid = |key, reason| StartError::Config(ConfigError::Invalid { key, reason });
    match (&config.cert_path, &config.key_path) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            musicmeta_shared::tls::server(("http.tls.cert_path", cert), ("http.tls.key_path", key))
                .map(|config| Some(Arc::new(config)))
                .map_err(|e| invalid("http.tls", e.to_string()))
        }
        _ => Err(invalid(
            "http.tls",
            "needs both cert_path and key_path".to_owned(),
        )),
    }
}

/// How often query-api checks that PostgreSQL answers, for its health status.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Reports the lookup service NOT_SERVING while PostgreSQL does not answer
/// (a load balancer then sends lookups elsewhere), SERVING again once it does.
async fn watch_database(
    pool: deadpool_postgres::Pool,
    health: tonic_health::server::HealthReporter,
    stop: CancellationToken,
) {
    let mut serving = true;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(HEALTH_CHECK_EVERY) => {}
        }
        let up = tokio::time::timeout(HEALTH_CHECK_EVERY, db::check(&pool))
            .await
            .is_ok_and(|r| r.is_ok());
        if up == serving || stop.is_cancelled() {
            continue;
        }
        serving = up;
        if up {
            info!("database answers again; serving");
        } else {
            tracing::warn!("database does not answer; health is NOT_SERVING");
        }
        set_health(&health, up).await;
    }
}
