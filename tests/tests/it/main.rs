//! The integration suite, one test binary: each module is one area of
//! behaviour, run against real PostgreSQL and RabbitMQ (see `tests/src` for
//! the harness). One binary links once, where twenty linked twenty times;
//! nextest still runs every test in its own process.

mod answers;
mod backfill;
mod bench_smoke;
mod cache;
mod catalog;
mod chaos;
mod clients;
mod cluster;
mod deploy;
mod dump_import;
mod faults;
mod fleet;
mod hot_tier;
mod identifiers;
mod job_contract;
mod lookups;
mod migrations;
mod observability;
mod otlp;
mod outbox;
mod python_client;
mod queues;
mod recovery;
mod replicas;
mod security;
mod service;
mod store;
mod upstream_faults;
mod worker_crash;
mod ws2;
