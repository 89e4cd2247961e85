//! A stored document as the bytes a request gets: cut down to the request's
//! inc= when it comes from a superset document (the projection rules live
//! in the ws/2 grammar, one copy for every format), written in the
//! request's format (the JSON as is, or MusicBrainz's XML written from it),
//! and given MusicBrainz's kind of ETag (the MD5 of the body).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use md5::{Digest, Md5};
use musicmeta_musicbrainz::ws2::{self, Format, IncSet, Request, XmlError};

use crate::hot::HotEntry;

/// Why a stored document could not be rendered. Stored documents are the
/// JSON MusicBrainz gave, so either means the row is not what the worker
/// wrote (a hand edit) or MusicBrainz changed its JSON.
#[derive(Debug, thiserror::Error)]
pub(super) enum RenderError {
    #[error("stored document is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Xml(#[from] XmlError),
}

/// `body` (a stored document's JSON text) as `request` gets it: cut down to
/// `project` when the document is a superset, then in `request.format`.
/// The JSON answer to the exact request is sent as stored, unparsed.
pub(super) fn rendered(
    body: String,
    request: &Request,
    project: Option<&IncSet>,
    fetched_at: SystemTime,
) -> Result<HotEntry, RenderError> {
    if request.format == Format::Json && project.is_none() {
        return Ok(entry(Bytes::from(body), fetched_at));
    }
    let mut document: serde_json::Value = serde_json::from_str(&body)?;
    if let Some(inc) = project {
        ws2::project(&mut document, request.resource, inc);
    }
    let bytes = match request.format {
        Format::Xml => Bytes::from(ws2::xml::render(request, &document)?),
        // Only genre/all has a text face, and the facade does not store it.
        Format::Json | Format::Txt => Bytes::from(serde_json::to_vec(&document)?),
    };
    Ok(entry(bytes, fetched_at))
}

/// No body at all (a redirect whose document cannot be written).
pub(super) fn empty(fetched_at: SystemTime) -> HotEntry {
    HotEntry {
        fetched_at,
        body: Bytes::new(),
        etag: None,
    }
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
