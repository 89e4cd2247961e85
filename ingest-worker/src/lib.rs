//! `ingest-worker`: fills the cache. It consumes fetch jobs from RabbitMQ,
//! fetches each entity from the MusicBrainz web service under a rate limit,
//! and upserts it into PostgreSQL in one transaction. Run as many as you
//! like; each holds at most `amqp.prefetch` jobs.
//!
//! Layout:
//! - [`worker`]: the consume → fetch → store → ack loop and its outcomes.
//! - `crawl`: following relations for jobs with `depth > 0`.
//! - `failure`: why a job failed, and whether a retry can help.
//! - `documents`: reading a document job's ws/2 request back.
//! - `retry`: when a transiently failed job is tried again, or given up on.
//! - [`dead_letters`]: listing and requeueing what workers gave up on.
//! - [`backfill`]: the `backfill` subcommand, publishing jobs for a list of MBIDs.

// Library code returns its errors; `unwrap` is for tests (clippy.toml).
#![warn(clippy::unwrap_used)]

pub mod backfill;
mod crawl;
pub mod dead_letters;
mod documents;
mod failure;
pub mod import;
pub mod progress;
pub mod rederive;
mod retry;
pub mod worker;

pub use worker::{JobOutcome, JobReport, Worker, WorkerError};
