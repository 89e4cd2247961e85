//! A worker process killed outright (SIGKILL) in the middle of a backfill
//! loses nothing: once a worker runs again, every job is done exactly once
//! and no job is left in a queue.

use std::process::{Child, Command};

use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::binaries::binary;
use musicmeta_tests::{TestApp, TestOptions};

const JOBS: i64 = 500;

fn worker_process(app: &TestApp) -> Child {
    Command::new(binary("ingest-worker"))
        .arg("run")
        .env("DATABASE_URL", &app.db.url)
        .env("AMQP_URL", musicmeta_tests::broker::url())
        .env("MUSICMETA_AMQP__EXCHANGE", &app.broker.exchange)
        .env("MUSICMETA_AMQP__QUEUE", &app.broker.queue)
        .env(
            "MUSICMETA_MUSICBRAINZ__BASE_URL",
            app.musicbrainz.base_url(),
        )
        .env(
            "MUSICMETA_MUSICBRAINZ__USER_AGENT",
            musicmeta_tests::app::TEST_USER_AGENT,
        )
        .env("MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND", "200")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("ingest-worker starts")
}

/// Waits until the worker process has recorded `n` outcomes (the process
/// is not ours to subscribe to, so its database is polled, with a deadline).
async fn wait_done(app: &TestApp, n: i64) {
    let client = app.db.connect().await;
    let deadline = std::time::Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        loop {
            let done: i64 = client
                .query_one("SELECT count(*) FROM lookup_outcome", &[])
                .await
                .unwrap()
                .get(0);
            if done >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} jobs done within {deadline:?}"));
}

#[tokio::test]
async fn a_killed_worker_loses_no_job_and_repeats_none() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let jobs: Vec<FetchJob> = (0..JOBS)
        .map(|_| FetchJob::new(EntityType::Label, Mbid::from_uuid(uuid::Uuid::new_v4())))
        .collect();
    app.broker.publish_many(&jobs, Lane::Backfill).await;

    let mut first = worker_process(&app);
    wait_done(&app, 100).await;
    first.kill().expect("SIGKILL the worker");
    first.wait().unwrap();
    let done_at_kill = app.db.count("SELECT count(*) FROM lookup_outcome").await;
    assert!(
        done_at_kill < JOBS,
        "killed in the middle ({done_at_kill} done)"
    );

    let mut second = worker_process(&app);
    wait_done(&app, JOBS).await;
    // Jobs the first worker had committed but not acknowledged come back
    // once more; the second worker acks them without fetching again.
    let drained = async {
        while app
            .broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await
            > 0
        {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), drained)
        .await
        .expect("the backlog drains within 60 s");
    // A graceful stop: anything still held would go back to the queue.
    let term = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(
        second.wait().unwrap().success(),
        "the worker exits cleanly on SIGTERM"
    );

    let distinct = app
        .db
        .count("SELECT count(DISTINCT mbid) FROM lookup_outcome")
        .await;
    assert_eq!(distinct, JOBS, "every job's entity is recorded, once");
    assert_eq!(app.db.count("SELECT count(*) FROM fetch_request").await, 0);
    for lane in Lane::ALL {
        assert_eq!(
            app.broker.depth(&app.broker.lane_queue(lane)).await,
            0,
            "{lane} queue drained"
        );
    }
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
    println!("killed after {done_at_kill} of {JOBS} jobs; all {JOBS} done after the restart");
}
