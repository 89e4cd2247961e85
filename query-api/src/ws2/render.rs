//! A stored document as the bytes a request gets: cut down to the request's
//! inc= when it comes from a superset document (the projection rules live
//! in the ws/2 grammar, one copy for every format), serialised, and given
//! MusicBrainz's kind of ETag (the MD5 of the body).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use md5::{Digest, Md5};
use musicmeta_musicbrainz::ws2::{self, IncSet, Resource};

use crate::hot::HotEntry;

/// Why a stored document could not be rendered: its JSON is not JSON,
/// which only a hand edit of the database could cause.
#[derive(Debug, thiserror::Error)]
#[error("stored document is not JSON: {0}")]
pub(super) struct RenderError(#[from] serde_json::Error);

/// `body` (a stored document's JSON text) cut down to `inc` as a lookup of
/// `resource` asks, ready to send.
pub(super) fn projected(
    body: &str,
    resource: Resource,
    inc: &IncSet,
    fetched_at: SystemTime,
) -> Result<HotEntry, RenderError> {
    let mut document: serde_json::Value = serde_json::from_str(body)?;
    ws2::project(&mut document, resource, inc);
    Ok(entry(
        Bytes::from(serde_json::to_vec(&document)?),
        fetched_at,
    ))
}

/// `body` as stored: the exact answer to the request.
pub(super) fn verbatim(body: String, fetched_at: SystemTime) -> HotEntry {
    entry(Bytes::from(body), fetched_at)
}

fn entry(body: Bytes, fetched_at: SystemTime) -> HotEntry {
    let digest = Md5::digest(&body);
    let etag: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    HotEntry {
        fetched_at,
        body,
        etag: Some(Arc::from(etag)),
    }
}
