//! The service as operators and MusicBrainz see it: the standard health
//! check for both read services, a start-up that fails cleanly, and the
//! worker's request rate.

use std::collections::HashMap;
use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_query_api::{Application, StartError};
use musicmeta_shared::config::Config;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::{TestApp, TestOptions};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn health_reports_both_read_services_serving() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    for service in [
        "musicmeta.v1.MetadataService",
        "musicmeta.v1.CatalogService",
    ] {
        let status = app
            .health()
            .await
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

/// When a late start-up step fails (here: the gRPC port is taken), what
/// the earlier steps started is stopped again: the metrics port is free and
/// no connection to the database is left open.
#[tokio::test]
async fn a_failed_start_leaves_nothing_running() {
    musicmeta_shared::telemetry::init_for_tests();
    let db = TestDatabase::migrated().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    drop(metrics);
    let env: HashMap<String, String> = [
        ("DATABASE_URL", db.url.clone()),
        ("AMQP_URL", musicmeta_tests::broker::url()),
        (
            "MUSICMETA_GRPC__LISTEN_ADDR",
            taken.local_addr().unwrap().to_string(),
        ),
        ("MUSICMETA_METRICS__LISTEN_ADDR", metrics_addr.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::load_with_env(None, env).unwrap();
    let error = Application::build(config).await.unwrap_err();
    assert!(matches!(error, StartError::Bind { .. }), "{error}");

    // Both are released by tasks that were cancelled; wait for them (the
    // only events here are a port and a row in pg_stat_activity going away).
    let admin = db.connect().await;
    let mut released = false;
    for _ in 0..600 {
        if std::net::TcpListener::bind(metrics_addr).is_ok()
            && connections(&admin, &db.name).await == 0
        {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        released,
        "after a failed start: metrics port free = {}, database connections = {}",
        std::net::TcpListener::bind(metrics_addr).is_ok(),
        connections(&admin, &db.name).await
    );
}

/// The limiter spaces requests 1/rate apart.
#[tokio::test]
async fn the_worker_keeps_to_the_configured_request_rate() {
    let app = TestApp::spawn_with(TestOptions {
        env: vec![(
            "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND".into(),
            "5".into(),
        )],
        ..TestOptions::default()
    })
    .await;
    let labels = [
        "46f0f4cd-8aab-4b33-b698-f459faf64190",
        "82935ddb-a9d6-45a7-85e3-0b0add51fa1c",
        "2b4025d3-8046-489e-a1eb-5adee4131e8e",
        "995428e7-81b6-41dd-bd38-5a7a0ece8ad6",
        "156fa9e1-1385-41c5-9403-54effeeab69c",
        "225e2add-bfe5-41c8-a0ac-29c102723efb",
    ];
    let mut reports = app.reports();
    for label in labels {
        let job = FetchJob::new(EntityType::Label, Mbid::parse(label).unwrap());
        app.broker.publish(&job, Lane::Backfill).await;
    }
    for _ in labels {
        let report = next_report(&mut reports, |_| true).await;
        assert!(
            matches!(report.outcome, JobOutcome::Stored { .. }),
            "{report:?}"
        );
    }
    let arrivals = app.musicbrainz.arrivals();
    assert_eq!(arrivals.len(), labels.len());
    // Slots are 200 ms apart; a send delayed by a busy machine can bring
    // one pair closer, but not the whole run: six requests span five slots,
    // less at most one such delay. Unlimited, they arrive within a few ms.
    let period = Duration::from_millis(200);
    let span = *arrivals.last().unwrap() - arrivals[0];
    let gaps: Vec<_> = arrivals.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(
        span >= period * 5 - Duration::from_millis(150),
        "6 requests within {span:?} at 5/s: gaps {gaps:?}"
    );
}

/// Connections to database `name`, other than the asking one.
async fn connections(admin: &tokio_postgres::Client, name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

/// A configuration mistake stops either program with status 2 and one line
/// naming the key — also when only start-up can tell (a URL the client
/// library cannot parse, a token too short, a TLS file that is missing) and
/// with `RUST_BACKTRACE=1`: no error chain, no backtrace, no password.
#[tokio::test]
async fn configuration_mistakes_found_at_start_exit_2_with_one_line_naming_the_key() {
    let db = TestDatabase::migrated().await;
    let amqp = musicmeta_tests::broker::url();
    // Program, the mistake (environment overrides), the key named.
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(&str, Env, &str)] = &[
        (
            "query-api",
            &[("MUSICMETA_GRPC__ADMIN_TOKEN", "short")],
            "grpc.admin_token",
        ),
        (
            "query-api",
            &[("MUSICMETA_GRPC__LOOKUP_TOKEN", "has a space in it, sadly")],
            "grpc.lookup_token",
        ),
        (
            "query-api",
            &[
                ("MUSICMETA_GRPC__TLS__CERT_PATH", "/nonexistent/cert.pem"),
                ("MUSICMETA_GRPC__TLS__KEY_PATH", "/nonexistent/key.pem"),
            ],
            "grpc.tls.cert_path",
        ),
        (
            "query-api",
            &[
                ("MUSICMETA_HTTP__LISTEN_ADDR", "127.0.0.1:0"),
                ("MUSICMETA_HTTP__TLS__CERT_PATH", "/nonexistent/cert.pem"),
                ("MUSICMETA_HTTP__TLS__KEY_PATH", "/nonexistent/key.pem"),
            ],
            "http.tls",
        ),
    ];
    let both: &[(Env, &str)] = &[
        (
            &[(
                "DATABASE_URL",
                "postgres://postgres:pw-12345@127.0.0.1:99999/x",
            )],
            "database.url",
        ),
        (
            &[(
                "DATABASE_URL",
                "postgres://postgres:pw-12345@127.0.0.1:5432/x?sslmode=sometimes",
            )],
            "database.url",
        ),
        (
            &[("AMQP_URL", "amqp://guest:pw-12345@127.0.0.1:99999/%2f")],
            "amqp.url",
        ),
    ];
    let cases = cases.iter().copied().chain(
        both.iter()
            .flat_map(|&(env, key)| ["query-api", "ingest-worker"].map(|p| (p, env, key))),
    );
    for (program, env, key) in cases {
        let output = tokio::process::Command::new(musicmeta_tests::binaries::binary(program))
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .env("AMQP_URL", &amqp)
            .env(
                "MUSICMETA_MUSICBRAINZ__USER_AGENT",
                musicmeta_tests::app::TEST_USER_AGENT,
            )
            .env("MUSICMETA_GRPC__LISTEN_ADDR", "127.0.0.1:0")
            .env("RUST_BACKTRACE", "1")
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .unwrap_or_else(|_| panic!("{program} with {env:?} did not stop"))
            .expect("run the program");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let case = format!("{program} with {env:?}: {:?}\n{stderr}", output.status);
        assert_eq!(output.status.code(), Some(2), "{case}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{case}");
        assert!(
            lines[0].starts_with(&format!("{program}: configuration key {key}: ")),
            "{case}"
        );
        assert!(!stderr.contains("pw-12345"), "{case}");
    }
}
