//! Losing a RabbitMQ node mid-backfill: a three-node cluster of its own on
//! this machine, quorum queues replicated on all three, two workers on
//! different nodes, and the node that leads the backfill lane stopped
//! while 500 jobs are being worked. Every entity must arrive, each stored
//! once, with the workers moving to surviving nodes by themselves.

use std::collections::BTreeMap;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_ingest_worker::backfill::{self, BackfillOptions, Progress};
use musicmeta_shared::jobs::Lane;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::cluster::RabbitCluster;
use musicmeta_tests::{TestApp, TestOptions, fixtures};

const JOBS: usize = 500;
/// Stop the leader once this many entities are stored.
const STOP_AFTER: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leading_node_loses_no_job_and_stores_none_twice() {
    assert!(RabbitCluster::available(), "RabbitMQ is not installed here");
    let mut cluster = tokio::task::spawn_blocking(|| RabbitCluster::start(3))
        .await
        .unwrap();
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let others = |first: usize| -> String {
        (1..urls.len())
            .map(|k| urls[(first + k) % urls.len()].clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut app = TestApp::spawn_with(TestOptions {
        workers: 0,
        amqp_url: Some(urls[0].clone()),
        env: vec![
            ("MUSICMETA_AMQP__URLS".into(), others(0)),
            // No limiter: the test is about the broker, not the budget.
            (
                "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND".into(),
                "0".into(),
            ),
        ],
        ..TestOptions::default()
    })
    .await;
    // Two workers, each connected first to a different node.
    let mut second = app.config.clone();
    second.amqp.url = urls[1].clone();
    second.amqp.urls = others(1).split(',').map(str::to_owned).collect();
    let workers = [
        app.start_worker().await,
        app.start_worker_with(second).await,
    ];
    let (mut first_reports, mut second_reports) = (workers[0].subscribe(), workers[1].subscribe());

    // 500 labels MusicBrainz "has": the recorded City Slang under new MBIDs.
    let recorded: serde_json::Value = serde_json::from_slice(&fixtures::read(
        "label/82935ddb-a9d6-45a7-85e3-0b0add51fa1c.json",
    ))
    .unwrap();
    let mut mbids = Vec::new();
    for i in 0..JOBS {
        let mbid = Mbid::from_uuid(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("https://musicmeta.invalid/cluster/label/{i}").as_bytes(),
        ));
        let mut body = recorded.clone();
        body["id"] = serde_json::Value::String(mbid.to_string());
        app.musicbrainz
            .serve_body(
                EntityType::Label,
                &mbid.to_string(),
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
        mbids.push(mbid);
    }
    let input: String = mbids.iter().map(|m| format!("label {m}\n")).collect();
    let summary = backfill::run(
        &app.config,
        input.as_bytes(),
        &BackfillOptions::default(),
        Progress::Off,
    )
    .await
    .expect("backfill");
    assert_eq!(summary.published, JOBS, "{summary}");

    // Work goes on; stop the node leading the backfill lane midway.
    let lane = format!("{}.{}", app.broker.queue, Lane::Backfill.as_str());
    let mut stored: BTreeMap<Mbid, usize> = BTreeMap::new();
    let mut repeated = 0;
    let mut requeued = 0;
    let mut stopped = None;
    while stored.len() < JOBS {
        let report = tokio::time::timeout(std::time::Duration::from_secs(120), async {
            tokio::select! {
                r = first_reports.recv() => r,
                r = second_reports.recv() => r,
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no job finished for 120 s with {} of {JOBS} stored (node {stopped:?} stopped)",
                stored.len()
            )
        });
        let Ok(report) = report else { continue };
        match report.outcome {
            JobOutcome::Stored { stored: mbid } => *stored.entry(mbid).or_default() += 1,
            // A job redelivered after its node went: found fresh, not fetched.
            JobOutcome::AlreadyFresh => repeated += 1,
            // Cut short by the lost node and sent round again.
            JobOutcome::Requeued { .. } => requeued += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
        if stopped.is_none() && stored.len() >= STOP_AFTER {
            let leader = cluster.leader_of(&lane);
            tokio::task::block_in_place(|| cluster.stop(leader));
            stopped = Some(leader);
        }
    }
    let stopped = stopped.expect("the leader was stopped");
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(stored.len(), JOBS);
    assert!(mbids.iter().all(|m| stored.contains_key(m)));
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM label WHERE fetched_at IS NOT NULL")
            .await as usize,
        JOBS
    );
    eprintln!(
        "node {stopped} (leader of {lane}) stopped after {STOP_AFTER} stored: \
         {JOBS} stored once each, {repeated} redelivered and found fresh, {requeued} requeued"
    );
    app.stop_workers().await;
}
