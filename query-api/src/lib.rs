//! `query-api`: gRPC lookups of MusicBrainz entities, answered from the
//! PostgreSQL cache; misses and stale rows become fetch jobs on RabbitMQ.
//!
//! Layout:
//! - [`app`]: builds the server from configuration and runs it until shutdown.
//! - [`grpc`]: the `MetadataService` handlers and the error → status table.
//! - [`admin`]: the `AdminService` (fleet status).
//! - [`service`]: the cache policy (fresh, stale, miss, 404, redirect).
//! - [`fills`]: LISTEN/NOTIFY wake-ups for calls waiting on a miss.
//! - [`convert`]: domain types into protobuf messages.
//! - [`lookup`]: the `query-api lookup` command-line client.

pub mod admin;
pub mod app;
pub mod convert;
pub mod fills;
pub mod grpc;
pub mod lookup;
pub mod service;

pub use app::{Application, StartError};
