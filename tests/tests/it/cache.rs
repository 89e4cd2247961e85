//! Cache semantics through the real services: stale rows, the negative
//! cache, merged-MBID redirects, malformed input, concurrent misses and
//! idempotent re-delivery.

use std::time::Duration;

use futures::future::join_all;
use musicmeta_ingest_worker::JobOutcome;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::TestApp;
use musicmeta_tests::app::next_report;
use tonic::Code;

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190"; // Warp
const ARTIST: &str = "db92a151-1ac2-438b-bc43-b82e149ddd50"; // Rick Astley
const RECORDING: &str = "b9ad642e-b012-41c7-b72a-42cf4911f9ff";
const RELEASE: &str = "748e3e26-1b4a-4ba9-a2f8-f8bf72ca532d"; // 2 media

fn freshness(cache: &Option<pb::CacheInfo>) -> pb::Freshness {
    pb::Freshness::try_from(cache.as_ref().unwrap().freshness).unwrap()
}

#[tokio::test]
async fn stale_entity_is_served_at_once_and_refreshed() {
    // The test ages the row behind query-api's back, as if a week went by;
    // a hot copy would not see that edit (tests/hot_tier.rs), so it is off.
    let app = TestApp::spawn_with(musicmeta_tests::TestOptions {
        env: vec![("MUSICMETA_CACHE__HOT_CAPACITY_MB".into(), "0".into())],
        ..musicmeta_tests::TestOptions::default()
    })
    .await;
    let mut client = app.client().await;
    let get = pb::GetLabelRequest { mbid: LABEL.into() };
    let first = client.get_label(get.clone()).await.unwrap().into_inner();
    assert_eq!(freshness(&first.cache), pb::Freshness::Fresh);

    // Age the row past the 7-day default TTL.
    app.db
        .connect()
        .await
        .execute(
            "UPDATE label SET fetched_at = now() - interval '30 days' WHERE mbid = $1",
            &[&Mbid::parse(LABEL).unwrap().as_uuid()],
        )
        .await
        .unwrap();
    let mut reports = app.reports();
    let stale = client.get_label(get.clone()).await.unwrap().into_inner();
    assert_eq!(freshness(&stale.cache), pb::Freshness::Stale);
    assert_eq!(stale.label, first.label, "stale copy is served as it is");

    // The refresh's report: the first lookup's own report may arrive late.
    let report = next_report(&mut reports, |r| {
        r.lane == Lane::Refresh && matches!(r.outcome, JobOutcome::Stored { .. })
    })
    .await;
    assert_eq!(report.entity.unwrap().1.to_string(), LABEL);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        2
    );
    let refreshed = client.get_label(get).await.unwrap().into_inner();
    assert_eq!(freshness(&refreshed.cache), pb::Freshness::Fresh);
}

#[tokio::test]
async fn upstream_404_is_not_found_and_remembered() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let missing = uuid::Uuid::new_v4().to_string();
    for _ in 0..3 {
        let err = client
            .get_artist(pb::GetArtistRequest {
                mbid: missing.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        assert!(err.message().contains(&missing), "{}", err.message());
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Artist, &missing)
            .await,
        1
    );

    // Once the negative TTL has passed, MusicBrainz is asked again.
    app.db
        .connect()
        .await
        .execute(
            "UPDATE lookup_outcome SET recorded_at = now() - interval '2 days'",
            &[],
        )
        .await
        .unwrap();
    let err = client
        .get_artist(pb::GetArtistRequest {
            mbid: missing.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Artist, &missing)
            .await,
        2
    );
}

#[tokio::test]
async fn merged_mbid_resolves_to_the_surviving_entity() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let old = uuid::Uuid::new_v4().to_string();
    app.musicbrainz
        .redirect(EntityType::Artist, &old, ARTIST)
        .await;

    for _ in 0..2 {
        let answer = client
            .get_artist(pb::GetArtistRequest { mbid: old.clone() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.artist.unwrap().mbid, ARTIST);
        assert_eq!(
            answer.cache.unwrap().redirected_from.as_deref(),
            Some(old.as_str())
        );
    }
    let direct = client
        .get_artist(pb::GetArtistRequest {
            mbid: ARTIST.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(direct.cache.unwrap().redirected_from, None);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Artist, &old).await,
        1
    );
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Artist, ARTIST).await,
        0
    );
}

#[tokio::test]
async fn malformed_mbids_are_invalid_argument_and_queue_nothing() {
    let app = TestApp::spawn_with(musicmeta_tests::TestOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let mut client = app.client().await;
    let long = "a".repeat(10_000);
    for bad in [
        "",
        "not-an-mbid",
        "5b11f4cea62d471e81fca69a8278c7da",
        "{5b11f4ce-a62d-471e-81fc-a69a8278c7da}",
        "5b11f4ce-a62d-471e-81fc-a69a8278c7dz",
        "5b11f4ce-a62d-471e-81fc-a69a8278c7da' OR '1'='1",
        long.as_str(),
    ] {
        let err = client
            .get_release(pb::GetReleaseRequest { mbid: bad.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:.40}: {err:?}");
        assert!(
            err.message().starts_with("invalid mbid"),
            "{}",
            err.message()
        );
        assert!(err.message().len() < 200, "message echoes at most a prefix");
    }
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Interactive))
            .await,
        0
    );
    assert_eq!(app.db.count("SELECT count(*) FROM fetch_request").await, 0);
    assert!(app.musicbrainz.requests().await.is_empty());
}

/// An MBID in upper or mixed case names the same entity, as at MusicBrainz
/// (whose server lowercases it): answered in lowercase, filled once, one
/// cached row, one upstream request.
#[tokio::test]
async fn mbids_in_any_case_name_the_same_entity() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let mixed: String = LABEL
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    for asked in [LABEL.to_uppercase(), LABEL.to_owned(), mixed] {
        let answer = client
            .get_label(pb::GetLabelRequest {
                mbid: asked.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{asked}: {e:?}"))
            .into_inner();
        assert_eq!(answer.label.unwrap().mbid, LABEL, "asked as {asked}");
    }
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        1
    );
    assert_eq!(app.db.count("SELECT count(*) FROM label").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_misses_make_one_upstream_request() {
    let app = TestApp::spawn().await;
    let client = app.client().await;
    let calls = (0..20).map(|_| {
        let mut client = client.clone();
        async move {
            client
                .get_recording(pb::GetRecordingRequest {
                    mbid: RECORDING.into(),
                })
                .await
                .map(|r| r.into_inner().recording.unwrap().mbid)
        }
    });
    for result in join_all(calls).await {
        assert_eq!(result.expect("every caller is answered"), RECORDING);
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Recording, RECORDING)
            .await,
        1
    );
}

#[tokio::test]
async fn a_job_delivered_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    client
        .get_release(pb::GetReleaseRequest {
            mbid: RELEASE.into(),
        })
        .await
        .unwrap();
    let before = app.db.snapshot().await;
    assert!(before.iter().any(|r| r.starts_with("track: ")));

    let mut reports = app.reports();
    // The same job again, forced past the freshness check, as if the worker
    // had died after its commit and before its ack.
    let mbid = Mbid::parse(RELEASE).unwrap();
    let job = FetchJob::new(EntityType::Release, mbid).forced();
    app.broker.publish(&job, Lane::Backfill).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert_eq!(report.outcome, JobOutcome::Stored { stored: mbid });
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        2
    );
    assert_eq!(app.db.snapshot().await, before);

    // Unforced, a duplicate of a fresh entity costs no upstream request.
    let duplicate = FetchJob::new(EntityType::Release, mbid);
    app.broker.publish(&duplicate, Lane::Interactive).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(duplicate.job_id)).await;
    assert_eq!(report.outcome, JobOutcome::AlreadyFresh);
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        2
    );
    assert_eq!(app.db.snapshot().await, before);
}

#[tokio::test]
async fn upstream_503_slows_down_and_the_job_is_retried() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    app.musicbrainz
        .slow_down(EntityType::Label, LABEL, 2, "1")
        .await;
    let answer = client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .expect("filled once MusicBrainz recovers")
        .into_inner();
    assert_eq!(answer.label.unwrap().mbid, LABEL);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        3
    );
}

#[tokio::test]
async fn a_miss_not_filled_in_time_says_the_fetch_is_queued() {
    // No worker: the job waits in the queue.
    let app = TestApp::spawn_with(musicmeta_tests::TestOptions {
        workers: 0,
        ..Default::default()
    })
    .await;
    let mut client = app.client().await;
    let mut request = tonic::Request::new(pb::GetLabelRequest { mbid: LABEL.into() });
    request.set_timeout(Duration::from_millis(800));
    let err = client.get_label(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("queued"), "{}", err.message());
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Interactive))
            .await,
        1,
        "the job is durable in the queue"
    );
}
