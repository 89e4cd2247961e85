//! MusicBrainz misbehaving, the database going away and a handler
//! panicking, against the real broker and database: transient failures come
//! back through the delayed retry queues with a growing attempt number and
//! end in the dead-letter queue (reason and attempts in its headers) once
//! `retry.max_attempts` is used up; poison and panics are dead-lettered at
//! once and the worker goes on; good data already stored is never touched by
//! a failed fetch.
//!
//! Retry delays are configured in milliseconds here, so the retries run as
//! fast as the broker expires them; every wait is on a worker report.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use musicmeta_ingest_worker::dead_letters::{self, Letter};
use musicmeta_ingest_worker::worker::PANIC_HEADER;
use musicmeta_ingest_worker::{JobOutcome, JobReport};
use musicmeta_shared::amqp::{self, RETRY_TIERS};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::musicbrainz_stub::{ConnectionFault, FaultyUpstream};
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tokio::sync::broadcast;

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

/// One request per delivery (no in-delivery retries), so every failure is
/// an attempt; retry delays of tens of milliseconds.
fn options(max_attempts: u32, extra: &[(&str, String)]) -> TestOptions {
    let mut env: Vec<(String, String)> = [
        ("MUSICMETA_MUSICBRAINZ__MAX_ATTEMPTS", "1".to_owned()),
        ("MUSICMETA_RETRY__MAX_ATTEMPTS", max_attempts.to_string()),
        ("MUSICMETA_RETRY__FIRST_DELAY_MS", "20".to_owned()),
        ("MUSICMETA_RETRY__MAX_DELAY_MS", "200".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    TestOptions {
        env,
        ..TestOptions::default()
    }
}

/// An app whose MusicBrainz is a [`FaultyUpstream`] passing everything it
/// does not fault on to the recorded stand-in.
async fn behind_faulty_upstream(max_attempts: u32) -> (FaultyUpstream, TestApp) {
    let upstream = FaultyUpstream::start().await;
    let app = TestApp::spawn_with(options(
        max_attempts,
        &[("MUSICMETA_MUSICBRAINZ__BASE_URL", upstream.base_url())],
    ))
    .await;
    upstream.forward_to(&app.musicbrainz);
    (upstream, app)
}

fn label() -> Mbid {
    Mbid::parse(LABEL).unwrap()
}

/// Publishes a job for the label and returns it.
async fn publish_label_job(app: &TestApp, force: bool, lane: Lane) -> FetchJob {
    let mut job = FetchJob::new(EntityType::Label, label());
    if force {
        job = job.forced();
    }
    app.broker.publish(&job, lane).await;
    job
}

/// Reports of `job` until one that is not a retry; returns them all.
async fn until_settled(rx: &mut broadcast::Receiver<JobReport>, job: &FetchJob) -> Vec<JobReport> {
    let mut reports = Vec::new();
    loop {
        let report = next_report(rx, |r| r.job_id == Some(job.job_id)).await;
        let done = !matches!(report.outcome, JobOutcome::Requeued { .. });
        reports.push(report);
        if done {
            return reports;
        }
    }
}

fn attempts(reports: &[JobReport]) -> Vec<u32> {
    reports.iter().map(|r| r.attempt).collect()
}

/// Every retry copy went through the tier of its attempt and asked for the
/// next attempt.
fn assert_retries_climb(reports: &[JobReport]) {
    for report in reports {
        if let JobOutcome::Requeued { retry, .. } = &report.outcome {
            assert_eq!(retry.attempt, report.attempt + 1, "{report:?}");
            assert_eq!(retry.tier, report.attempt.min(RETRY_TIERS), "{report:?}");
            assert_eq!(retry.lane, report.lane, "{report:?}");
            assert!(
                !report.redelivered,
                "came back as a new message: {report:?}"
            );
        }
    }
}

async fn retry_depth(app: &TestApp) -> u32 {
    let topology = amqp::Topology::from_config(&app.config.amqp);
    let mut total = 0;
    for queue in topology.retry_queues() {
        total += app.broker.depth(&queue).await;
    }
    total
}

async fn letters(app: &TestApp) -> Vec<Letter> {
    dead_letters::list(&app.config.amqp, 100).await.unwrap()
}

fn stored() -> JobOutcome {
    JobOutcome::Stored { stored: label() }
}

#[tokio::test]
async fn a_server_error_storm_is_retried_through_the_delay_queues_until_it_passes() {
    let app = TestApp::spawn_with(options(8, &[])).await;
    // 503 with Retry-After, then a 500, then a 502; then the recording.
    app.musicbrainz
        .slow_down(EntityType::Label, LABEL, 1, "0")
        .await;
    app.musicbrainz
        .answer_status(EntityType::Label, LABEL, 500, Some(1))
        .await;
    app.musicbrainz
        .answer_status(EntityType::Label, LABEL, 502, Some(1))
        .await;
    let mut reports = app.reports();
    let job = publish_label_job(&app, false, Lane::Interactive).await;

    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(attempts(&seen), [1, 2, 3, 4], "{seen:#?}");
    assert_eq!(seen[3].outcome, stored());
    assert_retries_climb(&seen);
    assert!(
        seen.iter().all(|r| r.lane == Lane::Interactive),
        "back in its own lane"
    );
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        4
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM label WHERE fetched_at IS NOT NULL")
            .await,
        1
    );
    assert_eq!(retry_depth(&app).await, 0);
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
}

#[tokio::test]
async fn a_server_error_that_never_ends_is_dead_lettered_with_reason_and_attempts() {
    let app = TestApp::spawn_with(options(3, &[])).await;
    app.musicbrainz
        .answer_status(EntityType::Label, LABEL, 500, None)
        .await;
    let mut reports = app.reports();
    let job = publish_label_job(&app, false, Lane::Refresh).await;

    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(attempts(&seen), [1, 2, 3], "{seen:#?}");
    assert_retries_climb(&seen);
    let JobOutcome::DeadLettered { reason } = &seen[2].outcome else {
        panic!("{seen:#?}");
    };
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(reason.contains("HTTP 500"), "{reason}");

    let letters = letters(&app).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].reason.as_deref(), Some(reason.as_str()));
    assert_eq!(letters[0].attempts, Some(3));
    assert_eq!(letters[0].lane, Some(Lane::Refresh));
    assert_eq!(FetchJob::decode(letters[0].body.as_bytes()).unwrap(), job);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        3
    );
    assert_eq!(app.db.count("SELECT count(*) FROM label").await, 0);
    assert_eq!(retry_depth(&app).await, 0);

    // Requeued by an operator, it starts again at attempt 1.
    assert_eq!(
        dead_letters::requeue(&app.config.amqp, 10).await.unwrap(),
        1
    );
    let again = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert_eq!(again.attempt, 1, "{again:?}");
    assert_eq!(again.lane, Lane::Refresh);
}

/// A 503 whose `Retry-After` MusicBrainz could never mean (`1e30`) once
/// panicked the job and dead-lettered it after one attempt (issue 20). It
/// is a 503 like any other: every worker pauses for the cap (60 s) and the
/// job comes back through the delay queues.
#[tokio::test]
async fn an_absurd_retry_after_pauses_at_the_cap_and_the_job_is_retried() {
    let app = TestApp::spawn_with(options(8, &[])).await;
    let mut reports = app.reports();
    app.musicbrainz
        .slow_down(EntityType::Label, LABEL, 1, "1e30")
        .await;
    let job = publish_label_job(&app, false, Lane::Refresh).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert!(
        matches!(report.outcome, JobOutcome::Requeued { .. }),
        "{report:?}"
    );
    assert!(letters(&app).await.is_empty(), "nothing is dead-lettered");
    let paused = app.db.budget_pause_secs().await;
    assert!(
        (50.0..=60.0).contains(&paused),
        "the shared pause is the cap, not 1e30 s: {paused}"
    );
}

/// MusicBrainz may not send more than `musicbrainz.max_body_bytes` (issue
/// 20: a 5 MB title was stored and served). A body over it is a permanent
/// failure, dead-lettered after one attempt with the key in the reason,
/// and nothing is written: refused from its Content-Length (the default
/// 16 MiB limit, a 17 MiB body), or, without one, as soon as the bytes
/// read pass the limit — a body that never ends shows it is not read whole
/// first.
#[tokio::test]
async fn a_body_over_the_size_limit_is_dead_lettered_without_being_read_whole() {
    let (upstream, app) = behind_faulty_upstream(8).await;
    assert_eq!(app.config.musicbrainz.max_body_bytes, 16 * 1024 * 1024);
    let mut reports = app.reports();

    // A label whose name alone is 17 MiB: valid JSON, with Content-Length.
    let mut body = format!(r#"{{"id":"{LABEL}","name":""#).into_bytes();
    body.extend(std::iter::repeat_n(b'x', 17 * 1024 * 1024));
    body.extend_from_slice(br#""}"#);
    let declared = format!("{} bytes", body.len());
    app.musicbrainz
        .serve_body_times(EntityType::Label, LABEL, body, 1)
        .await;
    let started = std::time::Instant::now();
    let job = publish_label_job(&app, false, Lane::Interactive).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    let JobOutcome::DeadLettered { reason } = &report.outcome else {
        panic!("{report:?}");
    };
    assert!(reason.contains("musicbrainz.max_body_bytes"), "{reason}");
    assert!(reason.contains(&declared), "the declared size: {reason}");
    eprintln!("17 MiB body dead-lettered after {:?}", started.elapsed());

    // No Content-Length, and no end.
    upstream.push(ConnectionFault::Endless, 1);
    let started = std::time::Instant::now();
    let job = publish_label_job(&app, false, Lane::Interactive).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    let JobOutcome::DeadLettered { reason } = &report.outcome else {
        panic!("{report:?}");
    };
    assert!(reason.contains("musicbrainz.max_body_bytes"), "{reason}");
    eprintln!("endless body dead-lettered after {:?}", started.elapsed());

    let letters = letters(&app).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(letters.iter().all(|l| l.attempts == Some(1)), "{letters:?}");
    assert_eq!(app.db.count("SELECT count(*) FROM label").await, 0);
    // The recording itself is well within the limit and is stored.
    let job = publish_label_job(&app, false, Lane::Interactive).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert_eq!(report.outcome, stored());
}

#[tokio::test]
async fn a_timeout_is_retried() {
    // The stub answers the first lookup long after the client gave up.
    let app = TestApp::spawn_with(options(
        8,
        &[("MUSICMETA_MUSICBRAINZ__TIMEOUT_MS", "200".to_owned())],
    ))
    .await;
    app.musicbrainz
        .answer_late(
            EntityType::Label,
            LABEL,
            std::time::Duration::from_secs(10),
            1,
        )
        .await;
    let mut reports = app.reports();
    let job = publish_label_job(&app, false, Lane::Backfill).await;

    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(attempts(&seen), [1, 2], "{seen:#?}");
    let JobOutcome::Requeued { reason, .. } = &seen[0].outcome else {
        panic!("{seen:#?}");
    };
    assert!(reason.contains("request to musicbrainz failed"), "{reason}");
    assert_eq!(seen[1].outcome, stored());
}

#[tokio::test]
async fn a_reset_connection_and_a_body_cut_off_in_transit_are_retried() {
    let (upstream, app) = behind_faulty_upstream(8).await;
    let body = std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap();
    upstream.push(ConnectionFault::Reset, 1);
    upstream.push(
        ConnectionFault::Truncate {
            sent: body.len() / 2,
            body,
        },
        1,
    );
    let mut reports = app.reports();
    let job = publish_label_job(&app, false, Lane::Interactive).await;

    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(attempts(&seen), [1, 2, 3], "{seen:#?}");
    for report in &seen[..2] {
        let JobOutcome::Requeued { reason, .. } = &report.outcome else {
            panic!("{seen:#?}");
        };
        assert!(reason.contains("musicbrainz"), "{reason}");
    }
    assert_eq!(seen[2].outcome, stored());
    assert_eq!(upstream.faults_left(), 0);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        1,
        "only the last attempt got through to the stub"
    );
}

#[tokio::test]
async fn good_data_survives_forced_refreshes_that_get_broken_bodies() {
    let (upstream, app) = behind_faulty_upstream(2).await;
    let mut reports = app.reports();
    let first = publish_label_job(&app, false, Lane::Interactive).await;
    assert_eq!(
        until_settled(&mut reports, &first).await[0].outcome,
        stored()
    );
    let before = app.db.snapshot().await;
    let fetched_at = "SELECT (extract(epoch FROM fetched_at) * 1000000)::bigint FROM label";
    let fetched_before = app.db.count(fetched_at).await;

    let recorded = std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap();
    // A proxy's error page, and JSON cut short with a consistent length:
    // unusable, so dead-lettered at once.
    for broken in [
        b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        recorded[..recorded.len() / 2].to_vec(),
    ] {
        app.musicbrainz
            .serve_body_times(EntityType::Label, LABEL, broken, 1)
            .await;
        let job = publish_label_job(&app, true, Lane::Refresh).await;
        let seen = until_settled(&mut reports, &job).await;
        assert_eq!(attempts(&seen), [1], "{seen:#?}");
        assert!(
            matches!(&seen[0].outcome, JobOutcome::DeadLettered { reason } if reason.contains("could not be used")),
            "{seen:#?}"
        );
        assert_eq!(app.db.snapshot().await, before);
    }

    // A body cut off in transit, on every attempt: retried, then given up.
    upstream.push(
        ConnectionFault::Truncate {
            sent: recorded.len() / 3,
            body: recorded.clone(),
        },
        2,
    );
    let job = publish_label_job(&app, true, Lane::Refresh).await;
    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(attempts(&seen), [1, 2], "{seen:#?}");
    assert!(
        matches!(&seen[1].outcome, JobOutcome::DeadLettered { reason } if reason.contains("gave up after 2 attempts")),
        "{seen:#?}"
    );

    assert_eq!(
        app.db.snapshot().await,
        before,
        "the stored label is untouched"
    );
    assert_eq!(app.db.count(fetched_at).await, fetched_before);
    assert_eq!(letters(&app).await.len(), 3);
}

/// Publishes `job` with the test-only header that makes the handler panic.
async fn publish_panicking(app: &TestApp, job: &FetchJob) {
    let connection = amqp::connect(&musicmeta_tests::broker::url())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    amqp::Topology::from_config(&app.config.amqp)
        .declare(&channel)
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from(PANIC_HEADER), AMQPValue::Boolean(true));
    let confirm = channel
        .basic_publish(
            app.broker.exchange.as_str().into(),
            Lane::Backfill.routing_key().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &job.encode(),
            lapin::BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack() && confirm.take_message().is_none());
    let _ = connection.close(200, ShortString::from("bye")).await;
}

#[tokio::test]
async fn a_panic_while_handling_a_job_dead_letters_it_and_the_worker_goes_on() {
    let app = TestApp::spawn_with(options(8, &[])).await;
    let mut reports = app.reports();
    let doomed = FetchJob::new(EntityType::Label, label());
    publish_panicking(&app, &doomed).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(doomed.job_id)).await;
    let JobOutcome::DeadLettered { reason } = &report.outcome else {
        panic!("{report:?}");
    };
    assert!(reason.starts_with("panic: test hook"), "{reason}");

    let letters = letters(&app).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason.as_deref(), Some(reason.as_str()));
    assert_eq!(letters[0].attempts, Some(1));

    // The same worker takes the next job as if nothing happened.
    let job = publish_label_job(&app, false, Lane::Backfill).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert_eq!(report.outcome, stored());
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        1
    );
}

#[tokio::test]
async fn poison_messages_carry_their_reason_and_are_not_retried() {
    let app = TestApp::spawn_with(options(8, &[])).await;
    let mut reports = app.reports();
    let cases: [(&[u8], &str); 4] = [
        (b"not json at all", "not valid JSON"),
        (
            br#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"work","mbid":"46f0f4cd-8aab-4b33-b698-f459faf64190"}"#,
            "not valid JSON",
        ),
        (
            br#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"nope"}"#,
            "not valid JSON",
        ),
        (
            br#"{"v":99,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"46f0f4cd-8aab-4b33-b698-f459faf64190"}"#,
            "contract version 99 is not supported",
        ),
    ];
    for (body, _) in &cases {
        app.broker.publish_raw(body, Lane::Backfill).await;
        let report = next_report(&mut reports, |_| true).await;
        assert!(
            matches!(report.outcome, JobOutcome::DeadLettered { .. }),
            "{report:?}"
        );
        assert_eq!(report.attempt, 1);
    }
    let letters = letters(&app).await;
    assert_eq!(letters.len(), cases.len());
    for (letter, (body, reason)) in letters.iter().zip(&cases) {
        assert_eq!(letter.body.as_bytes(), *body);
        assert!(
            letter
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains(reason),
            "{letter:?}"
        );
        assert_eq!(letter.lane, Some(Lane::Backfill));
        assert_eq!(letter.attempts, Some(1));
    }
    assert_eq!(retry_depth(&app).await, 0);
    assert!(app.musicbrainz.requests().await.is_empty());
}

#[tokio::test]
async fn a_job_that_meets_the_database_down_comes_back_once_it_is_up() {
    // Delays long enough that the attempts outlast the outage by far.
    let app = TestApp::spawn_with(options(
        50,
        &[
            ("MUSICMETA_RETRY__FIRST_DELAY_MS", "50".to_owned()),
            ("MUSICMETA_RETRY__MAX_DELAY_MS", "500".to_owned()),
        ],
    ))
    .await;
    let mut reports = app.reports();
    app.db.cut_off().await;
    let job = publish_label_job(&app, false, Lane::Interactive).await;
    let failed = next_report(&mut reports, |r| r.job_id == Some(job.job_id)).await;
    assert!(
        matches!(failed.outcome, JobOutcome::Requeued { .. }),
        "{failed:?}"
    );
    app.db.reconnect().await;

    let seen = until_settled(&mut reports, &job).await;
    assert_eq!(seen.last().unwrap().outcome, stored(), "{seen:#?}");
    assert!(seen.last().unwrap().attempt >= 2);
    assert_eq!(app.db.count("SELECT count(*) FROM label").await, 1);
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
    assert_eq!(retry_depth(&app).await, 0);
}

/// A fill that fails for good — MusicBrainz answers 200 with a page that is
/// not its JSON — wakes the lookup waiting for it as soon as the worker
/// gives up, with UNAVAILABLE naming the cause (the miss wait, 60 s here,
/// would otherwise end in "not cached yet"), and is remembered for
/// `cache.failure_ttl_secs`: ten more lookups, by gRPC and by the HTTP API
/// (502), are answered without asking MusicBrainz again, and the dead
/// letters hold one job, not eleven (issue 20). Once the failure is older
/// than its TTL, the next lookup asks again. A ws/2 document (a browse)
/// fails the same way.
#[tokio::test]
async fn a_fill_that_fails_for_good_is_told_at_once_and_not_asked_again() {
    use musicmeta_proto::v1 as pb;
    use tonic::Code;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};

    let app = TestApp::spawn_with(options(
        8,
        &[
            ("MUSICMETA_CACHE__MISS_WAIT_MS", "60000".to_owned()),
            ("MUSICMETA_HTTP__MISS_WAIT_MS", "60000".to_owned()),
        ],
    ))
    .await;
    assert_eq!(app.config.cache.failure_ttl_secs, 300);
    let mbid = uuid::Uuid::new_v4().to_string();
    app.musicbrainz
        .serve_body(
            EntityType::Release,
            &mbid,
            b"<html>Bad gateway</html>".to_vec(),
        )
        .await;
    let mut reports = app.reports();
    let mut client = app.client().await;
    let lookup = || pb::GetReleaseRequest { mbid: mbid.clone() };

    let started = std::time::Instant::now();
    let err = client.get_release(lookup()).await.unwrap_err();
    eprintln!("a failing fill answered after {:?}", started.elapsed());
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(
        err.message().contains("could not be read"),
        "the waiting lookup is told why, not that it is not cached yet: {err:?}"
    );
    let started = std::time::Instant::now();
    for _ in 0..10 {
        let again = client.get_release(lookup()).await.unwrap_err();
        assert_eq!(again.code(), Code::Unavailable);
        assert_eq!(again.message(), err.message());
    }
    eprintln!("ten repeated lookups answered in {:?}", started.elapsed());
    assert_unreadable_502(&format!("{}/release/{mbid}?fmt=json", app.ws2_url())).await;
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Release, &mbid).await,
        1,
        "one upstream request for twelve lookups"
    );
    // The lookup is woken by the failure's commit; the worker files the
    // dead letter just after: its report says when.
    let report = next_report(&mut reports, |r| {
        r.entity.is_some_and(|(_, m)| m.to_string() == mbid)
    })
    .await;
    assert!(
        matches!(report.outcome, JobOutcome::DeadLettered { .. }),
        "{report:?}"
    );
    assert_eq!(letters(&app).await.len(), 1);
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM lookup_outcome WHERE outcome = 'failed' AND reason <> ''")
            .await,
        1,
        "remembered with its reason"
    );

    // Past its TTL, MusicBrainz is asked again.
    let db = app.db.connect().await;
    db.execute(
        "UPDATE lookup_outcome SET recorded_at = now() - interval '1 hour'",
        &[],
    )
    .await
    .unwrap();
    let err = client.get_release(lookup()).await.unwrap_err();
    assert!(err.message().contains("could not be read"), "{err:?}");
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Release, &mbid).await,
        2
    );

    // A ws/2 document: a label's releases, answered with a broken body.
    let label = uuid::Uuid::new_v4().to_string();
    Mock::given(method("GET"))
        .and(path("/ws/2/release"))
        .and(query_param("label", label.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .with_priority(1)
        .mount(app.musicbrainz.server())
        .await;
    let browse = format!("{}/release?label={label}&fmt=json", app.ws2_url());
    for _ in 0..3 {
        assert_unreadable_502(&browse).await;
    }
    let browses = app
        .musicbrainz
        .requests()
        .await
        .iter()
        .filter(|r| r.url.query().is_some_and(|q| q.contains(&label)))
        .count();
    assert_eq!(browses, 1, "one upstream request for three browses");
}

/// The HTTP API's answer to `url` is 502 with MusicBrainz's JSON error
/// shape saying the upstream answer could not be read.
async fn assert_unreadable_502(url: &str) {
    let answer = reqwest::get(url).await.unwrap();
    assert_eq!(answer.status().as_u16(), 502, "{url}");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("could not be read"),
        "{url}: {body}"
    );
}
