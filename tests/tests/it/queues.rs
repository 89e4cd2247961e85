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
