//! Why a job failed, and whether trying it again can help: the decision
//! that sends a job to a delay queue or to the dead letters.

use musicmeta_musicbrainz::FetchError;
use musicmeta_musicbrainz::ws2::Ws2Error;
use musicmeta_shared::db::DbError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Database(#[from] DbError),
    /// A document job names a request the ws/2 grammar refuses.
    #[error("not a ws/2 request this worker can ask: {0}")]
    Request(#[from] Ws2Error),
}

impl JobError {
    /// Permanent failures fail the same way when retried; they are
    /// dead-lettered. Everything else comes back after a delay.
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            JobError::Fetch(e) => e.is_permanent(),
            // Lost connections heal; a constraint violation will not.
            JobError::Database(e) => !e.is_transient(),
            JobError::Request(_) => true,
        }
    }
}
