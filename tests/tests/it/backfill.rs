//! `ingest-worker backfill` through the real services: what it publishes,
//! skips and rejects, that workers fill what it publishes, and that a
//! failing broker stops it with the counts so far.

use std::collections::BTreeSet;

use lapin::options::BasicGetOptions;
use musicmeta_ingest_worker::backfill::{
    self, BackfillError, BackfillOptions, BackfillSummary, Progress,
};
use musicmeta_ingest_worker::{JobOutcome, JobReport, Worker};
use musicmeta_proto::v1 as pb;
use musicmeta_shared::amqp;
use musicmeta_shared::config::Config;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WARP: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";
const CITY_SLANG: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c";
const LABEL_3: &str = "995428e7-81b6-41dd-bd38-5a7a0ece8ad6";
const BOB_DYLAN: &str = "72c536dc-7137-4477-a521-567eeb840fa8";
const RICK_ASTLEY: &str = "db92a151-1ac2-438b-bc43-b82e149ddd50";
const THINKING_OUT_LOUD: &str = "cb2cc207-8125-445c-9ef9-6ea44eee959a";

/// Three entities the worker can fetch from the recorded responses.
const THREE: [(EntityType, &str); 3] = [
    (EntityType::Label, CITY_SLANG),
    (EntityType::Artist, BOB_DYLAN),
    (EntityType::Recording, THINKING_OUT_LOUD),
];

fn entity(entity_type: EntityType, mbid: &str) -> (EntityType, Mbid) {
    (entity_type, Mbid::parse(mbid).unwrap())
}

fn typed_lines(entities: &[(EntityType, &str)]) -> String {
    entities.iter().map(|(t, m)| format!("{t} {m}\n")).collect()
}

async fn backfill(
    config: &Config,
    input: &str,
    options: &BackfillOptions,
) -> Result<BackfillSummary, BackfillError> {
    backfill::run(config, input.as_bytes(), options, Progress::Off).await
}

fn rejected_lines(summary: &BackfillSummary) -> Vec<usize> {
    summary.rejected.iter().map(|r| r.line).collect()
}

/// Waits for `n` backfill-lane reports and checks each was stored.
async fn stored_from_backfill(
    reports: &mut broadcast::Receiver<JobReport>,
    n: usize,
) -> BTreeSet<(EntityType, Mbid)> {
    let mut stored = BTreeSet::new();
    for _ in 0..n {
        let report = next_report(reports, |r| r.lane == Lane::Backfill).await;
        let (entity_type, mbid) = report.entity.expect("a decodable job");
        assert_eq!(
            report.outcome,
            JobOutcome::Stored { stored: mbid },
            "{entity_type} {mbid}"
        );
        stored.insert((entity_type, mbid));
    }
    stored
}

/// True when `table` holds a fetched (not stub) row for `mbid`.
async fn is_fetched(app: &TestApp, table: &str, mbid: &str) -> bool {
    let sql = format!("SELECT count(*) FROM {table} WHERE mbid = $1 AND fetched_at IS NOT NULL");
    let row = app
        .db
        .connect()
        .await
        .query_one(&sql, &[&Mbid::parse(mbid).unwrap().as_uuid()])
        .await
        .unwrap();
    row.get::<_, i64>(0) == 1
}

fn table(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Artist => "artist",
        EntityType::Label => "label",
        EntityType::Recording => "recording",
        EntityType::Release => "release",
        EntityType::ReleaseGroup => "release_group",
    }
}

async fn backfill_depth(app: &TestApp) -> u32 {
    app.broker
        .depth(&app.broker.lane_queue(Lane::Backfill))
        .await
}

/// A worker of our own, so a test can stop it and know it has stopped.
struct OwnWorker {
    reports: broadcast::Receiver<JobReport>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl OwnWorker {
    async fn start(config: &Config) -> Self {
        let worker = Worker::build(config.clone()).await.expect("worker starts");
        // Subscribed before it runs, so no report can be missed.
        let reports = worker.subscribe();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            worker.run(token).await.expect("worker runs");
        });
        Self {
            reports,
            stop,
            task,
        }
    }

    /// Stops the worker and waits until it has closed its channel.
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("worker task");
    }
}

#[tokio::test]
async fn publishes_what_is_not_fresh_and_the_worker_fills_it() {
    let app = TestApp::spawn().await;
    // Warp is in the cache and fresh before the backfill starts.
    app.client()
        .await
        .get_label(pb::GetLabelRequest { mbid: WARP.into() })
        .await
        .expect("Warp is filled");
    let mut reports = app.reports();

    let input = format!(
        "# a backfill list\n\
         label {WARP}\n\
         label {CITY_SLANG}\n\
         \n\
         \t artist {BOB_DYLAN}   \n\
         # recordings\n\
         work {WARP}\n\
         label not-an-mbid\n\
         artist {RICK_ASTLEY} Rick\n\
         recording {THINKING_OUT_LOUD}\n"
    );
    let summary = backfill(&app.config, &input, &BackfillOptions::default())
        .await
        .expect("backfill runs");
    assert_eq!(
        (summary.published, summary.skipped, rejected_lines(&summary)),
        (3, 1, vec![7, 8, 9]),
        "{summary:?}"
    );
    assert_eq!(
        summary.to_string(),
        "published 3, skipped 1 (already fresh), rejected 3"
    );
    assert!(summary.rejected[0].reason.contains("unknown entity type"));

    let stored = stored_from_backfill(&mut reports, 3).await;
    let expected: BTreeSet<_> = THREE.iter().map(|(t, m)| entity(*t, m)).collect();
    assert_eq!(stored, expected);
    for (entity_type, mbid) in THREE {
        assert!(is_fetched(&app, table(entity_type), mbid).await, "{mbid}");
    }
    assert!(!is_fetched(&app, "artist", RICK_ASTLEY).await);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, WARP).await,
        1,
        "the fresh label was not fetched again"
    );
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Artist, RICK_ASTLEY)
            .await,
        0
    );
}

#[tokio::test]
async fn a_second_run_skips_what_is_fresh_unless_forced() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let input = typed_lines(&THREE);
    let lookups = || async {
        let mut counts = Vec::new();
        for (entity_type, mbid) in THREE {
            counts.push(app.musicbrainz.lookups_of(entity_type, mbid).await);
        }
        counts
    };

    let mut worker = OwnWorker::start(&app.config).await;
    let first = backfill(&app.config, &input, &BackfillOptions::default())
        .await
        .unwrap();
    assert_eq!((first.published, first.skipped), (3, 0));
    stored_from_backfill(&mut worker.reports, 3).await;
    worker.stop().await;
    assert_eq!(lookups().await, [1, 1, 1]);

    // Nothing consumes the backfill lane now: whatever is published stays.
    let again = backfill(&app.config, &input, &BackfillOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again.to_string(),
        "published 0, skipped 3 (already fresh), rejected 0"
    );
    assert_eq!(backfill_depth(&app).await, 0);
    let dry = BackfillOptions {
        dry_run: true,
        ..BackfillOptions::default()
    };
    let dry = backfill(&app.config, &input, &dry).await.unwrap();
    assert_eq!(
        dry.to_string(),
        "would publish 0, would skip 3 (already fresh), rejected 0"
    );

    let force = BackfillOptions {
        force: true,
        ..BackfillOptions::default()
    };
    let forced = backfill(&app.config, &input, &force).await.unwrap();
    assert_eq!((forced.published, forced.skipped), (3, 0));
    assert_eq!(backfill_depth(&app).await, 3);

    let mut worker = OwnWorker::start(&app.config).await;
    stored_from_backfill(&mut worker.reports, 3).await;
    assert_eq!(lookups().await, [2, 2, 2], "forced jobs fetch again");
    worker.stop().await;
}

#[tokio::test]
async fn a_dry_run_publishes_nothing() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let input = format!("{}label nope\n", typed_lines(&THREE));
    for force in [false, true] {
        let options = BackfillOptions {
            dry_run: true,
            force,
            ..BackfillOptions::default()
        };
        let summary = backfill(&app.config, &input, &options).await.unwrap();
        assert_eq!(
            summary.to_string(),
            "would publish 3, would skip 0 (already fresh), rejected 1"
        );
        assert_eq!(rejected_lines(&summary), [4]);
    }
    for lane in Lane::ALL {
        assert_eq!(
            app.broker.depth(&app.broker.lane_queue(lane)).await,
            0,
            "{lane}"
        );
    }
    assert!(app.musicbrainz.requests().await.is_empty());
}

#[tokio::test]
async fn plain_mbids_take_the_given_type() {
    let app = TestApp::spawn().await;
    let mut reports = app.reports();
    let input = format!(
        "{WARP}\n\
         label {CITY_SLANG}\n\
         artist {BOB_DYLAN}\n\
         {LABEL_3}\n\
         not-an-mbid\n"
    );
    let options = BackfillOptions {
        entity_type: Some(EntityType::Label),
        ..BackfillOptions::default()
    };
    let summary = backfill(&app.config, &input, &options).await.unwrap();
    assert_eq!(
        (summary.published, summary.skipped, rejected_lines(&summary)),
        (3, 0, vec![3, 5]),
        "{summary:?}"
    );
    assert!(
        summary.rejected[0].reason.contains("disagrees"),
        "{:?}",
        summary.rejected
    );

    let stored = stored_from_backfill(&mut reports, 3).await;
    let expected: BTreeSet<_> = [WARP, CITY_SLANG, LABEL_3]
        .into_iter()
        .map(|m| entity(EntityType::Label, m))
        .collect();
    assert_eq!(stored, expected);
    for mbid in [WARP, CITY_SLANG, LABEL_3] {
        assert!(is_fetched(&app, "label", mbid).await, "{mbid}");
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Artist, BOB_DYLAN)
            .await,
        0
    );
}

#[tokio::test]
async fn jobs_carry_depth_and_force_in_input_order() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let options = BackfillOptions {
        depth: 2,
        force: true,
        ..BackfillOptions::default()
    };
    let summary = backfill(&app.config, &typed_lines(&THREE), &options)
        .await
        .unwrap();
    assert_eq!(summary.published, 3);

    let connection = amqp::connect(&musicmeta_tests::broker::url())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = app.broker.lane_queue(Lane::Backfill);
    let mut jobs = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        jobs.push(FetchJob::decode(&message.delivery.data).expect("a valid job"));
    }
    let got: Vec<_> = jobs
        .iter()
        .map(|j| ((j.entity_type, j.mbid), j.depth, j.force))
        .collect();
    let want: Vec<_> = THREE
        .iter()
        .map(|(t, m)| (entity(*t, m), 2, true))
        .collect();
    assert_eq!(got, want);
    let _ = connection.close(200, "bye".into()).await;
}

/// A broker that cannot be reached delays the jobs, it does not lose them:
/// they are staged in the outbox (for the relay) and the run goes on. A
/// database that cannot be reached stops the run before it starts.
#[tokio::test]
async fn an_unreachable_broker_stages_the_jobs_and_a_dead_database_stops_the_run() {
    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        // The relay leaves rows younger than two publish timeouts alone:
        // with a long timeout it stays out of this test's way.
        env: vec![("MUSICMETA_AMQP__PUBLISH_TIMEOUT_MS".into(), "60000".into())],
        ..TestOptions::default()
    })
    .await;
    let mut config = app.config.clone();
    // Nothing listens on port 1.
    config.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let input = format!("label bad\n{}", typed_lines(&THREE));
    let summary = backfill(&config, &input, &BackfillOptions::default())
        .await
        .expect("the run goes on without the broker");
    assert_eq!(
        summary.to_string(),
        "published 0, skipped 0 (already fresh), \
         staged 3 (broker unavailable; relayed when it is back), rejected 1"
    );
    let jobs = || app.db.count("SELECT count(*) FROM job_outbox");
    assert_eq!(jobs().await, 3);
    // Asked again: the fetches are pending, nothing is staged twice.
    let again = backfill(&config, &input, &BackfillOptions::default())
        .await
        .unwrap();
    assert_eq!((again.pending, again.staged), (3, 0), "{again}");
    assert_eq!(jobs().await, 3);

    let mut no_database = app.config.clone();
    no_database.database.url = "postgres://postgres@127.0.0.1:1/nothing".into();
    assert!(matches!(
        backfill(&no_database, &input, &BackfillOptions::default()).await,
        Err(BackfillError::Database(_))
    ));

    let too_deep = BackfillOptions {
        depth: 4,
        dry_run: true,
        ..BackfillOptions::default()
    };
    assert!(matches!(
        backfill(&app.config, &input, &too_deep).await,
        Err(BackfillError::TooDeep(4))
    ));
}
