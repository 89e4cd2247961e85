//! Operating many workers: priority lanes, one upstream budget for all,
//! crawling related entities, and graceful shutdown without losing jobs.

use std::time::{Duration, Instant};

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions};

fn rate(rps: &str) -> TestOptions {
    TestOptions {
        env: vec![(
            "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND".into(),
            rps.into(),
        )],
        ..TestOptions::default()
    }
}

fn random_jobs(n: usize) -> Vec<FetchJob> {
    (0..n)
        .map(|_| FetchJob::new(EntityType::Label, Mbid::from_uuid(uuid::Uuid::new_v4())))
        .collect()
}

/// With 10,000 backfill jobs queued, an interactive miss is fetched in the
/// next upstream slot: at most the one request whose slot was already
/// being granted reaches MusicBrainz between the call and its fetch.
#[tokio::test]
async fn an_interactive_miss_overtakes_ten_thousand_backfill_jobs() {
    let app = TestApp::spawn_with(rate("5")).await;
    let mut reports = app.reports();
    app.broker
        .publish_many(&random_jobs(10_000), Lane::Backfill)
        .await;
    // The worker is busy with the backlog.
    next_report(&mut reports, |r| r.lane == Lane::Backfill).await;

    let label = "46f0f4cd-8aab-4b33-b698-f459faf64190";
    let before = app.musicbrainz.arrivals().len();
    let called = Instant::now();
    let mut client = app.client().await;
    let answer = client
        .get_label(pb::GetLabelRequest { mbid: label.into() })
        .await
        .expect("the interactive miss is answered")
        .into_inner();
    assert_eq!(answer.label.unwrap().mbid, label);

    let requests = app.musicbrainz.requests().await;
    let position = requests
        .iter()
        .position(|r| r.url.path().ends_with(label))
        .expect("the label was fetched");
    let overtaken_by = position - before;
    let arrivals = app.musicbrainz.arrivals();
    println!(
        "interactive miss: {overtaken_by} backfill request(s) went first; \
         upstream request {:?} after the call; answered after {:?}; backlog {}",
        arrivals[position] - called,
        called.elapsed(),
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
    );
    assert!(
        overtaken_by <= 1,
        "{overtaken_by} backfill requests went before the interactive one"
    );
}

/// Three workers, a budget of 20 requests/s, a backlog: MusicBrainz sees at
/// most 21 requests/s over every 5-second window, and at least 18/s overall.
#[tokio::test]
async fn three_workers_share_one_request_budget() {
    let mut app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..rate("20")
    })
    .await;
    app.broker
        .publish_many(&random_jobs(260), Lane::Backfill)
        .await;
    for _ in 0..3 {
        app.start_worker().await;
    }
    let mut reports: Vec<_> = app.workers.iter().map(|w| w.subscribe()).collect();
    // Wait until 200 jobs are done, whichever worker did them.
    let mut done = 0;
    while done < 200 {
        let next =
            futures::future::select_all(reports.iter_mut().map(|r| Box::pin(r.recv()))).await;
        if matches!(next.0, Ok(ref r) if r.outcome == JobOutcome::NotFound) {
            done += 1;
        }
    }
    let arrivals = app.musicbrainz.arrivals();
    let window = Duration::from_secs(5);
    let mut busiest = 0;
    for (i, start) in arrivals.iter().enumerate() {
        let n = arrivals[i..]
            .iter()
            .take_while(|t| **t - *start < window)
            .count();
        busiest = busiest.max(n);
    }
    let span = *arrivals.last().unwrap() - arrivals[0];
    let average = (arrivals.len() - 1) as f64 / span.as_secs_f64();
    println!(
        "3 workers, budget 20/s: {} requests over {span:?}: average {average:.2}/s, busiest 5 s window {busiest} ({:.1}/s)",
        arrivals.len(),
        busiest as f64 / 5.0
    );
    assert!(busiest <= 105, "{busiest} requests in one 5 s window");
    assert!(average >= 18.0, "average {average:.2}/s");
}

/// An artist crawled to depth 1: its release groups are browsed page by
/// page (pages cut short at 2 items), stored, marked complete, and each is
/// fetched once, even when the crawl is asked for twice.
#[tokio::test]
async fn crawling_an_artist_fetches_each_release_group_once() {
    let app = TestApp::spawn().await;
    app.musicbrainz.cap_browse_pages(2).await;
    let artist = "c8da2e40-bd28-4d4e-813a-bd2f51958ba8";
    let mbid = Mbid::parse(artist).unwrap();
    let mut reports = app.reports();
    let job = FetchJob::new(EntityType::Artist, mbid).with_depth(1);
    app.broker.publish(&job, Lane::Backfill).await;
    // Children may finish before their parent is acknowledged: collect all six.
    let mut parent = None;
    let mut groups = Vec::new();
    while parent.is_none() || groups.len() < 5 {
        let r = next_report(&mut reports, |_| true).await;
        if r.job_id == Some(job.job_id) {
            parent = Some(r);
        } else {
            assert_eq!(r.entity.unwrap().0, EntityType::ReleaseGroup, "{r:?}");
            assert!(
                matches!(r.outcome, JobOutcome::Stored { .. } | JobOutcome::NotFound),
                "{r:?}"
            );
            groups.push(r.entity.unwrap().1);
        }
    }
    let parent = parent.unwrap();
    assert_eq!(parent.outcome, JobOutcome::Stored { stored: mbid });
    assert_eq!(
        parent.queued, 5,
        "five release groups in the recorded browse"
    );
    assert_eq!(
        app.musicbrainz.browses_of(artist).await,
        3,
        "pages of 2, 2 and 1"
    );
    let complete = app
        .db
        .count(&format!(
            "SELECT count(*) FROM aggregate_state WHERE mbid = '{artist}' AND complete AND item_count = 5"
        ))
        .await;
    assert_eq!(complete, 1, "the list is recorded as complete");

    // Asked again: nothing is browsed or fetched twice.
    let again = FetchJob::new(EntityType::Artist, mbid).with_depth(1);
    app.broker.publish(&again, Lane::Backfill).await;
    let report = next_report(&mut reports, |r| r.job_id == Some(again.job_id)).await;
    assert_eq!(report.outcome, JobOutcome::AlreadyFresh);
    assert_eq!(report.queued, 0);
    assert_eq!(app.musicbrainz.browses_of(artist).await, 3);
    for group in groups {
        assert_eq!(
            app.musicbrainz
                .lookups_of(EntityType::ReleaseGroup, &group.to_string())
                .await,
            1
        );
    }
}

/// Stopping workers mid-backlog loses nothing: every job is either done or
/// back in its queue, and a new worker finishes the rest.
#[tokio::test]
async fn stopping_workers_loses_no_job() {
    let mut app = TestApp::spawn_with(rate("20")).await;
    let jobs = random_jobs(40);
    let mut reports = app.reports();
    app.broker.publish_many(&jobs, Lane::Backfill).await;
    for _ in 0..5 {
        next_report(&mut reports, |r| r.outcome == JobOutcome::NotFound).await;
    }
    app.stop_workers().await;
    let stored = app.db.count("SELECT count(*) FROM lookup_outcome").await;
    let queued = i64::from(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
    );
    assert_eq!(stored + queued, 40, "{stored} done + {queued} queued");

    let worker = app.start_worker().await;
    let mut reports = worker.subscribe();
    for _ in 0..queued {
        next_report(&mut reports, |r| {
            matches!(r.outcome, JobOutcome::NotFound | JobOutcome::AlreadyFresh)
        })
        .await;
    }
    assert_eq!(
        app.db.count("SELECT count(*) FROM lookup_outcome").await,
        40
    );
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
        0
    );
}

/// The status view (admin gRPC; `ingest-worker status` prints the same):
/// queue depths, workers alive, jobs and upstream requests in the last minute.
#[tokio::test]
async fn the_status_view_counts_jobs_workers_and_queues() {
    use musicmeta_proto::v1::admin_service_client::AdminServiceClient;
    use musicmeta_query_api::auth::AttachToken;
    // AdminService is closed without a token (tests/tests/it/security.rs).
    const TOKEN: &str = "fleet-admin-token-0123";
    let mut options = rate("50");
    options
        .env
        .push(("MUSICMETA_GRPC__ADMIN_TOKEN".into(), TOKEN.into()));
    let mut app = TestApp::spawn_with(options).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut admin = AdminServiceClient::with_interceptor(channel, AttachToken::new(TOKEN).unwrap());
    let mut reports = app.reports();
    app.broker
        .publish_many(&random_jobs(6), Lane::Backfill)
        .await;
    for _ in 0..6 {
        next_report(&mut reports, |r| r.outcome == JobOutcome::NotFound).await;
    }
    let running = admin
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(running.workers_alive, 1);
    assert_eq!(
        running
            .lanes
            .iter()
            .map(|l| l.lane.as_str())
            .collect::<Vec<_>>(),
        ["interactive", "refresh", "backfill"]
    );

    app.stop_workers().await;
    app.broker
        .publish_many(&random_jobs(3), Lane::Backfill)
        .await;
    app.broker.publish_raw(b"poison", Lane::Refresh).await;
    let stopped = admin
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stopped.workers_alive, 0, "a stopped worker signs off");
    assert_eq!(stopped.done_last_minute, 6);
    assert_eq!(stopped.failed_last_minute, 0);
    assert!((stopped.upstream_requests_per_second - 6.0 / 60.0).abs() < 1e-9);
    let ready: Vec<u32> = stopped.lanes.iter().map(|l| l.ready).collect();
    assert_eq!(ready, [0, 1, 3]);
    assert_eq!(stopped.dead_letters, 0);
}

/// A 503 seen by one worker slows every worker: after it, no request from
/// either worker reaches MusicBrainz before its Retry-After has passed, but
/// for at most one that was already on its way when the 503 was answered.
/// (A lower bound: a slow machine can only lengthen the pause.)
#[tokio::test]
async fn a_503_slows_every_worker() {
    let mut app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..rate("50")
    })
    .await;
    let label = "46f0f4cd-8aab-4b33-b698-f459faf64190";
    app.musicbrainz
        .slow_down(EntityType::Label, label, 1, "2")
        .await;
    let mut backlog = random_jobs(60);
    backlog.insert(
        5,
        FetchJob::new(EntityType::Label, Mbid::parse(label).unwrap()),
    );
    app.broker.publish_many(&backlog, Lane::Backfill).await;
    for _ in 0..2 {
        app.start_worker().await;
    }
    let mut reports: Vec<_> = app.workers.iter().map(|w| w.subscribe()).collect();
    let mut done = 0;
    while done < backlog.len() {
        let (next, _, _) =
            futures::future::select_all(reports.iter_mut().map(|r| Box::pin(r.recv()))).await;
        if matches!(next, Ok(ref r) if matches!(r.outcome, JobOutcome::NotFound | JobOutcome::Stored { .. }))
        {
            done += 1;
        }
    }
    let requests = app.musicbrainz.requests().await;
    let arrivals = app.musicbrainz.arrivals();
    assert_eq!(
        requests.len(),
        arrivals.len(),
        "every request's arrival is logged"
    );
    let refused = requests
        .iter()
        .position(|r| r.url.path().ends_with(label))
        .expect("the 503 was served");
    let gaps: Vec<Duration> = arrivals[refused + 1..]
        .iter()
        .take(3)
        .map(|t| *t - arrivals[refused])
        .collect();
    println!("after the 503 (Retry-After: 2) the next requests came {gaps:?} later");
    let during_pause = gaps
        .iter()
        .filter(|g| **g < Duration::from_millis(1900))
        .count();
    assert!(
        during_pause <= 1,
        "{during_pause} requests inside the pause: {gaps:?}"
    );
}

/// A stopping worker does not wait out a slow budget: jobs still waiting
/// for a slot after the grace period (10 s) go back to the queue. At 0.25
/// requests/s the eight jobs it holds would need 32 s to finish. (Slots
/// 4 s apart never fall on the 10 s grace boundary; at 0.2/s one did, and a
/// job cut right after its commit was, as designed, both done and requeued.)
#[tokio::test]
async fn stopping_is_bounded_even_behind_a_slow_budget() {
    let mut app = TestApp::spawn_with(rate("0.25")).await;
    let mut reports = app.reports();
    app.broker
        .publish_many(&random_jobs(10), Lane::Backfill)
        .await;
    next_report(&mut reports, |r| r.outcome == JobOutcome::NotFound).await;
    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.stop_workers())
        .await
        .expect("workers stop within 30 s");
    println!("stopped in {:?}", stopping.elapsed());
    let done = app.db.count("SELECT count(*) FROM lookup_outcome").await;
    let queued = i64::from(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
    );
    assert_eq!(done + queued, 10, "{done} done + {queued} queued");
}
