//! Requests only MusicBrainz can answer — a user's credentials or data,
//! writes, OAuth login — go to MusicBrainz as they came, and its answer
//! (with `WWW-Authenticate` for a Digest challenge) back as it came. With
//! `http.pass_through` off they get MusicBrainz's 401 instead.

use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;
use musicmeta_musicbrainz::forward::Forwarder;
use musicmeta_musicbrainz::ws2::Format;
use tracing::warn;

use super::reply::Reply;

/// MusicBrainz's words for a request that needs credentials it lacks.
const NOT_AUTHORIZED: &str = "You are not authorized to access this resource.";

pub(super) async fn forward(
    forwarder: Option<&Forwarder>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Reply {
    let Some(forwarder) = forwarder else {
        return Reply::error(Format::Json, 401, NOT_AUTHORIZED);
    };
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    match forwarder
        .forward(method.as_str(), path_and_query, headers, body)
        .await
    {
        Ok(forwarded) => Reply::Forwarded(forwarded),
        Err(error) => {
            warn!(%error, "forwarding to musicbrainz failed");
            Reply::error(
                Format::Json,
                502,
                "MusicBrainz could not be reached for a request only it can answer; retry later",
            )
        }
    }
}
