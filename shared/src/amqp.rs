//! RabbitMQ: the job topology, confirmed publishing and consumer set-up.
//!
//! Topology (all durable): a direct exchange `amqp.exchange` (default
//! `musicmeta.jobs`) routes `fetch.<lane>` to one queue per lane,
//! `<amqp.queue>.<lane>` (default `musicmeta.fetch.interactive`, `.refresh`,
//! `.backfill`); rejected messages of every lane dead-letter to
//! `<amqp.queue>.dlq`. Every process declares it on connect, so start-up
//! order does not matter.
//!
//! A publish counts only when the broker confirms it: jobs are persistent,
//! `mandatory`, and a nack or a returned (unroutable) message is an error.

use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::config::AmqpConfig;
use crate::jobs::{FetchJob, Lane};
use crate::prometheus::names;

/// How long connecting or publishing may take before the broker counts as down.
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker did not answer within {0:?}")]
    Timeout(Duration),
    #[error("broker refused the job (nack)")]
    Nacked,
    #[error("job was unroutable: {0}")]
    Returned(String),
}

/// Names of the exchange and queues, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub exchange: String,
    /// Prefix of the lane queues.
    pub queue: String,
    pub dead_letter_queue: String,
}

impl Topology {
    pub fn from_config(config: &AmqpConfig) -> Self {
        Self {
            exchange: config.exchange.clone(),
            queue: config.queue.clone(),
            dead_letter_queue: format!("{}.dlq", config.queue),
        }
    }

    /// The queue that holds `lane`'s jobs.
    pub fn lane_queue(&self, lane: Lane) -> String {
        format!("{}.{}", self.queue, lane.as_str())
    }

    /// Declares the exchange, the queue, its dead-letter queue and binding.
    /// Idempotent: declaring what exists with the same arguments is a no-op.
    pub async fn declare(&self, channel: &Channel) -> Result<(), AmqpError> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_declare(
                self.dead_letter_queue.as_str().into(),
                durable,
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        // Rejected (poison or permanently failing) jobs go to the DLQ through
        // the default exchange, keyed by the DLQ's name.
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from("")),
        );
        args.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(self.dead_letter_queue.as_str())),
        );
        for lane in Lane::ALL {
            let queue = self.lane_queue(lane);
            channel
                .queue_declare(queue.as_str().into(), durable, args.clone())
                .await?;
            channel
                .queue_bind(
                    queue.as_str().into(),
                    self.exchange.as_str().into(),
                    lane.routing_key().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }
}

/// A job's message properties: persistent JSON, its id, the trace context.
fn job_properties(job: &FetchJob) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(job.job_id.to_string()))
        // The publishing span's trace continues in the worker.
        .with_headers(crate::telemetry::amqp_headers())
}

/// Connects with a bounded wait, so a dead broker is an error, not a hang.
pub async fn connect(url: &str) -> Result<Connection, AmqpError> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(
        format!("musicmeta-{}", std::process::id()),
    ));
    tokio::time::timeout(BROKER_TIMEOUT, Connection::connect(url, properties))
        .await
        .map_err(|_| AmqpError::Timeout(BROKER_TIMEOUT))?
        .map_err(AmqpError::from)
}

/// Opens a consuming channel with `prefetch` unacknowledged deliveries at most.
pub async fn consumer_channel(
    connection: &Connection,
    topology: &Topology,
    prefetch: u16,
) -> Result<Channel, AmqpError> {
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    Ok(channel)
}

/// Why a job was given up on, carried in its dead letter's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: String,
    /// The lane the job came from, where a requeue puts it back.
    pub lane: Lane,
}

/// Header names of a dead letter.
pub const REASON_HEADER: &str = "x-musicmeta-reason";
pub const LANE_HEADER: &str = "x-musicmeta-lane";

/// A channel in confirm mode that publishes jobs.
#[derive(Debug)]
pub struct Publisher {
    channel: Channel,
    exchange: String,
}

impl Publisher {
    pub async fn open(connection: &Connection, topology: &Topology) -> Result<Self, AmqpError> {
        let channel = connection.create_channel().await?;
        topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            channel,
            exchange: topology.exchange.clone(),
        })
    }

    /// Publishes one job to `lane` and waits for the broker's confirm.
    pub async fn publish(&self, job: &FetchJob, lane: Lane) -> Result<(), AmqpError> {
        self.publish_body(
            &self.exchange,
            &lane.routing_key(),
            &job.encode(),
            job_properties(job),
        )
        .await
    }

    /// Publishes a job's body and properties, as received, to the
    /// dead-letter queue, adding the reason and lane to its headers.
    pub async fn publish_dead_letter(
        &self,
        body: &[u8],
        received: &BasicProperties,
        letter: &DeadLetter,
        dead_letter_queue: &str,
    ) -> Result<(), AmqpError> {
        let mut headers = received.headers().clone().unwrap_or_default();
        headers.insert(
            ShortString::from(REASON_HEADER),
            AMQPValue::LongString(LongString::from(letter.reason.as_str())),
        );
        headers.insert(
            ShortString::from(LANE_HEADER),
            AMQPValue::LongString(LongString::from(letter.lane.as_str())),
        );
        let properties = received.clone().with_delivery_mode(2).with_headers(headers);
        // The default exchange routes by queue name.
        self.publish_body("", dead_letter_queue, body, properties)
            .await
    }

    /// Publishes `body` and waits for the broker's confirm; a nack or a
    /// returned (unroutable) message is an error.
    pub async fn publish_body(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), AmqpError> {
        let confirm = async {
            let confirm = self
                .channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    properties,
                )
                .await?
                .await?;
            Ok::<_, AmqpError>(confirm)
        };
        let confirmation = tokio::time::timeout(BROKER_TIMEOUT, confirm)
            .await
            .map_err(|_| AmqpError::Timeout(BROKER_TIMEOUT))??;
        if confirmation.is_nack() {
            return Err(AmqpError::Nacked);
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(AmqpError::Returned(returned.reply_text.to_string()));
        }
        Ok(())
    }
}

/// A publisher that connects on first use and reconnects after a failure,
/// so a process can start, and keep serving, while the broker is down.
pub struct JobPublisher {
    url: String,
    topology: Topology,
    // A tokio mutex: connecting awaits while holding it, and concurrent
    // publishers should wait for that one connection, not race to open more.
    state: Mutex<Option<(Connection, std::sync::Arc<Publisher>)>>,
}

impl std::fmt::Debug for JobPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobPublisher")
            .field("url", &crate::config::redact_url(&self.url))
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl JobPublisher {
    pub fn new(url: impl Into<String>, topology: Topology) -> Self {
        Self {
            url: url.into(),
            topology,
            state: Mutex::new(None),
        }
    }

    pub async fn publish(&self, job: &FetchJob, lane: Lane) -> Result<(), AmqpError> {
        let result = match self.publisher().await {
            Ok(publisher) => publisher.publish(job, lane).await,
            Err(e) => Err(e),
        };
        if let Err(error) = &result {
            warn!(%error, job_id = %job.job_id, "publish failed; reconnecting on next publish");
            *self.state.lock().await = None;
            metrics::gauge!(names::AMQP_CONNECTED, "role" => "publisher").set(0.0);
        }
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(names::JOBS_PUBLISHED, "lane" => lane.as_str(), "result" => outcome)
            .increment(1);
        result
    }

    async fn publisher(&self) -> Result<std::sync::Arc<Publisher>, AmqpError> {
        let mut state = self.state.lock().await;
        if let Some((connection, publisher)) = state.as_ref()
            && connection.status().connected()
            && publisher.channel.status().connected()
        {
            return Ok(publisher.clone());
        }
        debug!("connecting publisher to broker");
        let connection = connect(&self.url).await?;
        let publisher = std::sync::Arc::new(Publisher::open(&connection, &self.topology).await?);
        *state = Some((connection, publisher.clone()));
        metrics::gauge!(names::AMQP_CONNECTED, "role" => "publisher").set(1.0);
        Ok(publisher)
    }

    /// Sends a job's body to this topology's dead-letter queue with `letter`.
    pub async fn publish_dead_letter(
        &self,
        body: &[u8],
        received: &BasicProperties,
        letter: &DeadLetter,
    ) -> Result<(), AmqpError> {
        let publisher = self.publisher().await?;
        let result = publisher
            .publish_dead_letter(body, received, letter, &self.topology.dead_letter_queue)
            .await;
        if result.is_err() {
            *self.state.lock().await = None;
        }
        result
    }

    /// Closes the connection, if open, so the broker sees a clean goodbye.
    pub async fn close(&self) {
        if let Some((connection, _)) = self.state.lock().await.take() {
            let _ = connection.close(200, ShortString::from("shutdown")).await;
        }
    }
}
