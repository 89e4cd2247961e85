//! Per-test AMQP names on the real RabbitMQ, deleted when the handle drops,
//! plus what tests need to look into the broker: queue depths and raw
//! publishing (as a client that is not ours would).

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Connection};
use musicmeta_shared::amqp;
use musicmeta_shared::config::AmqpConfig;
use musicmeta_shared::jobs::{FetchJob, Lane};

/// Broker for tests; override with `MUSICMETA_TEST_AMQP`.
pub fn url() -> String {
    std::env::var("MUSICMETA_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

#[derive(Debug)]
pub struct TestBroker {
    pub exchange: String,
    pub queue: String,
    pub dead_letter_queue: String,
}

impl TestBroker {
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let queue = format!("mmt.{id}.fetch");
        Self {
            exchange: format!("mmt.{id}.jobs"),
            dead_letter_queue: format!("{queue}.dlq"),
            queue,
        }
    }

    pub fn config(&self) -> AmqpConfig {
        AmqpConfig {
            url: url(),
            prefetch: 8,
            exchange: self.exchange.clone(),
            queue: self.queue.clone(),
            publish_timeout_ms: 5_000,
            queue_type: Default::default(),
            urls: Vec::new(),
        }
    }

    /// Declares this broker's exchange and queues (as a worker would).
    pub async fn declare(&self) {
        let (connection, _) = self.open().await;
        let _ = connection.close(200, ShortString::from("bye")).await;
    }

    /// A connection and a channel on which this broker's topology exists.
    async fn open(&self) -> (Connection, lapin::Channel) {
        let connection = amqp::connect(&url())
            .await
            .expect("connect to RabbitMQ (is it running? see scripts/test)");
        let channel = connection.create_channel().await.expect("channel");
        amqp::Topology::from_config(&self.config())
            .declare(&channel)
            .await
            .expect("declare");
        (connection, channel)
    }

    /// Ready messages in `queue` (one of this broker's; declared if need be).
    pub async fn depth(&self, queue: &str) -> u32 {
        let (connection, channel) = self.open().await;
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue exists");
        let _ = connection.close(200, ShortString::from("bye")).await;
        q.message_count()
    }

    pub fn lane_queue(&self, lane: Lane) -> String {
        amqp::Topology::from_config(&self.config()).lane_queue(lane)
    }

    /// Publishes `body` as-is to `lane` on the jobs exchange, confirmed.
    pub async fn publish_raw(&self, body: &[u8], lane: Lane) {
        let (connection, channel) = self.open().await;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        let confirm = channel
            .basic_publish(
                self.exchange.as_str().into(),
                lane.routing_key().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(
            confirm.is_ack() && confirm.take_message().is_none(),
            "job was not routed"
        );
        let _ = connection.close(200, ShortString::from("bye")).await;
    }

    /// Publishes many jobs with their confirms pipelined (a bulk backlog).
    pub async fn publish_many(&self, jobs: &[FetchJob], lane: Lane) {
        let (connection, channel) = self.open().await;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        for job in jobs {
            // The confirm is awaited below, for all jobs at once.
            drop(
                channel
                    .basic_publish(
                        self.exchange.as_str().into(),
                        lane.routing_key().into(),
                        BasicPublishOptions::default(),
                        &job.encode(),
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .expect("publish"),
            );
        }
        let returned = channel.wait_for_confirms().await.expect("confirms");
        assert!(returned.is_empty(), "every job routed");
        let _ = connection.close(200, ShortString::from("bye")).await;
    }

    pub async fn publish(&self, job: &FetchJob, lane: Lane) {
        self.publish_raw(&job.encode(), lane).await;
    }

    /// Takes every job waiting in `lane` (as a consumer would, acked).
    pub async fn take_jobs(&self, lane: Lane) -> Vec<FetchJob> {
        let (connection, channel) = self.open().await;
        let queue = self.lane_queue(lane);
        let mut jobs = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            jobs.push(FetchJob::decode(&message.delivery.data).expect("a valid job"));
        }
        let _ = connection.close(200, ShortString::from("bye")).await;
        jobs
    }
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let topology = amqp::Topology::from_config(&self.config());
        let exchange = self.exchange.clone();
        let mut queues: Vec<String> = Lane::ALL.iter().map(|l| topology.lane_queue(*l)).collect();
        queues.push(self.dead_letter_queue.clone());
        queues.extend(topology.retry_queues());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(connection) = amqp::connect(&url()).await else {
                    return;
                };
                let Ok(channel) = connection.create_channel().await else {
                    return;
                };
                for q in queues {
                    let _ = channel
                        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
                let _ = connection.close(200, ShortString::from("bye")).await;
            });
        })
        .join();
    }
}
