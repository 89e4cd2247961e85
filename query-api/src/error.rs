//! The one table from what went wrong to what a client is told.
//!
//! Every service of query-api returns [`ApiError`]; [`ApiError::code`]
//! (gRPC), [`ApiError::http_status`] (the ws/2 API) and
//! [`ApiError::client_message`] are the only place an error becomes a
//! status. A client's own mistake is explained to it; a fault of ours (the
//! database, the fleet status) is logged here in full, with the trace id,
//! and the client is told only that the service is unavailable and which
//! trace to quote — never the internal cause.

use musicmeta_shared::db::DbError;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::status::StatusError;
use musicmeta_shared::telemetry;
use tonic::{Code, Status};

/// Why a call cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the message says what to change.
    #[error("{0}")]
    InvalidArgument(String),
    /// MusicBrainz has no such entity (or had none within the negative TTL).
    #[error("musicbrainz has no {0} with mbid {1}")]
    NotFound(EntityType, Mbid),
    /// Its fill failed for good (MusicBrainz's answer could not be read);
    /// remembered for `cache.failure_ttl_secs`, during which it is not
    /// asked for again.
    #[error(
        "musicbrainz's answer for {0} {1} could not be read; it is not asked for again for a \
         while, retry later"
    )]
    UpstreamFailed(EntityType, Mbid),
    /// Not cached; its fetch is queued but was not done within the wait.
    #[error("{0} {1} is not cached yet; a fetch is queued, retry shortly")]
    Queued(EntityType, Mbid),
    /// Not cached, and the broker is down: the fetch waits in the outbox.
    #[error(
        "not cached; the job broker is unavailable, so the fetch is recorded and will be \
         queued when the broker is back; retry later"
    )]
    BrokerDown,
    /// The same three outcomes for a lookup answered from a stored ws/2
    /// document (a work, an ISRC, a disc ID...), named by what was asked.
    #[error("musicbrainz has no {0}")]
    NoDocument(String),
    #[error("{0} is not cached yet; a fetch is queued, retry shortly")]
    DocumentQueued(String),
    #[error(
        "musicbrainz's answer for {0} could not be read; it is not asked for again for a \
         while, retry later"
    )]
    DocumentFailed(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    FleetStatus(#[from] StatusError),
}

impl ApiError {
    /// The table: each kind of error, its gRPC code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidArgument(_) => Code::InvalidArgument,
            ApiError::NotFound(..) | ApiError::NoDocument(_) => Code::NotFound,
            ApiError::Queued(..) | ApiError::DocumentQueued(_) | ApiError::BrokerDown => {
                Code::Unavailable
            }
            ApiError::DocumentFailed(_) => Code::Unavailable,
            // Upstream's fault, not the client's and not a bug of ours; it
            // heals by itself when MusicBrainz answers well again.
            ApiError::UpstreamFailed(..) => Code::Unavailable,
            ApiError::Database(_) | ApiError::FleetStatus(_) => Code::Unavailable,
        }
    }

    /// The same table for the HTTP API: each kind of error, its status.
    pub fn http_status(&self) -> u16 {
        match self {
            ApiError::InvalidArgument(_) => 400,
            ApiError::NotFound(..) | ApiError::NoDocument(_) => 404,
            ApiError::Queued(..) | ApiError::DocumentQueued(_) | ApiError::BrokerDown => 503,
            // Bad Gateway: the upstream's answer was invalid.
            ApiError::UpstreamFailed(..) | ApiError::DocumentFailed(_) => 502,
            ApiError::Database(_) | ApiError::FleetStatus(_) => 503,
        }
    }

    /// Whether the cause is ours rather than the client's: logged in full,
    /// and not shown.
    fn is_internal(&self) -> bool {
        matches!(self, ApiError::Database(_) | ApiError::FleetStatus(_))
    }

    /// What the client is told. For an internal error this logs the cause
    /// (with the current trace id) and returns a message without it.
    pub fn client_message(&self) -> String {
        if !self.is_internal() {
            return self.to_string();
        }
        let trace_id = telemetry::current_trace_id();
        tracing::error!(
            error = %self,
            trace_id = trace_id.as_deref().unwrap_or(""),
            "call failed"
        );
        let what = match self {
            ApiError::FleetStatus(_) => "the fleet status is unavailable; retry later",
            _ => "the cache database is unavailable; retry later",
        };
        match trace_id {
            Some(id) => format!("{what} (trace {id})"),
            None => what.to_owned(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        Status::new(error.code(), error.client_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbid() -> Mbid {
        Mbid::parse("82935ddb-a9d6-45a7-85e3-0b0add51fa1c").expect("valid")
    }

    /// Every row of the table: the code, and what the client reads.
    #[test]
    fn each_error_has_its_code_and_message() {
        let down = || DbError::Inconsistent("secret internal detail".into());
        let cases: Vec<(ApiError, Code, u16, &str)> = vec![
            (
                ApiError::InvalidArgument("invalid mbid: too short".into()),
                Code::InvalidArgument,
                400,
                "invalid mbid: too short",
            ),
            (
                ApiError::NotFound(EntityType::Label, mbid()),
                Code::NotFound,
                404,
                "musicbrainz has no label with mbid 82935ddb-a9d6-45a7-85e3-0b0add51fa1c",
            ),
            (
                ApiError::NoDocument("isrc USSUB0200002".into()),
                Code::NotFound,
                404,
                "musicbrainz has no isrc USSUB0200002",
            ),
            (
                ApiError::DocumentQueued("work 82935ddb".into()),
                Code::Unavailable,
                503,
                "work 82935ddb is not cached yet; a fetch is queued, retry shortly",
            ),
            (
                ApiError::DocumentFailed("discid x".into()),
                Code::Unavailable,
                502,
                "musicbrainz's answer for discid x could not be read; it is not asked for again \
                 for a while, retry later",
            ),
            (
                ApiError::Queued(EntityType::Release, mbid()),
                Code::Unavailable,
                503,
                "release 82935ddb-a9d6-45a7-85e3-0b0add51fa1c is not cached yet; a fetch is \
                 queued, retry shortly",
            ),
            (
                ApiError::UpstreamFailed(EntityType::Release, mbid()),
                Code::Unavailable,
                502,
                "musicbrainz's answer for release 82935ddb-a9d6-45a7-85e3-0b0add51fa1c could not \
                 be read",
            ),
            (
                ApiError::BrokerDown,
                Code::Unavailable,
                503,
                "not cached; the job broker is unavailable",
            ),
            (
                ApiError::Database(down()),
                Code::Unavailable,
                503,
                "the cache database is unavailable; retry later",
            ),
            (
                ApiError::FleetStatus(StatusError::Database(down())),
                Code::Unavailable,
                503,
                "the fleet status is unavailable; retry later",
            ),
        ];
        for (error, code, http, message) in cases {
            assert_eq!(error.http_status(), http, "{error:?}");
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{status:?}");
            assert!(
                status.message().starts_with(message),
                "{:?} does not start with {message:?}",
                status.message()
            );
            assert!(
                !status.message().contains("secret internal detail"),
                "an internal cause reached the client: {status:?}"
            );
        }
    }
}
