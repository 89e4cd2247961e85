//! `ingest-worker dead-letters`: what was given up on, and putting it back.
//!
//! A worker dead-letters a job it cannot run (a poison message, a response
//! it cannot use, a 4xx, a panic, or a transient failure that outlasted
//! `retry.max_attempts`) with the reason, its lane and the number of
//! attempts made in the message's headers. Listing reads the dead-letter
//! queue without consuming it; requeueing moves each letter back to its lane
//! as a new job whose attempts count from 1 again (publish confirmed, then
//! the letter is acknowledged, so none is lost in between).

use lapin::message::Delivery;
use lapin::options::BasicGetOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection};
use musicmeta_shared::amqp::{
    self, ATTEMPT_HEADER, AmqpError, LANE_HEADER, Publisher, REASON_HEADER, Topology,
};
use musicmeta_shared::config::AmqpConfig;
use musicmeta_shared::jobs::Lane;
use serde::Serialize;

/// One dead letter as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Letter {
    /// The message body (a job, or whatever the poison message held).
    pub body: String,
    pub reason: Option<String>,
    pub lane: Option<Lane>,
    /// How many attempts the worker made before giving up.
    pub attempts: Option<u32>,
}

fn header(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// A connection, a channel and the topology declared on it.
async fn open(config: &AmqpConfig) -> Result<(Connection, Channel, Topology), AmqpError> {
    let topology = Topology::from_config(config);
    let (connection, _) = amqp::connect_any(&config.endpoints(), 0).await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    Ok((connection, channel, topology))
}

/// The next dead letter, held (unacknowledged) by `channel`.
async fn next(channel: &Channel, topology: &Topology) -> Result<Option<Delivery>, AmqpError> {
    let message = channel
        .basic_get(
            topology.dead_letter_queue.as_str().into(),
            BasicGetOptions { no_ack: false },
        )
        .await?;
    Ok(message.map(|m| m.delivery))
}

/// Up to `limit` dead letters, oldest first, left in the queue.
pub async fn list(config: &AmqpConfig, limit: usize) -> Result<Vec<Letter>, AmqpError> {
    let (connection, channel, topology) = open(config).await?;
    let mut letters = Vec::new();
    while letters.len() < limit {
        let Some(delivery) = next(&channel, &topology).await? else {
            break;
        };
        let headers = delivery.properties.headers().as_ref();
        letters.push(Letter {
            body: String::from_utf8_lossy(&delivery.data).into_owned(),
            reason: header(headers, REASON_HEADER),
            lane: header(headers, LANE_HEADER).and_then(|l| l.parse().ok()),
            attempts: headers
                .is_some_and(|h| h.contains_key(ATTEMPT_HEADER))
                .then(|| amqp::attempt_of(&delivery.properties)),
        });
    }
    // Unacknowledged, they all return to the queue when the channel closes.
    let _ = channel.close(200, ShortString::from("listed")).await;
    let _ = connection.close(200, ShortString::from("listed")).await;
    Ok(letters)
}

/// Moves up to `limit` dead letters back to their lanes (backfill when the
/// lane is unknown); returns how many.
pub async fn requeue(config: &AmqpConfig, limit: usize) -> Result<usize, AmqpError> {
    let (connection, channel, topology) = open(config).await?;
    let publisher = Publisher::open(&connection, &topology).await?;
    let mut moved = 0;
    while moved < limit {
        let Some(delivery) = next(&channel, &topology).await? else {
            break;
        };
        let lane = header(delivery.properties.headers().as_ref(), LANE_HEADER)
            .and_then(|l| l.parse().ok())
            .unwrap_or(Lane::Backfill);
        // Fresh properties: the requeued job starts again at attempt 1.
        let properties = lapin::BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"));
        publisher
            .publish_body(
                &topology.exchange,
                &lane.routing_key(),
                &delivery.data,
                properties,
            )
            .await?;
        delivery
            .ack(lapin::options::BasicAckOptions::default())
            .await?;
        moved += 1;
    }
    let _ = connection.close(200, ShortString::from("requeued")).await;
    Ok(moved)
}
