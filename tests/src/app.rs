//! A running musicmeta for one test: its own database and queues, a
//! stand-in MusicBrainz, `query-api` on a random port and N workers, all
//! built through the same `Config` loader and `build` functions as `main`.

use std::collections::HashMap;
use std::net::SocketAddr;

use musicmeta_ingest_worker::{JobReport, Worker, WorkerError};
use musicmeta_proto::v1::identifier_service_client::IdentifierServiceClient;
use musicmeta_proto::v1::metadata_service_client::MetadataServiceClient;
use musicmeta_query_api::Application;
use musicmeta_shared::config::Config;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::broker::TestBroker;
use crate::database::TestDatabase;
use crate::musicbrainz_stub::MusicBrainzStub;
use crate::proxy::TcpProxy;

/// The service name health checks ask about.
pub const LOOKUP_SERVICE: &str = "musicmeta.v1.MetadataService";

pub const TEST_USER_AGENT: &str = "musicmeta-tests/0.1 ( musicmeta-tests@example.org )";

#[derive(Debug, Clone)]
pub struct TestOptions {
    pub workers: usize,
    /// `amqp.url` for the API and workers; `None` is the real test broker.
    pub amqp_url: Option<String>,
    /// Extra `MUSICMETA_*` settings, as an operator would give them.
    pub env: Vec<(String, String)>,
    /// Reach PostgreSQL and RabbitMQ through [`TcpProxy`]s, so the test can
    /// take them down and back ([`TestApp::database_proxy`], [`TestApp::broker_proxy`]).
    pub through_proxies: bool,
    /// The PostgreSQL server (admin URL, `…/postgres`) to create the test's
    /// database on; `None` is the shared test server.
    pub database_server: Option<String>,
    /// Servers (`postgres://…:port`) replicating `database_server`: the
    /// test's database on each becomes `database.read_urls`.
    pub read_servers: Vec<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            amqp_url: None,
            env: Vec::new(),
            through_proxies: false,
            database_server: None,
            read_servers: Vec::new(),
        }
    }
}

impl TestOptions {
    /// The defaults, with query-api's `/metrics` served on a free port
    /// ([`TestApp::metrics_addr`]).
    pub fn with_metrics() -> Self {
        Self {
            env: vec![(
                "MUSICMETA_METRICS__LISTEN_ADDR".into(),
                "127.0.0.1:0".into(),
            )],
            ..Self::default()
        }
    }
}

#[derive(Debug)]
pub struct TestApp {
    pub db: TestDatabase,
    pub broker: TestBroker,
    pub musicbrainz: MusicBrainzStub,
    pub config: Config,
    pub addr: SocketAddr,
    /// query-api's ws/2 HTTP API (every test app serves it).
    pub http_addr: SocketAddr,
    /// query-api's `/metrics`, when `MUSICMETA_METRICS__LISTEN_ADDR` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub workers: Vec<Worker>,
    /// Set with [`TestOptions::through_proxies`].
    pub database_proxy: Option<TcpProxy>,
    pub broker_proxy: Option<TcpProxy>,
    worker_tasks: Vec<tokio::task::JoinHandle<Result<(), WorkerError>>>,
    worker_stop: CancellationToken,
    api_stop: Option<oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestOptions::default()).await
    }

    pub async fn spawn_with(options: TestOptions) -> Self {
        musicmeta_shared::telemetry::init_for_tests();
        let db = match &options.database_server {
            Some(server) => TestDatabase::migrated_on(server.clone()).await,
            None => TestDatabase::migrated().await,
        };
        let broker = TestBroker::new();
        let musicbrainz = MusicBrainzStub::start().await;
        let mut database_url = db.url.clone();
        let mut amqp_url = options.amqp_url.clone().unwrap_or_else(crate::broker::url);
        let (mut database_proxy, mut broker_proxy) = (None, None);
        if options.through_proxies {
            let (url, proxy) = proxied(&database_url).await;
            (database_url, database_proxy) = (url, Some(proxy));
            let (url, proxy) = proxied(&amqp_url).await;
            (amqp_url, broker_proxy) = (url, Some(proxy));
        }
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", database_url),
            ("AMQP_URL", amqp_url),
            ("MUSICMETA_AMQP__EXCHANGE", broker.exchange.clone()),
            ("MUSICMETA_AMQP__QUEUE", broker.queue.clone()),
            ("MUSICMETA_MUSICBRAINZ__BASE_URL", musicbrainz.base_url()),
            (
                "MUSICMETA_MUSICBRAINZ__USER_AGENT",
                TEST_USER_AGENT.to_owned(),
            ),
            // Fast enough that tests do not wait on the limiter.
            (
                "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND",
                "50".to_owned(),
            ),
            ("MUSICMETA_GRPC__LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("MUSICMETA_HTTP__LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("MUSICMETA_CACHE__MISS_WAIT_MS", "15000".to_owned()),
            ("MUSICMETA_DATABASE__TIMEOUT_MS", "2000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if !options.read_servers.is_empty() {
            let urls: Vec<String> = options
                .read_servers
                .iter()
                .map(|server| format!("{server}/{}", db.name))
                .collect();
            env.insert("MUSICMETA_DATABASE__READ_URLS".into(), urls.join(","));
        }
        env.extend(options.env.iter().cloned());
        let config = Config::load_with_env(None, env).expect("test configuration");

        let app = Application::build(config.clone())
            .await
            .expect("query-api starts");
        let addr = app.local_addr();
        let http_addr = app.http_addr().expect("the test configuration serves HTTP");
        let metrics_addr = app.metrics_addr();
        let (api_stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));

        let worker_stop = CancellationToken::new();
        let mut app = Self {
            db,
            broker,
            musicbrainz,
            config,
            addr,
            http_addr,
            metrics_addr,
            workers: Vec::new(),
            database_proxy,
            broker_proxy,
            worker_tasks: Vec::new(),
            worker_stop,
            api_stop: Some(api_stop),
        };
        // The queues exist before the test publishes anything, as in a
        // running deployment (a worker declares them as it connects, and
        // quorum queues take a moment to create).
        if options.amqp_url.is_none() {
            app.broker.declare().await;
        }
        for _ in 0..options.workers {
            app.start_worker().await;
        }
        app
    }

    pub async fn client(&self) -> MetadataServiceClient<Channel> {
        MetadataServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to query-api")
    }

    pub async fn identifiers(&self) -> IdentifierServiceClient<Channel> {
        IdentifierServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to query-api")
    }

    /// `http://<ws/2 API>/ws/2`, the base URL a MusicBrainz client is given.
    pub fn ws2_url(&self) -> String {
        format!("http://{}/ws/2", self.http_addr)
    }

    /// A client of query-api's standard health service.
    pub async fn health(&self) -> HealthClient<Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to query-api");
        HealthClient::new(channel)
    }

    /// The health statuses of the lookup service, as they change.
    pub async fn watch_health(&self) -> tonic::Streaming<HealthCheckResponse> {
        self.health()
            .await
            .watch(HealthCheckRequest {
                service: LOOKUP_SERVICE.into(),
            })
            .await
            .expect("health watch")
            .into_inner()
    }

    /// Reports of the first worker's deliveries from now on.
    pub fn reports(&self) -> broadcast::Receiver<JobReport> {
        self.workers.first().expect("a worker").subscribe()
    }

    /// Begins query-api's graceful shutdown, as SIGTERM would.
    pub fn stop_api(&mut self) {
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts one more worker (as an operator scaling out would).
    pub async fn start_worker(&mut self) -> Worker {
        self.start_worker_with(self.config.clone()).await
    }

    /// Starts a worker with its own configuration (another broker node
    /// first, say), stopped with the others.
    pub async fn start_worker_with(&mut self, config: Config) -> Worker {
        let worker = Worker::build(config).await.expect("worker starts");
        let w = worker.clone();
        let stop = self.worker_stop.child_token();
        self.worker_tasks
            .push(tokio::spawn(async move { w.run(stop).await }));
        self.workers.push(worker.clone());
        worker
    }

    /// Stops every worker as SIGTERM would and waits until they have exited:
    /// they stop taking jobs, finish the ones in flight and hand the rest back.
    pub async fn stop_workers(&mut self) {
        self.worker_stop.cancel();
        for task in self.worker_tasks.drain(..) {
            task.await
                .expect("worker task")
                .expect("worker stops cleanly");
        }
        self.workers.clear();
        self.worker_stop = CancellationToken::new();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.worker_stop.cancel();
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `url` rewritten to reach its server through a new [`TcpProxy`].
async fn proxied(url: &str) -> (String, TcpProxy) {
    let mut parsed = url::Url::parse(url).expect("service url");
    let upstream = parsed
        .socket_addrs(|| None)
        .expect("service address")
        .into_iter()
        .next()
        .expect("service address");
    let proxy = TcpProxy::start(upstream).await;
    parsed.set_ip_host(proxy.addr().ip()).expect("ip host");
    parsed.set_port(Some(proxy.addr().port())).expect("port");
    (parsed.to_string(), proxy)
}

/// Waits for the next report that satisfies `pred`.
pub async fn next_report(
    rx: &mut broadcast::Receiver<JobReport>,
    pred: impl Fn(&JobReport) -> bool,
) -> JobReport {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(r) if pred(&r) => return r,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("worker reports closed"),
            }
        }
    };
    // A generous bound so a broken build fails instead of hanging CI.
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .expect("worker report within 60 s")
}

/// `name{labels} value` lines of a Prometheus text page at `addr`, keyed by
/// `name{labels}`.
pub async fn scrape_metrics(addr: SocketAddr) -> HashMap<String, f64> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}
