//! What operators' tools see: Prometheus metrics that move with the work,
//! and a health status that follows the database.

use std::collections::HashMap;

use futures::StreamExt;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions, python};
use tonic_health::pb::health_check_response::ServingStatus;

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

async fn scrape(addr: std::net::SocketAddr) -> HashMap<String, f64> {
    musicmeta_tests::app::scrape_metrics(addr).await
}

fn value(m: &HashMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_with_lookups_jobs_and_upstream_requests() {
    let app = TestApp::spawn_with(TestOptions::with_metrics()).await;
    let api = app.metrics_addr.expect("query-api serves /metrics");
    let worker = app.workers[0]
        .metrics_addr()
        .expect("the worker serves /metrics");
    let before = scrape(api).await;
    let mut client = app.client().await;
    client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .unwrap();
    client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .unwrap();
    client
        .get_label(pb::GetLabelRequest {
            mbid: "nope".into(),
        })
        .await
        .unwrap_err();
    let after = scrape(api).await;
    let moved = |key: &str| value(&after, key) - value(&before, key);

    assert_eq!(
        moved(r#"musicmeta_lookups_total{method="GetLabel",outcome="filled"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"musicmeta_lookups_total{method="GetLabel",outcome="fresh"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"musicmeta_lookups_total{method="GetLabel",outcome="invalid"}"#),
        1.0
    );
    assert_eq!(moved("musicmeta_miss_wait_seconds_count"), 1.0);
    // The second lookup was answered from the hot tier; the first was not.
    assert_eq!(
        moved(r#"musicmeta_hot_tier_lookups_total{result="hit"}"#),
        1.0
    );
    assert!(moved(r#"musicmeta_hot_tier_lookups_total{result="miss"}"#) >= 1.0);
    assert_eq!(
        moved(r#"musicmeta_jobs_published_total{lane="interactive",result="ok"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"musicmeta_jobs_consumed_total{lane="interactive",outcome="stored"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"musicmeta_upstream_requests_total{status="200"}"#),
        1.0
    );
    assert_eq!(moved("musicmeta_upstream_request_seconds_count"), 1.0);
    assert_eq!(
        moved(r#"musicmeta_rate_limit_wait_seconds_count{lane="interactive"}"#),
        1.0
    );
    assert!(value(&after, r#"musicmeta_db_pool_connections{state="size"}"#) >= 1.0);
    assert_eq!(
        value(&after, r#"musicmeta_amqp_connected{role="consumer"}"#),
        1.0
    );
    assert_eq!(
        value(&after, r#"musicmeta_amqp_connected{role="publisher"}"#),
        1.0
    );
    // The worker serves its own endpoint too.
    assert!(
        scrape(worker)
            .await
            .contains_key(r#"musicmeta_db_pool_connections{state="size"}"#)
    );

    // A refresh's fill voids the hot copy: a lookup after query-api has
    // heard of the fill (PostgreSQL delivers the notification on its own
    // schedule, so lookups are repeated until then) lets it go.
    let invalidated = r#"musicmeta_hot_tier_evictions_total{cause="invalidated"}"#;
    let mut reports = app.reports();
    let refresh = FetchJob::new(EntityType::Label, Mbid::parse(LABEL).unwrap()).forced();
    app.broker.publish(&refresh, Lane::Refresh).await;
    next_report(&mut reports, |r| r.job_id == Some(refresh.job_id)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        client
            .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
            .await
            .unwrap();
        if value(&scrape(api).await, invalidated) > value(&after, invalidated) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no hot-tier invalidation counted within 30 s of the refresh"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn health_turns_not_serving_while_the_database_is_down_and_back() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut statuses = app.watch_health().await;
    // Bounded, so a status that never changes fails the test instead of hanging it.
    let mut next = async || {
        tokio::time::timeout(std::time::Duration::from_secs(30), statuses.next())
            .await
            .expect("a status change within 30 s")
            .expect("status stream")
            .expect("status")
            .status
    };
    assert_eq!(next().await, ServingStatus::Serving as i32);

    app.db.cut_off().await;
    assert_eq!(next().await, ServingStatus::NotServing as i32);

    app.db.reconnect().await;
    assert_eq!(next().await, ServingStatus::Serving as i32);
}

/// One miss is one trace: the caller's W3C trace id travels from the gRPC
/// call through the job's AMQP headers into the worker's span.
#[tokio::test]
async fn one_miss_is_one_trace() {
    let app = TestApp::spawn().await;
    let mut reports = app.reports();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = tonic::Request::new(pb::GetLabelRequest { mbid: LABEL.into() });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
    );
    app.client().await.get_label(request).await.unwrap();
    let report = musicmeta_tests::app::next_report(&mut reports, |r| r.job_id.is_some()).await;
    assert_eq!(report.trace_id.as_deref(), Some(trace));

    // A call without a trace context starts a new trace, which the job continues.
    let mut reports = app.reports();
    let other = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c";
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: other.into() })
        .await
        .unwrap();
    let report = musicmeta_tests::app::next_report(&mut reports, |r| r.job_id.is_some()).await;
    let id = report.trace_id.expect("the job has a trace");
    assert_ne!(id, trace);
    assert_eq!(id.len(), 32);
}

/// Tools with no proto file (as grpcurl and grpc_health_probe work) find
/// the services through reflection and read the health status: here
/// Python's grpcio reflection and health clients, which we did not write.
#[tokio::test]
async fn reflection_and_health_work_without_proto_files() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/python/probe_without_protos.py"
    );
    let addr = app.addr.to_string();
    python::require("import grpc_health, grpc_reflection");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = python::output(python::command(
        dir,
        &[script, addr.as_str(), "musicmeta.v1.MetadataService"],
    ))
    .await;
    assert!(
        output.status.success(),
        "the probe failed (pip install -r tests/python/requirements.txt?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let services: Vec<&str> = answer["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    for wanted in [
        "musicmeta.v1.MetadataService",
        "musicmeta.v1.AdminService",
        "musicmeta.v1.IdentifierService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.contains(&wanted), "{wanted} not in {services:?}");
    }
    assert_eq!(
        answer["methods"],
        serde_json::json!([
            "GetArtist",
            "GetReleaseGroup",
            "GetRelease",
            "GetRecording",
            "GetLabel",
            "GetWork"
        ])
    );
    assert_eq!(answer["health"], "SERVING");
}

/// Shutting down, query-api first reports NOT_SERVING (so load balancers
/// stop sending lookups), then stops, even with a health watcher connected.
#[tokio::test]
async fn health_turns_not_serving_when_shutting_down() {
    let mut app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut statuses = app.watch_health().await;
    let within = std::time::Duration::from_secs(30);
    let first = tokio::time::timeout(within, statuses.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    app.stop_api();
    let next = tokio::time::timeout(within, statuses.next())
        .await
        .expect("a status within 30 s");
    assert_eq!(
        next.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    // The server then goes away: new connections are refused.
    let gone = async {
        while tokio::net::TcpStream::connect(app.addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(within, gone)
        .await
        .expect("query-api stops within 30 s");
}
