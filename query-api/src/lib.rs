//! `query-api`: gRPC lookups of MusicBrainz entities, answered from the
//! PostgreSQL cache; misses and stale rows become fetch jobs on RabbitMQ.
//!
//! Layout:
//! - [`app`]: builds the server from configuration and runs it until shutdown.
//! - [`metadata`]: the `MetadataService` handlers (entity lookups).
//! - [`policy`]: the lookup cache policy (fresh, stale, miss, 404, redirect).
//! - [`catalog`]: the `CatalogService` handlers, and [`catalog::policy`],
//!   what a browse or search does.
//! - [`ws2`]: the MusicBrainz-compatible HTTP API (ws/2, JSON).
//! - [`admin`]: the `AdminService` (fleet status, bulk refresh and backfill).
//! - [`error`]: the one table from errors to status codes and messages.
//! - [`auth`]: bearer-token interceptors for the admin and lookup services.
//! - [`limits`]: message and metadata size limits, answered as gRPC.
//! - [`fills`]: LISTEN/NOTIFY wake-ups for calls waiting on a miss.
//! - [`hot`]: the in-process copy of hot entities, evicted by NOTIFY.
//! - [`convert`]: domain and catalog types into protobuf messages.
//! - [`client`]: the `query-api lookup` command-line client.

// Library code returns its errors; `unwrap` is for tests (clippy.toml).
#![warn(clippy::unwrap_used)]

pub mod admin;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod client;
pub mod convert;
pub mod deadline;
pub mod documents;
pub mod error;
pub mod fills;
pub mod hot;
pub mod identifiers;
pub mod limits;
pub mod metadata;
pub mod policy;
pub mod ws2;

pub use app::{Application, StartError};
