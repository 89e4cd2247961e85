//! The fetch-job message: what a publisher (query-api, a backfill, or any
//! AMQP client) sends to ask a worker to fetch one entity.
//!
//! Body: JSON, `content-type: application/json`, published persistent to the
//! `amqp.exchange` with routing key [`ROUTING_KEY`]. Example:
//!
//! ```json
//! {"v": 1, "job_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
//!  "entity_type": "release", "mbid": "5b11f4ce-a62d-471e-81fc-a69a8278c7da",
//!  "reason": "miss"}
//! ```
//!
//! Versioning: `v` is the contract version. Fields may be added within a
//! version (readers ignore unknown fields); a change that readers must
//! understand bumps `v`, and a worker dead-letters versions it does not know.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mbid::{EntityType, Mbid};

/// The contract version this build writes and understands.
pub const VERSION: u32 = 1;
/// Routing key of fetch jobs on the jobs exchange.
pub const ROUTING_KEY: &str = "fetch";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchJob {
    pub v: u32,
    /// For tracing a job across processes; also the AMQP `message-id`.
    pub job_id: Uuid,
    pub entity_type: EntityType,
    pub mbid: Mbid,
    #[serde(default)]
    pub reason: JobReason,
    /// Fetch even when the cached copy is fresh (re-ingest after a schema
    /// change, or to test idempotency).
    #[serde(default)]
    pub force: bool,
}

/// Why the job was published; decides nothing yet, but is logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobReason {
    /// A client asked for an entity the cache does not hold.
    #[default]
    Miss,
    /// A client was served a stale copy.
    Refresh,
    /// An operator asked for it in bulk.
    Backfill,
}

/// Why a message body is not a job this worker can run.
#[derive(Debug, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job is not valid JSON for the contract: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("job contract version {0} is not supported (this worker knows {VERSION})")]
    UnsupportedVersion(u32),
}

impl FetchJob {
    pub fn new(entity_type: EntityType, mbid: Mbid, reason: JobReason) -> Self {
        Self {
            v: VERSION,
            job_id: Uuid::new_v4(),
            entity_type,
            mbid,
            reason,
            force: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing a struct of strings, enums and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(body: &[u8]) -> Result<Self, JobDecodeError> {
        let job: FetchJob = serde_json::from_slice(body)?;
        if job.v != VERSION {
            return Err(JobDecodeError::UnsupportedVersion(job.v));
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_unknown_fields() {
        let mbid = Mbid::parse("5b11f4ce-a62d-471e-81fc-a69a8278c7da").unwrap();
        let job = FetchJob::new(EntityType::ReleaseGroup, mbid, JobReason::Refresh);
        assert_eq!(FetchJob::decode(&job.encode()).unwrap(), job);
        let extra = br#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"5b11f4ce-a62d-471e-81fc-a69a8278c7da","priority":3}"#;
        let job = FetchJob::decode(extra).unwrap();
        assert_eq!(job.reason, JobReason::Miss);
        assert!(!job.force);
    }

    #[test]
    fn rejects_bad_jobs() {
        assert!(FetchJob::decode(b"not json").is_err());
        assert!(FetchJob::decode(br#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"work","mbid":"5b11f4ce-a62d-471e-81fc-a69a8278c7da"}"#).is_err());
        assert!(FetchJob::decode(br#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"nope"}"#).is_err());
        assert!(matches!(
            FetchJob::decode(br#"{"v":2,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"5b11f4ce-a62d-471e-81fc-a69a8278c7da"}"#),
            Err(JobDecodeError::UnsupportedVersion(2))
        ));
    }
}
