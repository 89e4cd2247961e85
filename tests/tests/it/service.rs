//! The service as operators and MusicBrainz see it: the standard health
//! check, and the worker's request rate.

use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn health_reports_serving() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let status = app
        .health()
        .await
        .check(HealthCheckRequest {
            service: "musicmeta.v1.MetadataService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
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
