//! Everything `query-api` and `ingest-worker` both use: the domain model of
//! the MusicBrainz entity types we cache, the configuration, how entities are
//! stored, and how a fetch is asked for over RabbitMQ. Talking to
//! MusicBrainz itself is the `musicmeta-musicbrainz` crate's role.
//!
//! Layout:
//! - [`mbid`]: the validated MusicBrainz identifier and the entity-type enum.
//! - [`domain`]: plain data types for artists, release groups, releases,
//!   recordings and labels, free of any I/O.
//! - [`config`]: the one typed configuration both binaries load at start.
//! - [`db`]: connection pool, embedded migrations and the repositories.
//! - [`jobs`]: the fetch-job message contract.
//! - [`fetch_requests`]: the one way to ask for a fetch: claim, outbox,
//!   confirmed publish, relay.
//! - [`catalog`]: browse lists, search filters, limits and page tokens.
//! - [`amqp`]: exchange/queue topology, confirmed publishing, consuming.
//! - [`notify`]: the LISTEN/NOTIFY channel that wakes waiting lookups.
//! - [`status`]: worker heartbeats and the fleet status view.
//! - [`shutdown`]: the SIGINT/SIGTERM future both binaries stop on.
//! - [`prometheus`]: the metrics recorder, metric names and `/metrics`.
//! - [`telemetry`]: tracing subscriber set-up.
//! - [`tls`]: TLS connectors for PostgreSQL (`sslmode`) and RabbitMQ (`amqps`).
//! - [`cli`]: configuration loading and `migrate`, shared by both `main`s.

// Library code returns its errors; `unwrap` is for tests (clippy.toml).
#![warn(clippy::unwrap_used)]

pub mod amqp;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod fetch_requests;
pub mod jobs;
pub mod mbid;
pub mod notify;
pub mod prometheus;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod tls;

pub use mbid::{EntityType, Mbid, MbidError};
