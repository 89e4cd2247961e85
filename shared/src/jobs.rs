//! The fetch-job contract: what a publisher (query-api, `ingest-worker
//! backfill`, or any AMQP client) sends to ask a worker to fetch an entity.
//!
//! - Exchange: `amqp.exchange` (default `musicmeta.jobs`, direct, durable).
//! - Routing key: the lane, [`Lane::routing_key`]: `fetch.interactive`,
//!   `fetch.refresh` or `fetch.backfill`. Workers take interactive jobs
//!   before refreshes, and refreshes before backfill.
//! - Properties: `delivery_mode = 2` (persistent), `content_type =
//!   application/json`; `message_id` = `job_id` (optional, for tracing).
//! - Body (JSON, schema in `docs/job.schema.json`):
//!
//! ```json
//! {"v": 1, "job_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
//!  "entity_type": "artist", "mbid": "72c536dc-7137-4477-a521-567eeb840fa8",
//!  "depth": 2, "force": false}
//! ```
//!
//! Versioning: `v` is the contract version. Fields may be added within a
//! version (readers ignore unknown fields); a change that readers must
//! understand bumps `v`, and a worker dead-letters versions it does not know.
//!
//! Two kinds of job, told apart by their version:
//! - `v: 1`, [`FetchJob`]: fetch an entity of a typed kind (artist, release
//!   group, release, recording, label) and store it in the typed tables.
//! - `v: 2`, [`DocumentJob`]: fetch one ws/2 answer for the HTTP API — a
//!   browse page, a search, a disc ID, an entity without typed tables — and
//!   keep it as MusicBrainz sent it. It names a ws/2 request (resource path
//!   and query), never a URL: the worker re-reads it with the same grammar
//!   as the HTTP API and asks its configured MusicBrainz, so a job cannot
//!   send a worker anywhere else.
//!
//! ```json
//! {"v": 2, "job_id": "9b2c…", "request": "release?release-group=05ce…&inc=labels+media&limit=100"}
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mbid::{EntityType, Mbid};

/// The contract version of [`FetchJob`]s.
pub const VERSION: u32 = 1;
/// The contract version of [`DocumentJob`]s.
pub const DOCUMENT_VERSION: u32 = 2;
/// Longest ws/2 request a [`DocumentJob`] may name.
pub const MAX_REQUEST_LEN: usize = 4096;
/// Deepest crawl a job may ask for: artist → release groups → releases →
/// recordings and labels.
pub const MAX_DEPTH: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchJob {
    pub v: u32,
    /// For tracing a job across processes; also the AMQP `message-id`.
    pub job_id: Uuid,
    pub entity_type: EntityType,
    pub mbid: Mbid,
    /// How many levels of related entities to fetch too (0: just this one).
    #[serde(default)]
    pub depth: u8,
    /// Fetch even when the cached copy is fresh.
    #[serde(default)]
    pub force: bool,
}

/// Priority lanes, highest first. Each is its own queue, `<queue>.<lane>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// A client is waiting for this entity.
    Interactive,
    /// A client was served a stale copy.
    Refresh,
    /// Bulk work: operator backfills and crawls.
    Backfill,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Interactive, Lane::Refresh, Lane::Backfill];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Refresh => "refresh",
            Lane::Backfill => "backfill",
        }
    }

    /// The routing key that selects this lane on the jobs exchange.
    pub fn routing_key(self) -> String {
        format!("fetch.{}", self.as_str())
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lane {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lane::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown lane {s:?} (expected interactive, refresh or backfill)")
            })
    }
}

/// Why a message body is not a job this worker can run.
#[derive(Debug, thiserror::Error)]
pub enum JobDecodeError {
    #[error("job is not valid JSON for the contract: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(
        "job contract version {0} is not supported (this worker knows {VERSION} and {DOCUMENT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("job depth {0} is above the maximum of {MAX_DEPTH}")]
    TooDeep(u8),
    #[error("document job request is empty, too long or not printable ASCII")]
    BadRequest,
}

impl FetchJob {
    pub fn new(entity_type: EntityType, mbid: Mbid) -> Self {
        Self {
            v: VERSION,
            job_id: Uuid::new_v4(),
            entity_type,
            mbid,
            depth: 0,
            force: false,
        }
    }

    pub fn with_depth(mut self, depth: u8) -> Self {
        self.depth = depth;
        self
    }

    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing a struct of strings, enums, integers and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(body: &[u8]) -> Result<Self, JobDecodeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let Version { v } = serde_json::from_slice(body)?;
        if v != VERSION {
            return Err(JobDecodeError::UnsupportedVersion(v));
        }
        let job: FetchJob = serde_json::from_slice(body)?;
        if job.v != VERSION {
            return Err(JobDecodeError::UnsupportedVersion(job.v));
        }
        if job.depth > MAX_DEPTH {
            return Err(JobDecodeError::TooDeep(job.depth));
        }
        Ok(job)
    }
}

/// Fetch one ws/2 answer as MusicBrainz sends it (contract version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentJob {
    pub v: u32,
    pub job_id: Uuid,
    /// The ws/2 request after `/ws/2/`: resource path and query, as the
    /// HTTP API normalised it (`release?artist=…&inc=labels&limit=25`).
    pub request: String,
    /// Fetch even when the stored answer is still fresh.
    #[serde(default)]
    pub force: bool,
}

impl DocumentJob {
    pub fn new(request: impl Into<String>) -> Self {
        Self {
            v: DOCUMENT_VERSION,
            job_id: Uuid::new_v4(),
            request: request.into(),
            force: false,
        }
    }

    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }
}

/// The stable id of a ws/2 document key: the claim ledger, the fill
/// notifications and the hot tier name a document by it (a key may be
/// kilobytes long; the id is 16 bytes).
pub fn document_id(key: &str) -> Mbid {
    /// Fixed, so every process derives the same ids (a UUID v5 namespace).
    const NAMESPACE: Uuid = Uuid::from_u128(0x6d75_7369_636d_6574_615f_7773_325f_646f);
    Mbid::from_uuid(Uuid::new_v5(&NAMESPACE, key.as_bytes()))
}

/// Any job a worker takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Job {
    Fetch(FetchJob),
    Document(DocumentJob),
}

impl From<FetchJob> for Job {
    fn from(job: FetchJob) -> Self {
        Job::Fetch(job)
    }
}

impl From<DocumentJob> for Job {
    fn from(job: DocumentJob) -> Self {
        Job::Document(job)
    }
}

impl Job {
    pub fn job_id(&self) -> Uuid {
        match self {
            Job::Fetch(j) => j.job_id,
            Job::Document(j) => j.job_id,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing strings, enums, integers and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads either kind, by its contract version.
    pub fn decode(body: &[u8]) -> Result<Self, JobDecodeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let Version { v } = serde_json::from_slice(body)?;
        match v {
            VERSION => FetchJob::decode(body).map(Job::Fetch),
            DOCUMENT_VERSION => {
                let job: DocumentJob = serde_json::from_slice(body)?;
                let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
                if job.request.is_empty()
                    || job.request.len() > MAX_REQUEST_LEN
                    || !printable(&job.request)
                {
                    return Err(JobDecodeError::BadRequest);
                }
                Ok(Job::Document(job))
            }
            other => Err(JobDecodeError::UnsupportedVersion(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBID: &str = "5b11f4ce-a62d-471e-81fc-a69a8278c7da";

    #[test]
    fn round_trips_and_ignores_unknown_fields() {
        let mbid = Mbid::parse(MBID).unwrap();
        let job = FetchJob::new(EntityType::ReleaseGroup, mbid)
            .with_depth(2)
            .forced();
        assert_eq!(FetchJob::decode(&job.encode()).unwrap(), job);
        let extra = format!(
            r#"{{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"{MBID}","note":"x"}}"#
        );
        let job = FetchJob::decode(extra.as_bytes()).unwrap();
        assert_eq!((job.depth, job.force), (0, false));
    }

    #[test]
    fn rejects_bad_jobs() {
        let job = |body: String| FetchJob::decode(body.as_bytes());
        assert!(FetchJob::decode(b"not json").is_err());
        assert!(job(format!(r#"{{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"work","mbid":"{MBID}"}}"#)).is_err());
        assert!(job(r#"{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"nope"}"#.into()).is_err());
        assert!(matches!(
            job(format!(
                r#"{{"v":3,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"{MBID}"}}"#
            )),
            Err(JobDecodeError::UnsupportedVersion(3))
        ));
        assert!(matches!(
            job(format!(
                r#"{{"v":1,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","entity_type":"label","mbid":"{MBID}","depth":4}}"#
            )),
            Err(JobDecodeError::TooDeep(4))
        ));
    }

    #[test]
    fn either_kind_decodes_by_its_version() {
        let fetch = Job::from(FetchJob::new(EntityType::Label, Mbid::parse(MBID).unwrap()));
        assert_eq!(Job::decode(&fetch.encode()).unwrap(), fetch);
        let document = Job::from(DocumentJob::new("release?label=x&limit=25").forced());
        assert_eq!(Job::decode(&document.encode()).unwrap(), document);
        // A document job is not an entity job, and the other way round.
        assert!(FetchJob::decode(&document.encode()).is_err());
        for bad in ["", "release?query=a b", "release?q=\u{e9}"] {
            let body = format!(
                r#"{{"v":2,"job_id":"0f8fad5b-d9cb-469f-a165-70867728950e","request":"{bad}"}}"#
            );
            assert!(
                matches!(
                    Job::decode(body.as_bytes()),
                    Err(JobDecodeError::BadRequest)
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Job::decode(br#"{"v":7}"#),
            Err(JobDecodeError::UnsupportedVersion(7))
        ));
    }

    #[test]
    fn lanes_have_routing_keys() {
        assert_eq!(Lane::Interactive.routing_key(), "fetch.interactive");
        assert!(Lane::Interactive < Lane::Refresh && Lane::Refresh < Lane::Backfill);
        assert_eq!("backfill".parse::<Lane>(), Ok(Lane::Backfill));
    }
}
