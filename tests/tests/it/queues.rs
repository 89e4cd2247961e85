//! The queue type: every queue is a quorum queue by default, and a queue
//! that exists with another type stops start-up with an error that names
//! it and the way out.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use musicmeta_shared::amqp::{self, AmqpError, Topology};
use musicmeta_shared::config::QueueType;
use musicmeta_shared::jobs::Lane;
use musicmeta_tests::broker::{TestBroker, url};

/// Declares `queue` as a classic queue would be after v1.1 was told to,
/// and says whether the broker accepted it.
async fn declares_as_classic(queue: &str) -> bool {
    let connection = amqp::connect(&url()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString(LongString::from("classic")),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, args)
        .await
        .is_ok()
}

#[tokio::test]
async fn every_queue_is_a_quorum_queue_by_default() {
    let broker = TestBroker::new();
    let config = broker.config();
    assert_eq!(config.queue_type, QueueType::Quorum);
    let topology = Topology::from_config(&config);
    let connection = amqp::connect(&url()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    topology.declare(&channel).await.unwrap();
    // Declaring twice is fine.
    topology.declare(&channel).await.unwrap();

    let mut queues: Vec<String> = Lane::ALL.iter().map(|l| topology.lane_queue(*l)).collect();
    queues.push(topology.dead_letter_queue.clone());
    queues.extend(topology.retry_queues());
    for queue in queues {
        // The broker refuses another type for a queue that exists.
        assert!(
            !declares_as_classic(&queue).await,
            "{queue} is not a quorum queue"
        );
    }
}

#[tokio::test]
async fn a_queue_of_another_type_is_named_with_the_way_out() {
    let broker = TestBroker::new();
    let config = broker.config();
    let connection = amqp::connect(&url()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    Topology::from_config(&config)
        .declare(&channel)
        .await
        .unwrap();

    // The same names, configured classic (as an older install would be).
    let classic = amqp::Topology {
        queue_type: QueueType::Classic,
        ..Topology::from_config(&config)
    };
    let channel = connection.create_channel().await.unwrap();
    let error = classic.declare(&channel).await.unwrap_err();
    let AmqpError::QueueType { queue, wanted, .. } = &error else {
        panic!("not a queue type error: {error}");
    };
    assert_eq!(*wanted, QueueType::Classic);
    assert_eq!(
        queue,
        &format!("{}.dlq", config.queue),
        "the first queue declared"
    );
    assert!(error.to_string().contains("amqp.queue_type"), "{error}");
}

/// A worker configured `classic` on a broker whose queues are quorum stops
/// with the error naming the queue, rather than retrying for ever.
#[tokio::test]
async fn a_worker_stops_on_a_queue_of_another_type() {
    use musicmeta_ingest_worker::{Worker, WorkerError};
    use musicmeta_tests::{TestApp, TestOptions};

    let app = TestApp::spawn_with(TestOptions {
        workers: 0,
        ..TestOptions::default()
    })
    .await;
    let mut config = app.config.clone();
    config.amqp.queue_type = QueueType::Classic;
    let worker = Worker::build(config).await.expect("the worker starts");
    let stopped = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        worker.run(tokio_util::sync::CancellationToken::new()),
    )
    .await
    .expect("the worker stops by itself");
    let Err(WorkerError::Broker(error @ AmqpError::QueueType { .. })) = stopped else {
        panic!("not stopped on the queue type: {stopped:?}");
    };
    assert!(error.to_string().contains("amqp.queue_type"), "{error}");
}

/// `amqp.urls`: a node lost for good is left for the next one. Two proxies
/// to the test broker stand in for two nodes of a cluster (the queues are
/// the same behind both); the first is cut after a fill through it, and the
/// next miss is published and consumed through the second, by the same
/// query-api and worker, with no restart.
#[tokio::test]
async fn a_lost_broker_node_is_left_for_the_next_one() {
    use musicmeta_ingest_worker::JobOutcome;
    use musicmeta_proto::v1 as pb;
    use musicmeta_shared::mbid::EntityType;
    use musicmeta_tests::app::next_report;
    use musicmeta_tests::proxy::TcpProxy;
    use musicmeta_tests::{TestApp, TestOptions};

    let broker: std::net::SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let (node_a, node_b) = (TcpProxy::start(broker).await, TcpProxy::start(broker).await);
    let node_url = |p: &TcpProxy| format!("amqp://guest:guest@{}/%2f", p.addr());
    let app = TestApp::spawn_with(TestOptions {
        amqp_url: Some(node_url(&node_a)),
        env: vec![("MUSICMETA_AMQP__URLS".into(), node_url(&node_b))],
        ..TestOptions::default()
    })
    .await;
    assert_eq!(app.config.amqp.endpoints().len(), 2);
    let mut client = app.client().await;
    let mut reports = app.reports();

    // Filled through node A.
    let first = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // City Slang
    client
        .get_label(pb::GetLabelRequest { mbid: first.into() })
        .await
        .expect("filled through the first node");

    node_a.cut();
    // The miss is asked for; the publish on the lost node fails, so the job
    // waits in the outbox (UNAVAILABLE now) or goes straight to node B.
    let second = "46f0f4cd-8aab-4b33-b698-f459faf64190"; // Warp
    let _ = client
        .get_label(pb::GetLabelRequest {
            mbid: second.into(),
        })
        .await;
    // Published (by the relay, through node B) and consumed by the worker,
    // which left node A for node B by itself.
    let report = next_report(&mut reports, |r| {
        r.entity
            .is_some_and(|(t, m)| t == EntityType::Label && m.to_string() == second)
    })
    .await;
    assert!(
        matches!(report.outcome, JobOutcome::Stored { .. }),
        "{report:?}"
    );
    let label = client
        .get_label(pb::GetLabelRequest {
            mbid: second.into(),
        })
        .await
        .expect("answered from the cache")
        .into_inner();
    assert_eq!(label.label.unwrap().mbid, second);
}
