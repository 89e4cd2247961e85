//! Bad input and broken parts: a broken upstream response, an edited
//! response with nulls, a poison message, a dead broker, a dead database.
//! Each has a defined outcome and loses or half-writes nothing.

use std::time::Duration;

use musicmeta_ingest_worker::{JobOutcome, Worker, WorkerError};
use musicmeta_musicbrainz::parse_entity;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::db::{EntityWriter, PgStore};
use musicmeta_shared::domain::FetchOutcome;
use musicmeta_shared::jobs::Lane;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tonic::Code;

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

fn short_deadline<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(Duration::from_secs(2));
    request
}

#[tokio::test]
async fn broken_upstream_responses_are_dead_lettered_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let mut reports = app.reports();
    let cases = [
        (
            uuid::Uuid::new_v4().to_string(),
            b"{\"id\": \"truncated".to_vec(),
        ),
        (
            uuid::Uuid::new_v4().to_string(),
            fixtures::read("edge/release_null.json"),
        ),
        (
            uuid::Uuid::new_v4().to_string(),
            b"<html>Bad gateway</html>".to_vec(),
        ),
    ];
    for (mbid, body) in &cases {
        app.musicbrainz
            .serve_body(EntityType::Release, mbid, body.clone())
            .await;
        let err = client
            .get_release(short_deadline(pb::GetReleaseRequest { mbid: mbid.clone() }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        let report = next_report(&mut reports, |r| {
            r.entity.is_some_and(|(_, m)| m.to_string() == *mbid)
        })
        .await;
        assert!(
            matches!(report.outcome, JobOutcome::DeadLettered { .. }),
            "{report:?}"
        );
    }
    assert_eq!(
        app.broker.depth(&app.broker.dead_letter_queue).await,
        3,
        "kept for inspection"
    );
    assert_eq!(app.db.count("SELECT count(*) FROM release").await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM fetch_request").await, 0);
}

#[tokio::test]
async fn poison_messages_are_dead_lettered() {
    let app = TestApp::spawn().await;
    let mut reports = app.reports();
    for body in [
        b"not json at all".as_slice(),
        br#"{"v":1,"entity_type":"release","mbid":"nope"}"#,
        br#"{"v":99,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"46f0f4cd-8aab-4b33-b698-f459faf64190"}"#,
    ] {
        app.broker.publish_raw(body, Lane::Backfill).await;
        let report = next_report(&mut reports, |_| true).await;
        assert!(matches!(report.outcome, JobOutcome::DeadLettered { .. }), "{report:?}");
    }
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 3);
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
        0
    );
    assert!(app.musicbrainz.requests().await.is_empty());
}

#[tokio::test]
async fn with_the_broker_down_hits_are_served_and_misses_say_so() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        // Nothing listens on port 1.
        amqp_url: Some("amqp://guest:guest@127.0.0.1:1/%2f".into()),
        ..TestOptions::default()
    })
    .await;
    // Fill one label straight into the database.
    let pool = musicmeta_shared::db::build_pool(&app.db.config()).unwrap();
    let entity = parse_entity(
        EntityType::Label,
        &std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap(),
    )
    .unwrap();
    PgStore::new(pool)
        .store(
            EntityType::Label,
            Mbid::parse(LABEL).unwrap(),
            FetchOutcome::Found {
                entity,
                document: serde_json::json!({}).into(),
            },
        )
        .await
        .unwrap();

    let mut client = app.client().await;
    let hit = client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .unwrap();
    assert_eq!(hit.into_inner().label.unwrap().mbid, LABEL);

    let err = client
        .get_label(short_deadline(pb::GetLabelRequest {
            mbid: uuid::Uuid::new_v4().to_string(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("broker"), "{}", err.message());
    // The miss is recorded: its job waits in the outbox for the broker
    // (tests/recovery.rs shows it published once the broker is back).
    assert_eq!(app.db.count("SELECT count(*) FROM job_outbox").await, 1);
    assert_eq!(app.db.count("SELECT count(*) FROM fetch_request").await, 1);
}

#[tokio::test]
async fn with_the_database_down_lookups_are_unavailable_not_hung() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    app.db.cut_off().await;
    let err = client
        .get_label(short_deadline(pb::GetLabelRequest { mbid: LABEL.into() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("database"), "{}", err.message());
}

#[tokio::test]
async fn the_worker_refuses_to_start_without_a_contact_in_its_user_agent() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut config = app.config.clone();
    config.musicbrainz.user_agent = "musicmeta/0.1".into();
    let err = Worker::build(config).await.unwrap_err();
    assert!(matches!(err, WorkerError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("musicbrainz.user_agent"), "{err}");
}

/// Requests and metadata have size limits; an oversized one gets a clear
/// error, and the server keeps serving.
#[tokio::test]
async fn oversized_requests_get_a_clear_error() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut client = app.client().await;
    let err = client
        .get_release(pb::GetReleaseRequest {
            mbid: "a".repeat(100 * 1024),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"), "{}", err.message());

    // Metadata over the 16 KiB cap (the 20 kB of the report among them):
    // RESOURCE_EXHAUSTED saying by how much, up to the 64 KiB HTTP/2 lets
    // through; over that HTTP/2 itself answers 431 (UNKNOWN at the client),
    // and over 256 KiB it closes the connection (ENHANCE_YOUR_CALM, which
    // clients report as RESOURCE_EXHAUSTED). docs/reliability.md says so.
    for (size, code, says) in [
        (
            17_000,
            Code::ResourceExhausted,
            "request metadata is 17197 bytes",
        ),
        (
            20_000,
            Code::ResourceExhausted,
            "request metadata is 20197 bytes",
        ),
        (
            63 * 1024,
            Code::ResourceExhausted,
            "at most 16384 are accepted",
        ),
        (100 * 1024, Code::Unknown, "431"),
        (300 * 1024, Code::ResourceExhausted, ""),
    ] {
        let mut client = app.client().await;
        let mut request = tonic::Request::new(pb::GetReleaseRequest { mbid: "x".into() });
        request
            .metadata_mut()
            .insert("x-padding", "p".repeat(size).parse().unwrap());
        let err = client.get_release(request).await.unwrap_err();
        assert_eq!(err.code(), code, "{size} bytes: {err:?}");
        assert!(err.message().contains(says), "{size} bytes: {err:?}");
    }

    // Still serving.
    let err = app
        .client()
        .await
        .get_release(pb::GetReleaseRequest {
            mbid: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// The heaviest recorded release per track (17 kB a track with its
/// recording's relations, aliases and genres).
const HEAVY_RELEASE: &str = "be3a32ec-8d3d-41de-b102-12bcaaa33e78";

/// A 500-track release: [`HEAVY_RELEASE`]'s tracks repeated on 5 media of
/// 100, every track and recording with an MBID of its own.
fn release_of_500_tracks(mbid: &str) -> Vec<u8> {
    let mut release = fixtures::lookup_json(EntityType::Release, HEAVY_RELEASE);
    let medium = release["media"][0].clone();
    let tracks = medium["tracks"].as_array().expect("tracks").clone();
    let media: Vec<serde_json::Value> = (0..5)
        .map(|disc| {
            let mut medium = medium.clone();
            medium["id"] = uuid::Uuid::new_v4().to_string().into();
            medium["position"] = (disc + 1).into();
            medium["track-count"] = 100.into();
            medium["track-offset"] = 0.into();
            medium["tracks"] = (0..100)
                .map(|i| {
                    let mut track = tracks[i % tracks.len()].clone();
                    track["id"] = uuid::Uuid::new_v4().to_string().into();
                    track["position"] = (i + 1).into();
                    track["number"] = (i + 1).to_string().into();
                    track["recording"]["id"] = uuid::Uuid::new_v4().to_string().into();
                    track
                })
                .collect();
            medium
        })
        .collect();
    release["media"] = media.into();
    release["id"] = mbid.into();
    serde_json::to_vec(&release).expect("json")
}

/// The largest answers stay within what gRPC clients take by default
/// (4 MiB): a 500-track release, as MusicBrainz would send it with every
/// relation, passes `musicbrainz.max_body_bytes` and comes back through a
/// client with tonic's default limits. (Sizes are printed for the docs.)
#[tokio::test]
async fn a_500_track_release_fits_the_default_grpc_message_size() {
    use prost::Message as _;

    let app = TestApp::spawn().await;
    let mbid = uuid::Uuid::new_v4().to_string();
    let body = release_of_500_tracks(&mbid);
    app.musicbrainz
        .serve_body(EntityType::Release, &mbid, body.clone())
        .await;
    // Default limits: 4 MiB to decode.
    let mut client = app.client().await;
    let answer = client
        .get_release(pb::GetReleaseRequest { mbid: mbid.clone() })
        .await
        .expect("served")
        .into_inner();
    let size = answer.encoded_len();
    let release = answer.release.expect("release");
    let tracks: usize = release.media.iter().map(|m| m.tracks.len()).sum();
    assert_eq!(tracks, 500);
    eprintln!(
        "500-track release: {} bytes from MusicBrainz, {size} bytes as a gRPC answer",
        body.len()
    );
    assert!(
        (body.len() as u64) < app.config.musicbrainz.max_body_bytes / 2,
        "{} bytes",
        body.len()
    );
    assert!(size < 4 * 1024 * 1024, "{size} bytes");
}

/// A dead letter carries why it was given up on; once the cause is gone,
/// an operator puts it back and it is done.
#[tokio::test]
async fn dead_letters_carry_their_reason_and_can_be_requeued() {
    use musicmeta_ingest_worker::dead_letters;
    use musicmeta_shared::jobs::FetchJob;

    let app = TestApp::spawn().await;
    app.musicbrainz
        .serve_body_times(EntityType::Label, LABEL, b"<html>oops</html>".to_vec(), 1)
        .await;
    let mut reports = app.reports();
    let job = FetchJob::new(EntityType::Label, Mbid::parse(LABEL).unwrap());
    app.broker.publish(&job, Lane::Refresh).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert!(
        matches!(report.outcome, JobOutcome::DeadLettered { .. }),
        "{report:?}"
    );

    let amqp = app.config.amqp.clone();
    let letters = dead_letters::list(&amqp, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert!(
        letter
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("could not be used"),
        "{letter:?}"
    );
    assert_eq!(letter.lane, Some(Lane::Refresh));
    assert_eq!(FetchJob::decode(letter.body.as_bytes()).unwrap(), job);
    assert_eq!(
        app.broker.depth(&app.broker.dead_letter_queue).await,
        1,
        "listing consumes nothing"
    );

    assert_eq!(dead_letters::requeue(&amqp, 10).await.unwrap(), 1);
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert_eq!(
        report.outcome,
        JobOutcome::Stored {
            stored: Mbid::parse(LABEL).unwrap()
        }
    );
    assert_eq!(report.lane, Lane::Refresh, "back in its own lane");
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
}
