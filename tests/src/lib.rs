//! The integration-test harness: real PostgreSQL and RabbitMQ, a stand-in
//! MusicBrainz serving recorded responses, and the production start-up
//! paths of `query-api` and `ingest-worker`.
//!
//! Every test gets its own database and its own exchange and queue names,
//! so tests run in parallel; both are removed when the test's handles drop,
//! and databases left by crashed runs are swept on the next run.
//!
//! Layout:
//! - [`database`]: a fresh, migrated database per test.
//! - [`broker`]: per-test AMQP names, queue inspection, raw publishing.
//! - [`musicbrainz_stub`]: the stand-in ws/2 server and its request log.
//! - [`app`]: a running query-api plus workers, and a gRPC client.
//! - [`binaries`]: the built programs, for tests that run them as processes.
//! - [`fixtures`]: where the recorded responses live and how to read them.
//! - [`python`]: running the third-party Python clients some tests drive.
//! - [`proxy`]: a TCP proxy that takes a test's broker or database down and back.
//! - [`tls_proxy`]: test certificates and a TLS-terminating proxy (amqps).
//! - [`cluster`], [`replica`]: a RabbitMQ cluster and a PostgreSQL primary
//!   with a streaming replica of a test's own, started on this machine.
//! - [`deploy`]: models of the `deploy/` manifests and `docs/configuration.md`.

pub mod app;
pub mod binaries;
pub mod broker;
pub mod cluster;
pub mod database;
pub mod deploy;
pub mod fixtures;
pub mod musicbrainz_stub;
pub mod proxy;
pub mod python;
pub mod replica;
pub mod tls_proxy;

pub use app::{TestApp, TestOptions};
