//! Security (issue 5): bearer tokens on the admin and lookup services, TLS
//! for gRPC, PostgreSQL and RabbitMQ, no passwords in errors or logs, and a
//! worker that only ever talks to the configured MusicBrainz.

use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_musicbrainz::MusicBrainzClient;
use musicmeta_musicbrainz::RateGate;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_client::AdminServiceClient;
use musicmeta_proto::v1::metadata_service_client::MetadataServiceClient;
use musicmeta_query_api::auth::AttachToken;
use musicmeta_shared::config::{DatabaseConfig, MusicBrainzConfig};
use musicmeta_shared::db;
use musicmeta_shared::domain::FetchOutcome;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::binaries::binary;
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::tls_proxy::{TestCertificates, TlsProxy};
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const ADMIN_TOKEN: &str = "admin-token-for-tests-0123";
const LOOKUP_TOKEN: &str = "lookup-token-for-tests-0123";
const WARP: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190"; // a recorded label
const CITY_SLANG: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // another
const RICK_ASTLEY: &str = "db92a151-1ac2-438b-bc43-b82e149ddd50"; // a recorded artist

fn with_env(workers: usize, pairs: &[(&str, &str)]) -> TestOptions {
    TestOptions {
        workers,
        env: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..TestOptions::default()
    }
}

async fn channel(app: &TestApp) -> Channel {
    Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .expect("connect to query-api")
}

async fn admin(
    app: &TestApp,
    token: &str,
) -> AdminServiceClient<InterceptedService<Channel, AttachToken>> {
    AdminServiceClient::with_interceptor(channel(app).await, AttachToken::new(token).unwrap())
}

fn assert_unauthenticated(status: &tonic::Status, words: &str) {
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains(words), "{status:?}");
    for secret in [ADMIN_TOKEN, LOOKUP_TOKEN, "wrong-token"] {
        assert!(
            !status.message().contains(secret),
            "echoes a token: {status:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Bearer tokens

#[tokio::test]
async fn admin_calls_need_the_admin_token_and_lookups_stay_open() {
    let app =
        TestApp::spawn_with(with_env(1, &[("MUSICMETA_GRPC__ADMIN_TOKEN", ADMIN_TOKEN)])).await;

    let mut anonymous = AdminServiceClient::new(channel(&app).await);
    let status = anonymous
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_err();
    assert_unauthenticated(&status, "needs a bearer token");
    let status = admin(&app, "wrong-token-0123456789")
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap_err();
    assert_unauthenticated(&status, "invalid bearer token");
    // The lookup token is not the admin token.
    let status = admin(&app, LOOKUP_TOKEN)
        .await
        .backfill(pb::BackfillRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = admin(&app, ADMIN_TOKEN)
        .await
        .get_status(pb::GetStatusRequest {})
        .await
        .expect("the admin token opens AdminService")
        .into_inner();
    assert_eq!(status.workers_alive, 1);
    // No lookup token configured: lookups need none.
    let label = app
        .client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("lookups are open")
        .into_inner();
    assert_eq!(label.label.unwrap().mbid, WARP);
}

#[tokio::test]
async fn admin_service_is_closed_when_no_token_is_configured() {
    let app = TestApp::spawn_with(with_env(0, &[])).await;
    for token in [None, Some(ADMIN_TOKEN)] {
        let status = match token {
            Some(t) => {
                admin(&app, t)
                    .await
                    .get_status(pb::GetStatusRequest {})
                    .await
            }
            None => {
                AdminServiceClient::new(channel(&app).await)
                    .get_status(pb::GetStatusRequest {})
                    .await
            }
        }
        .unwrap_err();
        assert_unauthenticated(&status, "no grpc.admin_token configured");
    }
    let status = admin(&app, ADMIN_TOKEN)
        .await
        .refresh(pb::RefreshRequest {
            entity_type: "label".into(),
            mbids: vec![WARP.into()],
            lane: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        app.db.count("SELECT count(*) FROM fetch_request").await,
        0,
        "a refused call queues nothing"
    );
}

#[tokio::test]
async fn lookups_need_the_lookup_token_when_one_is_set_and_health_stays_open() {
    let app = TestApp::spawn_with(with_env(
        1,
        &[("MUSICMETA_GRPC__LOOKUP_TOKEN", LOOKUP_TOKEN)],
    ))
    .await;
    let request = || pb::GetLabelRequest { mbid: WARP.into() };

    let status = app.client().await.get_label(request()).await.unwrap_err();
    assert_unauthenticated(&status, "needs a bearer token");
    let mut wrong = MetadataServiceClient::with_interceptor(
        channel(&app).await,
        AttachToken::new("wrong-token-0123456789").unwrap(),
    );
    assert_unauthenticated(
        &wrong.get_label(request()).await.unwrap_err(),
        "invalid bearer token",
    );
    assert_eq!(
        app.musicbrainz.requests().await.len(),
        0,
        "a refused lookup queues no fetch"
    );

    let mut client = MetadataServiceClient::with_interceptor(
        channel(&app).await,
        AttachToken::new(LOOKUP_TOKEN).unwrap(),
    );
    let label = client.get_label(request()).await.unwrap().into_inner();
    assert_eq!(label.label.unwrap().mbid, WARP);

    // The command-line client sends the token, and prints proto3 JSON. (A
    // tokio process: the server runs on this test's one thread.)
    let lookup = async |token: Option<&str>| {
        let mut command = tokio::process::Command::new(binary("query-api"));
        command.args([
            "lookup",
            "label",
            WARP,
            "--addr",
            &format!("http://{}", app.addr),
        ]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command
            .env_remove("MUSICMETA_LOOKUP_TOKEN")
            .output()
            .await
            .unwrap()
    };
    let refused = lookup(None).await;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"),
        "{refused:?}"
    );
    let answered = lookup(Some(LOOKUP_TOKEN)).await;
    assert!(answered.status.success(), "{answered:?}");
    let json: serde_json::Value = serde_json::from_slice(&answered.stdout).unwrap();
    assert_eq!(json["label"]["mbid"], WARP);
    assert_eq!(json["cache"]["freshness"], "FRESHNESS_FRESH");

    // Probes carry no token.
    let health = app
        .health()
        .await
        .check(tonic_health::pb::HealthCheckRequest {
            service: musicmeta_tests::app::LOOKUP_SERVICE.into(),
        })
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

// ---------------------------------------------------------------------------
// Refresh and Backfill

#[tokio::test]
async fn refresh_forces_a_fetch_of_a_fresh_entity_and_skips_pending_ones() {
    let mut app =
        TestApp::spawn_with(with_env(1, &[("MUSICMETA_GRPC__ADMIN_TOKEN", ADMIN_TOKEN)])).await;
    let mut admin = admin(&app, ADMIN_TOKEN).await;
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("filled");
    assert_eq!(app.musicbrainz.lookups_of(EntityType::Label, WARP).await, 1);

    let mut reports = app.reports();
    let refreshed = admin
        .refresh(pb::RefreshRequest {
            entity_type: "label".into(),
            mbids: vec![WARP.into(), "../../artist/x".into()],
            lane: pb::AdminLane::Refresh as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((refreshed.published, refreshed.skipped), (1, 0));
    assert_eq!(refreshed.rejected.len(), 1);
    assert_eq!(refreshed.rejected[0].index, 1);
    assert!(
        refreshed.rejected[0].reason.contains("36-character"),
        "{:?}",
        refreshed.rejected
    );
    // (The lookup's own job may report after this point: match the lane.)
    let report = next_report(&mut reports, |r| {
        r.lane == Lane::Refresh && r.entity.is_some_and(|(_, m)| m.to_string() == WARP)
    })
    .await;
    assert!(
        matches!(report.outcome, JobOutcome::Stored { .. }),
        "{report:?}"
    );
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, WARP).await,
        2,
        "fresh, yet fetched again: the job was forced"
    );

    // With no worker to take it, a second refresh of the same entity finds
    // the first one pending and queues nothing more.
    app.stop_workers().await;
    let first = admin
        .refresh(pb::RefreshRequest {
            entity_type: "label".into(),
            mbids: vec![CITY_SLANG.into()],
            lane: pb::AdminLane::Backfill as i32,
        })
        .await
        .unwrap()
        .into_inner();
    let again = admin
        .refresh(pb::RefreshRequest {
            entity_type: "label".into(),
            mbids: vec![CITY_SLANG.into()],
            lane: pb::AdminLane::Backfill as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.published, again.published, again.skipped), (1, 0, 1));
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
        1
    );

    let status = admin
        .refresh(pb::RefreshRequest {
            entity_type: "work".into(),
            mbids: vec![WARP.into()],
            lane: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn backfill_queues_on_the_backfill_lane_and_says_why_items_are_rejected() {
    let mut app =
        TestApp::spawn_with(with_env(1, &[("MUSICMETA_GRPC__ADMIN_TOKEN", ADMIN_TOKEN)])).await;
    let mut admin = admin(&app, ADMIN_TOKEN).await;
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("filled");
    app.stop_workers().await;

    let item = |entity_type: &str, mbid: &str, depth| pb::BackfillItem {
        entity_type: entity_type.into(),
        mbid: mbid.into(),
        depth,
    };
    let answer = admin
        .backfill(pb::BackfillRequest {
            items: vec![
                item("label", WARP, 0),         // fresh: skipped
                item("label", CITY_SLANG, 0),   // queued
                item("artist", RICK_ASTLEY, 1), // queued, with a crawl depth
                item("label", CITY_SLANG, 0),   // pending: skipped
                item("work", WARP, 0),
                item("label", "http://evil.example/ws/2/label/x", 0),
                item("artist", RICK_ASTLEY, 9),
            ],
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.published, answer.skipped), (2, 2), "{answer:?}");
    let rejected: Vec<(u32, &str)> = answer
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert_eq!(rejected[0].0, 4);
    assert!(
        rejected[0].1.contains("unknown entity type"),
        "{rejected:?}"
    );
    assert_eq!(rejected[1].0, 5);
    assert!(rejected[1].1.contains("36-character"), "{rejected:?}");
    assert_eq!(rejected[2].0, 6);
    assert!(rejected[2].1.contains("depth 9"), "{rejected:?}");
    let backfill_lane = app.broker.lane_queue(Lane::Backfill);
    assert_eq!(app.broker.depth(&backfill_lane).await, 2);

    // Forced, the fresh entity is queued too.
    let forced = admin
        .backfill(pb::BackfillRequest {
            items: vec![item("label", WARP, 0)],
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(forced.published, 1);
    assert_eq!(app.broker.depth(&backfill_lane).await, 3);

    let too_many = pb::BackfillRequest {
        items: vec![item("label", WARP, 0); musicmeta_query_api::admin::MAX_ITEMS + 1],
        force: false,
    };
    let status = admin.backfill(too_many).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(app.broker.depth(&backfill_lane).await, 3);
}

// ---------------------------------------------------------------------------
// TLS: gRPC, PostgreSQL, RabbitMQ

/// An app whose `section` (`GRPC` or `HTTP`) serves TLS with a fresh
/// certificate for localhost, and that certificate's CA.
async fn app_with_tls(section: &str) -> (TestCertificates, TestApp) {
    let certs = TestCertificates::localhost();
    let (cert, key) = (certs.cert_path(), certs.key_path());
    let app = TestApp::spawn_with(with_env(
        1,
        &[
            (
                &format!("MUSICMETA_{section}__TLS__CERT_PATH"),
                cert.to_str().unwrap(),
            ),
            (
                &format!("MUSICMETA_{section}__TLS__KEY_PATH"),
                key.to_str().unwrap(),
            ),
        ],
    ))
    .await;
    (certs, app)
}

#[tokio::test]
async fn grpc_over_tls_serves_clients_that_trust_its_ca_and_refuses_plain_text() {
    let (certs, app) = app_with_tls("GRPC").await;
    let port = app.addr.port();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&certs.ca_pem))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS handshake with the test CA");
    let label = MetadataServiceClient::new(channel)
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("lookup over TLS")
        .into_inner();
    assert_eq!(label.label.unwrap().mbid, WARP);

    // Plain text reaches no service.
    let plain = async {
        MetadataServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| e.to_string())?
            .get_label(pb::GetLabelRequest { mbid: WARP.into() })
            .await
            .map_err(|e| e.to_string())
    };
    let plain = tokio::time::timeout(Duration::from_secs(30), plain)
        .await
        .expect("plain-text call ends");
    assert!(plain.is_err(), "a plain-text call was answered");
    // Nor does a client that does not trust the certificate.
    let stranger = TestCertificates::localhost();
    let untrusted = Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&stranger.ca_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await;
    assert!(untrusted.is_err(), "a client with another CA connected");
}

/// `http.tls` puts the ws/2 HTTP API behind TLS, configured like gRPC's:
/// a client trusting the CA gets its answers (and a merged MBID's
/// `Location` says https), plain HTTP and a client with another CA get
/// nothing.
#[tokio::test]
async fn the_http_api_over_tls_serves_clients_that_trust_its_ca_and_refuses_plain_text() {
    let (certs, app) = app_with_tls("HTTP").await;
    let port = app.http_addr.port();
    let client = |ca: &[u8]| {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let url = format!("https://localhost:{port}/ws/2/label/{WARP}?inc=aliases&fmt=json");
    let answer = client(certs.ca_pem.as_bytes())
        .get(&url)
        .send()
        .await
        .expect("TLS handshake with the test CA");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["id"], WARP);
    let merged = "11111111-1111-4111-8111-111111111111";
    app.musicbrainz
        .redirect(EntityType::Label, merged, WARP)
        .await;
    let moved = client(certs.ca_pem.as_bytes())
        .get(format!(
            "https://localhost:{port}/ws/2/label/{merged}?fmt=json"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 301);
    assert_eq!(
        moved.headers()["location"],
        format!("https://localhost:{port}/ws/2/label/{WARP}?fmt=json").as_str()
    );

    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/ws/2/label/{WARP}?fmt=json"
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.as_ref().is_ok_and(|r| r.status() != 200),
        "a plain-text request was answered: {plain:?}"
    );
    let stranger = TestCertificates::localhost();
    let untrusted = client(stranger.ca_pem.as_bytes()).get(&url).send().await;
    assert!(untrusted.is_err(), "a client with another CA was answered");
}

#[tokio::test]
async fn a_missing_tls_certificate_stops_start_up_naming_the_file() {
    let db = TestDatabase::migrated().await;
    let config = musicmeta_shared::config::Config::load_with_env(
        None,
        [
            ("DATABASE_URL", db.url.as_str()),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
            ("MUSICMETA_GRPC__LISTEN_ADDR", "127.0.0.1:0"),
            ("MUSICMETA_GRPC__TLS__CERT_PATH", "/nonexistent/cert.pem"),
            ("MUSICMETA_GRPC__TLS__KEY_PATH", "/nonexistent/key.pem"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    )
    .unwrap();
    let error = musicmeta_query_api::Application::build(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/cert.pem"), "{error}");
}

/// Whether the server sees the pool's connection as encrypted.
async fn pool_uses_ssl(url: &str) -> Result<bool, db::DbError> {
    let pool = db::build_pool(&DatabaseConfig {
        max_connections: 1,
        ..DatabaseConfig::for_url(url)
    })?;
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
async fn postgres_sslmode_is_honoured_as_libpq_documents() {
    let db = TestDatabase::empty().await;
    // The local server has TLS on; its certificate is its own root.
    let server_cert: String = db
        .connect()
        .await
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .expect("ssl_cert_file")
        .get(0);
    let root = std::fs::canonicalize(&server_cert).expect("server certificate is readable");
    let root = root.to_str().unwrap();
    let on = |q: &str| format!("{}?{q}", db.url);

    assert!(
        pool_uses_ssl(&on("sslmode=require")).await.unwrap(),
        "require encrypts"
    );
    assert!(
        !pool_uses_ssl(&on("sslmode=disable")).await.unwrap(),
        "disable does not"
    );
    assert!(
        pool_uses_ssl(&db.url).await.unwrap(),
        "prefer (the default) encrypts when offered"
    );
    // verify-ca checks the chain, not the name (the URL says 127.0.0.1).
    assert!(
        pool_uses_ssl(&on(&format!("sslmode=verify-ca&sslrootcert={root}")))
            .await
            .unwrap()
    );
    // verify-full checks the name too: the certificate names localhost.
    let full = format!("sslmode=verify-full&sslrootcert={root}");
    let by_name = on(&full).replacen("127.0.0.1", "localhost", 1);
    assert!(
        pool_uses_ssl(&by_name).await.unwrap(),
        "verify-full by name"
    );
    assert!(
        pool_uses_ssl(&on(&full)).await.is_err(),
        "verify-full refuses a certificate that does not name the host"
    );
    // A root that did not sign the server's certificate is refused.
    let stranger = TestCertificates::localhost();
    let wrong = on(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        stranger.ca_path().display()
    ));
    assert!(
        pool_uses_ssl(&wrong).await.is_err(),
        "an unrelated CA is refused"
    );
}

#[tokio::test]
async fn every_connection_of_query_api_and_the_worker_is_encrypted() {
    // The harness's URL has no sslmode: libpq's default, prefer.
    let app = TestApp::spawn().await;
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("filled");
    let row = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl), \
                    count(*) FILTER (WHERE a.query LIKE 'LISTEN%') \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    let (all, encrypted, listening): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert!(
        all >= 2 && listening == 1,
        "{all} connections, {listening} listening"
    );
    assert_eq!(
        encrypted, all,
        "every pooled and LISTEN connection uses TLS"
    );
}

#[tokio::test]
async fn jobs_travel_over_amqps_with_a_private_ca() {
    let broker: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = TlsProxy::start(broker).await;
    let ca = proxy.ca_path();
    let url = format!(
        "amqps://guest:guest@localhost:{}/%2f?cacertfile={}",
        proxy.port(),
        ca.display()
    );
    let app = TestApp::spawn_with(TestOptions {
        amqp_url: Some(url.clone()),
        ..TestOptions::default()
    })
    .await;
    let label = app
        .client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("a miss is queued and filled through the TLS proxy")
        .into_inner();
    assert_eq!(label.label.unwrap().mbid, WARP);
    assert_eq!(app.musicbrainz.lookups_of(EntityType::Label, WARP).await, 1);
    // The worker's consumer and the API's publisher, at least.
    assert!(
        proxy.handshakes() >= 2,
        "{} TLS handshakes",
        proxy.handshakes()
    );

    // Without the CA, the proxy's certificate is not trusted.
    let untrusted = format!("amqps://guest:guest@localhost:{}/%2f", proxy.port());
    let error = musicmeta_shared::amqp::connect(&untrusted)
        .await
        .expect_err("an unknown CA is refused");
    assert!(!error.to_string().contains("guest:guest"), "{error}");
}

// ---------------------------------------------------------------------------
// Passwords

/// Runs `program` with `env` and `RUST_LOG=trace` and returns whether it
/// exited successfully and all it printed. With `stop_at`, the program is
/// stopped once a line of its stderr contains that text (a worker retries
/// a dead broker for ever).
async fn run_program(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stop_at: Option<&str>,
) -> (bool, String) {
    run_program_with_log(program, args, env, stop_at, "trace").await
}

/// [`run_program`] with another `RUST_LOG`.
async fn run_program_with_log(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stop_at: Option<&str>,
    rust_log: &str,
) -> (bool, String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut child = tokio::process::Command::new(musicmeta_tests::binaries::binary(program))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", rust_log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the program");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let read = async {
        while let Ok(Some(line)) = stderr.next_line().await {
            text.push_str(&line);
            text.push('\n');
            if stop_at.is_some_and(|marker| line.contains(marker)) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the program ends or says what it waits for");
    let _ = child.start_kill();
    let status = child.wait().await.expect("wait for the program");
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out).await;
    (status.success(), out + &text)
}

/// The programs, started as an operator would with password-bearing URLs
/// that lead nowhere, say what failed without the passwords, in their
/// errors and in their logs, even at trace level.
#[tokio::test]
async fn passwords_stay_out_of_errors_and_logs() {
    let db = TestDatabase::migrated().await;
    let dead_database = "postgres://musicmeta:s3cret-db-pw@127.0.0.1:1/musicmeta";
    let dead_broker = "amqp://guest:s3cret-mq-pw@127.0.0.1:1/%2f";
    let user_agent = musicmeta_tests::app::TEST_USER_AGENT;
    // A dead database for query-api; a live one for the worker, so that it
    // gets as far as the broker.
    let runs: [(&str, &[&str], &str, Option<&str>); 4] = [
        ("query-api", &["serve"], dead_database, None),
        ("query-api", &["migrate"], dead_database, None),
        ("ingest-worker", &["status"], db.url.as_str(), None),
        (
            "ingest-worker",
            &["run"],
            db.url.as_str(),
            Some("reconnecting"),
        ),
    ];
    for (program, args, database_url, stop_at) in runs {
        let env = [
            ("DATABASE_URL", database_url),
            ("AMQP_URL", dead_broker),
            ("MUSICMETA_GRPC__LISTEN_ADDR", "127.0.0.1:0"),
            ("MUSICMETA_GRPC__ADMIN_TOKEN", ADMIN_TOKEN),
            ("MUSICMETA_MUSICBRAINZ__USER_AGENT", user_agent),
            ("MUSICMETA_DATABASE__TIMEOUT_MS", "1000"),
        ];
        let (succeeded, text) = run_program(program, args, &env, stop_at).await;
        assert!(!succeeded, "{program} {args:?} succeeded:\n{text}");
        assert!(
            text.contains("127.0.0.1:1")
                || text.contains("onnection refused")
                || text.contains("reconnecting"),
            "{program} {args:?} does not say what failed:\n{text}"
        );
        for secret in ["s3cret-db-pw", "s3cret-mq-pw", ADMIN_TOKEN] {
            assert!(
                !text.contains(secret),
                "{program} {args:?} showed {secret}:\n{text}"
            );
        }
    }
}

/// Which form of `secret` `text` shows, if any: as is, as the decimal
/// bytes lapin prints a frame's payload in (any separators), or as hex
/// (either case, any separators).
fn shows_secret(text: &str, secret: &str) -> Option<&'static str> {
    if text.contains(secret) {
        return Some("plain");
    }
    let numbers: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let bytes: Vec<u32> = secret.bytes().map(u32::from).collect();
    if numbers.windows(bytes.len()).any(|w| w == bytes.as_slice()) {
        return Some("decimal bytes");
    }
    let hex: String = text
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let secret_hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    hex.contains(&secret_hex).then_some("hex")
}

/// lapin logs the AMQP login frame at TRACE, its response spelling
/// `\0user\0password` in decimal bytes (issue 20). Both programs, made to
/// log in to the real broker with a distinctive (wrong) password at
/// `RUST_LOG=trace`, show it in no form; the frame dump is capped even
/// when RUST_LOG names lapin's frame writer itself.
#[tokio::test]
async fn the_amqp_password_stays_out_of_trace_logs() {
    const PASSWORD: &str = "Qx7-amqp-pw-4711-zK";
    let db = TestDatabase::migrated().await;
    let mut broker = url::Url::parse(&musicmeta_tests::broker::url()).unwrap();
    broker.set_password(Some(PASSWORD)).unwrap();
    let broker = broker.to_string();
    let user_agent = musicmeta_tests::app::TEST_USER_AGENT;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("AMQP_URL", broker.as_str()),
        ("MUSICMETA_GRPC__LISTEN_ADDR", listen.as_str()),
        ("MUSICMETA_MUSICBRAINZ__USER_AGENT", user_agent),
    ];

    // The worker connects at once, is refused and says it reconnects.
    let (_, worker) = run_program("ingest-worker", &["run"], &env, Some("reconnecting")).await;
    // query-api connects on the first miss: make one. Its answer is not
    // looked at: the program is stopped as soon as it logs the failed
    // publish, which may cut the call off before it is answered.
    let miss = async {
        // The program starts in another process: its port is polled until
        // it listens, for up to 60 s.
        let mut tries = 0;
        let mut client = loop {
            match MetadataServiceClient::connect(format!("http://{listen}")).await {
                Ok(client) => break client,
                Err(error) => {
                    tries += 1;
                    assert!(tries < 600, "query-api never listened on {listen}: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let mut request = tonic::Request::new(pb::GetLabelRequest { mbid: WARP.into() });
        request.set_timeout(Duration::from_secs(5));
        let _ = client.get_label(request).await;
    };
    let ((_, api), ()) = tokio::join!(
        run_program("query-api", &["serve"], &env, Some("publish failed")),
        miss
    );
    // RUST_LOG aimed at the frame writer itself.
    let (_, aimed) = run_program_with_log(
        "ingest-worker",
        &["run"],
        &env,
        Some("reconnecting"),
        "trace,lapin::io_loop=trace,amq_protocol=trace",
    )
    .await;
    for (program, text) in [
        ("ingest-worker", &worker),
        ("query-api", &api),
        ("aimed", &aimed),
    ] {
        assert!(
            text.contains("ACCESS_REFUSED") || text.contains("authentication"),
            "{program} did not get as far as logging in:\n{text}"
        );
        assert_eq!(
            shows_secret(text, PASSWORD),
            None,
            "{program} logged the AMQP password:\n{text}"
        );
        assert!(
            text.lines().count() > 20,
            "{program} logged at trace:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_broker_with_a_password_is_not_named_in_a_lookups_error() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        amqp_url: Some("amqp://guest:s3cret-mq-pw@127.0.0.1:1/%2f".into()),
        ..TestOptions::default()
    })
    .await;
    let mut request = tonic::Request::new(pb::GetLabelRequest {
        mbid: uuid::Uuid::new_v4().to_string(),
    });
    request.set_timeout(Duration::from_secs(5));
    let status = app.client().await.get_label(request).await.unwrap_err();
    assert!(!status.message().contains("s3cret"), "{status:?}");
    let shown = format!("{:?}", app.config);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("guest:***@"), "{shown}");
}

// ---------------------------------------------------------------------------
// The worker talks only to the configured MusicBrainz

/// A job names an entity type and an MBID, never a URL; anything that could
/// steer a request elsewhere fails to decode (see also `Mbid::parse`'s
/// tests in shared/src/mbid.rs) and is dead-lettered.
#[test]
fn a_job_cannot_carry_a_url_or_a_path() {
    for mbid in [
        "http://evil.example/ws/2/artist/x",
        "../../../etc/passwd",
        "72c536dc-7137-4477-a521-567eeb840fa8/../x",
        "72c536dc-7137-4477-a521-567eeb840fa8?inc=x",
        "72c536dc%2D7137-4477-a521-567eeb840fa8",
        "//evil.example/72c536dc-7137-4477-a521",
    ] {
        let body = serde_json::json!({
            "v": 1, "job_id": uuid::Uuid::new_v4(), "entity_type": "artist", "mbid": mbid,
        });
        assert!(
            FetchJob::decode(body.to_string().as_bytes()).is_err(),
            "{mbid} was accepted"
        );
        assert!(Mbid::parse(mbid).is_err(), "{mbid}");
    }
    let body = serde_json::json!({
        "v": 1, "job_id": uuid::Uuid::new_v4(), "entity_type": "https://evil.example",
        "mbid": "72c536dc-7137-4477-a521-567eeb840fa8",
    });
    assert!(FetchJob::decode(body.to_string().as_bytes()).is_err());
}

/// A 301 whose Location names another host is not followed there: the
/// client takes the MBID from it and asks the configured base URL.
#[tokio::test]
async fn redirects_never_lead_the_worker_to_another_host() {
    use wiremock::matchers::{any, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let musicbrainz = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let merged = uuid::Uuid::new_v4().to_string();
    let body = std::fs::read(fixtures::lookup_path(EntityType::Artist, RICK_ASTLEY)).unwrap();
    Mock::given(method("GET"))
        .and(path(format!("/ws/2/artist/{merged}")))
        .respond_with(
            // An unusable body, so the client must look at Location.
            ResponseTemplate::new(301)
                .insert_header(
                    "location",
                    format!("{}/ws/2/artist/{RICK_ASTLEY}?fmt=json", elsewhere.uri()),
                )
                .set_body_string("moved"),
        )
        .mount(&musicbrainz)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/ws/2/artist/{RICK_ASTLEY}")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_bytes(body.clone()),
        )
        .mount(&musicbrainz)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_bytes(body))
        .mount(&elsewhere)
        .await;

    let config = MusicBrainzConfig {
        base_url: format!("{}/ws/2", musicbrainz.uri()),
        user_agent: musicmeta_tests::app::TEST_USER_AGENT.into(),
        ..MusicBrainzConfig::default()
    };
    let client = MusicBrainzClient::new(&config, RateGate::local(100.0)).unwrap();
    let outcome = client
        .fetch(
            EntityType::Artist,
            Mbid::parse(&merged).unwrap(),
            Lane::Interactive,
        )
        .await
        .expect("the redirect is resolved");
    let FetchOutcome::Found { entity, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(entity.mbid().to_string(), RICK_ASTLEY);
    assert_eq!(musicbrainz.received_requests().await.unwrap().len(), 2);
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the other host was contacted"
    );
}
