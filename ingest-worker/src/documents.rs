//! Document jobs name a ws/2 request; this reads it back with the same
//! grammar the HTTP API used to write it, so the worker stores the answer
//! under the same key and asks MusicBrainz nothing a client could not have
//! asked (a job cannot name a URL).

use musicmeta_musicbrainz::ws2::{Kind, Request};
use musicmeta_shared::config::DocumentKind;

use crate::failure::JobError;

/// The request a document job names (`release?artist=…&inc=…`).
pub(crate) fn parse_request(request: &str) -> Result<Request, JobError> {
    let (path, query) = match request.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (request, None),
    };
    Ok(Request::parse(path, query, Some("application/json"))?)
}

/// The key the answer to `request` is stored under.
pub(crate) fn document_key(request: &str) -> Result<String, JobError> {
    Ok(parse_request(request)?.key())
}

/// Which freshness rule the answer falls under.
pub(crate) fn document_kind(request: &Request) -> DocumentKind {
    match request.kind {
        Kind::Search { .. } => DocumentKind::Search,
        _ => DocumentKind::Other,
    }
}
