//! RabbitMQ: the job topology, confirmed publishing and consumer set-up.
//!
//! Topology (all durable): a direct exchange `amqp.exchange` (default
//! `musicmeta.jobs`) routes `fetch.<lane>` to one queue per lane,
//! `<amqp.queue>.<lane>` (default `musicmeta.fetch.interactive`, `.refresh`,
//! `.backfill`); rejected messages of every lane dead-letter to
//! `<amqp.queue>.dlq`. Every process declares it on connect, so start-up
//! order does not matter.
//!
//! Delayed retries: each lane has [`RETRY_TIERS`] retry queues,
//! `<amqp.queue>.<lane>.retry.<n>` (n = 1…6), which nobody consumes. A
//! worker that must try a job again publishes a copy to the tier of its
//! attempt with a per-message `expiration` (the tier's delay, jittered
//! between half and all of it) and the next attempt's number in
//! [`ATTEMPT_HEADER`]; when the copy expires the broker dead-letters it
//! through the jobs exchange with routing key `fetch.<lane>`, back into its
//! lane. Why several tiers: RabbitMQ expires messages only at the head of a
//! queue, so in a single retry queue a short delay would wait behind a long
//! one; within a tier every delay lies between half the tier's delay and
//! all of it, so no copy waits longer than its tier's delay. Why the delay
//! per message rather than `x-message-ttl` on the queue: queue arguments
//! cannot change once declared (a redeclare with others fails with
//! `PRECONDITION_FAILED`), so with the delay in the message the names and
//! arguments do not depend on the `retry.*` configuration, which can change
//! freely. Why per lane: the queue's own dead-letter routing key takes the
//! copy back to its lane, with no routing header to keep.
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

use crate::config::{AmqpConfig, ConfigError, QueueType};
use crate::jobs::{Job, Lane};
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
    #[error("no broker URL is configured")]
    NoBroker,
    /// The queue exists with other arguments: most likely declared as
    /// another type before `amqp.queue_type` was set so.
    #[error(
        "queue {queue} exists with other arguments than a {wanted:?} queue has (was it declared \
         with another amqp.queue_type? see docs/operations.md, \"Quorum queues\"): {detail}"
    )]
    QueueType {
        queue: String,
        wanted: QueueType,
        detail: String,
    },
    #[error("job was unroutable: {0}")]
    Returned(String),
    /// The URL's `cacertfile` cannot be used.
    #[error("broker TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Names of the exchange and queues, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub exchange: String,
    /// Prefix of the lane queues.
    pub queue: String,
    pub dead_letter_queue: String,
    pub queue_type: QueueType,
}

impl Topology {
    pub fn from_config(config: &AmqpConfig) -> Self {
        Self {
            exchange: config.exchange.clone(),
            queue: config.queue.clone(),
            dead_letter_queue: format!("{}.dlq", config.queue),
            queue_type: config.queue_type,
        }
    }

    /// The queue that holds `lane`'s jobs.
    pub fn lane_queue(&self, lane: Lane) -> String {
        format!("{}.{}", self.queue, lane.as_str())
    }

    /// The retry queue of `lane` for delay tier `tier` (1 to [`RETRY_TIERS`]).
    pub fn retry_queue(&self, lane: Lane, tier: u32) -> String {
        format!("{}.{}.retry.{tier}", self.queue, lane.as_str())
    }

    /// Every retry queue, lane by lane, shortest delay first.
    pub fn retry_queues(&self) -> Vec<String> {
        Lane::ALL
            .into_iter()
            .flat_map(|lane| (1..=RETRY_TIERS).map(move |tier| self.retry_queue(lane, tier)))
            .collect()
    }

    /// Declares the exchange, the queue, its dead-letter queue and binding.
    /// Idempotent: declaring what exists with the same arguments is a no-op;
    /// a queue that exists with another type is refused by the broker
    /// (`PRECONDITION_FAILED`), which [`AmqpError::QueueType`] explains.
    pub async fn declare(&self, channel: &Channel) -> Result<(), AmqpError> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let typed = |args: FieldTable| self.typed(args);
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
        self.declare_queue(
            channel,
            &self.dead_letter_queue,
            durable,
            typed(FieldTable::default()),
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
            self.declare_queue(channel, &queue, durable, typed(args.clone()))
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
            // Expired retry copies go back to the lane through the exchange.
            let mut retry_args = FieldTable::default();
            retry_args.insert(
                ShortString::from("x-dead-letter-exchange"),
                AMQPValue::LongString(LongString::from(self.exchange.as_str())),
            );
            retry_args.insert(
                ShortString::from("x-dead-letter-routing-key"),
                AMQPValue::LongString(LongString::from(lane.routing_key())),
            );
            for tier in 1..=RETRY_TIERS {
                let queue = self.retry_queue(lane, tier);
                self.declare_queue(channel, &queue, durable, typed(retry_args.clone()))
                    .await?;
            }
        }
        Ok(())
    }

    /// `args` with the configured queue type. A quorum queue dead-letters
    /// at least once (a job expiring from a retry tier, or rejected to the
    /// DLQ, is not lost if a node fails midway), which RabbitMQ allows only
    /// with `reject-publish` overflow; with no length limit set, nothing is
    /// ever rejected for it. A classic queue is declared without a type, as
    /// it was before the setting existed, so existing queues still match.
    fn typed(&self, mut args: FieldTable) -> FieldTable {
        if self.queue_type == QueueType::Quorum {
            let mut text = |key: &str, value: &str| {
                args.insert(
                    ShortString::from(key),
                    AMQPValue::LongString(LongString::from(value)),
                );
            };
            text("x-queue-type", "quorum");
            text("x-dead-letter-strategy", "at-least-once");
            text("x-overflow", "reject-publish");
        }
        args
    }

    async fn declare_queue(
        &self,
        channel: &Channel,
        queue: &str,
        options: QueueDeclareOptions,
        args: FieldTable,
    ) -> Result<(), AmqpError> {
        match channel.queue_declare(queue.into(), options, args).await {
            Ok(_) => Ok(()),
            Err(error) if error.to_string().contains("PRECONDITION_FAILED") => {
                Err(AmqpError::QueueType {
                    queue: queue.to_owned(),
                    wanted: self.queue_type,
                    detail: error.to_string(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// A job's message properties: persistent JSON, its id, the trace context.
fn job_properties(job: &Job) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from("application/json"))
        .with_message_id(ShortString::from(job.job_id().to_string()))
        // The publishing span's trace continues in the worker.
        .with_headers(crate::telemetry::amqp_headers())
}

/// Checks that `url` is one lapin can connect with — it parses (a port in
/// range, a known scheme and options) and its `cacertfile`, if any, is
/// readable — so a bad URL stops start-up as a configuration mistake naming
/// `amqp.url` instead of failing every reconnect. No part of the URL is
/// quoted back: it may hold the password.
pub fn check_url(url: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        key: "amqp.url",
        reason,
    };
    // The URL parser's errors name the fault without echoing the input.
    url::Url::parse(url).map_err(|e| invalid(format!("not a valid URL: {e}")))?;
    url.parse::<lapin::uri::AMQPUri>()
        .map_err(|_| invalid("not a valid AMQP URL".to_owned()))?;
    crate::tls::amqp(url).map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// Connects with a bounded wait, so a dead broker is an error, not a hang.
/// `amqps://` uses TLS, trusting the system's CAs and the URL's
/// `cacertfile`, if any ([`crate::tls::amqp`]).
pub async fn connect(url: &str) -> Result<Connection, AmqpError> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(
        format!("musicmeta-{}", std::process::id()),
    ));
    let builder = lapin::DefaultConnectionBuilder::new()?
        .with_uri_str(url.to_owned())
        .with_properties(properties)
        .with_tls_config(crate::tls::amqp(url)?);
    tokio::time::timeout(BROKER_TIMEOUT, builder.connect())
        .await
        .map_err(|_| AmqpError::Timeout(BROKER_TIMEOUT))?
        .map_err(AmqpError::from)
}

/// Connects to the first node of a cluster that answers, trying `urls`
/// from `start` on (wrapping round), and says which it was: after losing
/// node `i`, a process asks again from `i + 1`, so it moves to a surviving
/// node instead of waiting for the lost one.
pub async fn connect_any(urls: &[String], start: usize) -> Result<(Connection, usize), AmqpError> {
    let mut last = AmqpError::NoBroker;
    for k in 0..urls.len() {
        let i = (start + k) % urls.len();
        match connect(&urls[i]).await {
            Ok(connection) => return Ok((connection, i)),
            Err(error) => {
                debug!(node = i, %error, "broker node did not answer; trying the next");
                last = error;
            }
        }
    }
    Err(last)
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
    /// How many attempts were made (the last attempt's number).
    pub attempt: u32,
}

/// Header names of a dead letter.
pub const REASON_HEADER: &str = "x-musicmeta-reason";
pub const LANE_HEADER: &str = "x-musicmeta-lane";
/// Which attempt a delivery is (1 when absent); on a dead letter, the
/// number of attempts made.
pub const ATTEMPT_HEADER: &str = "x-musicmeta-attempt";

/// Delay tiers per lane (see the module documentation).
pub const RETRY_TIERS: u32 = 6;

/// A job to be tried again later: a copy goes to `lane`'s retry queue
/// `tier` and comes back to the lane after `delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub lane: Lane,
    /// 1 to [`RETRY_TIERS`].
    pub tier: u32,
    /// The number of the attempt the copy will be.
    pub attempt: u32,
    pub delay: Duration,
}

/// The attempt a delivery with these properties is: [`ATTEMPT_HEADER`] as
/// an integer (or a decimal string, as other clients may write it), else 1.
pub fn attempt_of(properties: &BasicProperties) -> u32 {
    let value = properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT_HEADER));
    let attempt = match value {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::LongUInt(n)) => Some(*n),
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::ShortUInt(n)) => Some(u32::from(*n)),
        Some(AMQPValue::ShortShortInt(n)) => u32::try_from(*n).ok(),
        Some(AMQPValue::ShortShortUInt(n)) => Some(u32::from(*n)),
        Some(AMQPValue::LongString(s)) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        Some(AMQPValue::ShortString(s)) => s.as_str().trim().parse().ok(),
        _ => None,
    };
    attempt.unwrap_or(1).max(1)
}

/// The headers of a message as received, without the broker's own
/// dead-lettering history (`x-death`, `x-first-death-*`, `x-last-death-*`),
/// which a copy published anew should not carry.
fn copied_headers(received: &BasicProperties) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(received) = received.headers() {
        for (key, value) in received {
            let name = key.as_str();
            if name != "x-death"
                && !name.starts_with("x-first-death-")
                && !name.starts_with("x-last-death-")
            {
                headers.insert(key.clone(), value.clone());
            }
        }
    }
    headers
}

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
    pub async fn publish(&self, job: &Job, lane: Lane) -> Result<(), AmqpError> {
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
        headers.insert(
            ShortString::from(ATTEMPT_HEADER),
            AMQPValue::LongLongInt(i64::from(letter.attempt)),
        );
        let properties = received.clone().with_delivery_mode(2).with_headers(headers);
        // The default exchange routes by queue name.
        self.publish_body("", dead_letter_queue, body, properties)
            .await
    }

    /// Publishes a copy of a job, as received, to `retry_queue` with the
    /// next attempt's number and an expiration of `retry.delay`.
    pub async fn publish_retry(
        &self,
        body: &[u8],
        received: &BasicProperties,
        retry: &Retry,
        retry_queue: &str,
    ) -> Result<(), AmqpError> {
        let mut headers = copied_headers(received);
        headers.insert(
            ShortString::from(ATTEMPT_HEADER),
            AMQPValue::LongLongInt(i64::from(retry.attempt)),
        );
        let expiration = retry.delay.as_millis().max(1).to_string();
        let properties = received
            .clone()
            .with_delivery_mode(2)
            .with_expiration(ShortString::from(expiration))
            .with_headers(headers);
        self.publish_body("", retry_queue, body, properties).await
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
    /// The cluster's nodes, `amqp.url` first.
    urls: Vec<String>,
    /// The node to try first on the next connect.
    next: std::sync::atomic::AtomicUsize,
    topology: Topology,
    // A tokio mutex: connecting awaits while holding it, and concurrent
    // publishers should wait for that one connection, not race to open more.
    state: Mutex<Option<(Connection, std::sync::Arc<Publisher>)>>,
}

impl std::fmt::Debug for JobPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobPublisher")
            .field(
                "urls",
                &self
                    .urls
                    .iter()
                    .map(|u| crate::config::redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl JobPublisher {
    /// A publisher to the cluster at `urls` (see [`connect_any`]).
    pub fn new(urls: Vec<String>, topology: Topology) -> Self {
        Self {
            urls,
            next: std::sync::atomic::AtomicUsize::new(0),
            topology,
            state: Mutex::new(None),
        }
    }

    pub async fn publish(&self, job: &Job, lane: Lane) -> Result<(), AmqpError> {
        let result = match self.publisher().await {
            Ok(publisher) => publisher.publish(job, lane).await,
            Err(e) => Err(e),
        };
        if let Err(error) = &result {
            warn!(%error, job_id = %job.job_id(), "publish failed; reconnecting on next publish");
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
        let start = self.next.load(std::sync::atomic::Ordering::Relaxed);
        let (connection, node) = connect_any(&self.urls, start).await?;
        // Should this connection be lost, start from the node after it.
        self.next
            .store(node + 1, std::sync::atomic::Ordering::Relaxed);
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

    /// Sends a copy of a job to its lane's retry queue for `retry.tier`,
    /// confirmed, so the job comes back to the lane after `retry.delay`.
    pub async fn publish_retry(
        &self,
        body: &[u8],
        received: &BasicProperties,
        retry: &Retry,
    ) -> Result<(), AmqpError> {
        let publisher = self.publisher().await?;
        let queue = self.topology.retry_queue(retry.lane, retry.tier);
        let result = publisher.publish_retry(body, received, retry, &queue).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(value: AMQPValue) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(ShortString::from(ATTEMPT_HEADER), value);
        BasicProperties::default().with_headers(headers)
    }

    #[test]
    fn attempt_header_reads_integers_and_strings_and_defaults_to_one() {
        assert_eq!(attempt_of(&BasicProperties::default()), 1);
        assert_eq!(attempt_of(&with_header(AMQPValue::LongLongInt(3))), 3);
        assert_eq!(attempt_of(&with_header(AMQPValue::ShortUInt(4))), 4);
        assert_eq!(
            attempt_of(&with_header(AMQPValue::LongString("5".into()))),
            5
        );
        assert_eq!(attempt_of(&with_header(AMQPValue::LongLongInt(-2))), 1);
        assert_eq!(attempt_of(&with_header(AMQPValue::LongLongInt(0))), 1);
        assert_eq!(attempt_of(&with_header(AMQPValue::Boolean(true))), 1);
    }

    #[test]
    fn copies_leave_the_brokers_death_history_behind() {
        let mut headers = FieldTable::default();
        for name in [
            "x-death",
            "x-first-death-queue",
            "x-last-death-reason",
            "traceparent",
        ] {
            headers.insert(ShortString::from(name), AMQPValue::LongString("v".into()));
        }
        let copied = copied_headers(&BasicProperties::default().with_headers(headers));
        let names: Vec<&str> = copied.inner().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["traceparent"]);
    }

    #[test]
    fn retry_queues_are_per_lane_and_tier() {
        let topology = Topology {
            exchange: "musicmeta.jobs".into(),
            queue: "musicmeta.fetch".into(),
            dead_letter_queue: "musicmeta.fetch.dlq".into(),
            queue_type: QueueType::Quorum,
        };
        let queues = topology.retry_queues();
        assert_eq!(queues.len(), 3 * RETRY_TIERS as usize);
        assert_eq!(queues[0], "musicmeta.fetch.interactive.retry.1");
        assert_eq!(
            queues.last().map(String::as_str),
            Some("musicmeta.fetch.backfill.retry.6")
        );
    }
}
