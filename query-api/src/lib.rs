//! `query-api`: gRPC lookups of MusicBrainz entities, answered from the
//! PostgreSQL cache; misses and stale rows become fetch jobs on RabbitMQ.
//!
//! Layout:
//! - [`app`]: builds the server from configuration and runs it until shutdown.
//! - [`grpc`]: the `MetadataService` handlers and the error → status table.
//! - [`catalog`]: the `CatalogService` (browse lists and search over the cache).
//! - [`admin`]: the `AdminService` (fleet status, bulk refresh and backfill).
//! - [`auth`]: bearer-token interceptors for the admin and lookup services.
//! - [`service`]: the cache policy (fresh, stale, miss, 404, redirect).
//! - [`fills`]: LISTEN/NOTIFY wake-ups for calls waiting on a miss.
//! - [`hot`]: the in-process copy of hot entities, evicted by NOTIFY.
//! - [`relay`]: publishes jobs left in the outbox while the broker was down.
//! - [`convert`]: domain types into protobuf messages.
//! - [`lookup`]: the `query-api lookup` command-line client.

pub mod admin;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod convert;
pub mod fills;
pub mod grpc;
pub mod hot;
pub mod lookup;
pub mod relay;
pub mod service;

pub use app::{Application, StartError};
