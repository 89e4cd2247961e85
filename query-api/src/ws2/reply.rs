//! The HTTP answers of the ws/2 API, with the headers MusicBrainz sends:
//! `Content-Type` with `charset=utf-8`, an `ETag` (and `304 Not Modified`
//! for a matching `If-None-Match`, which Picard's disk cache uses),
//! `Access-Control-Allow-Origin: *`, and no long cache lifetimes that would
//! pin old data in a client's cache. `X-Cache: hit|miss|stale` tells
//! operators where an answer came from. Errors have MusicBrainz's shape
//! and words: `{"error": …, "help": …}`, or `<error><text>…` in XML.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, RETRY_AFTER,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use musicmeta_musicbrainz::forward::Forwarded;
use musicmeta_musicbrainz::ws2::{self, Format, Ws2Error, xml};

use crate::hot::HotEntry;

/// MusicBrainz's own words when it asks a client to slow down.
const SLOW_DOWN: &str = "Your requests are exceeding the allowable rate limit. Please see \
                         http://wiki.musicbrainz.org/XMLWebService for more information.";

/// Where an answer came from, for `X-Cache` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Answered from what the cache held, fresh.
    Hit,
    /// Answered from what the cache held past its TTL; a refresh is queued.
    Stale,
    /// Fetched from MusicBrainz while the request waited.
    Miss,
}

impl Cache {
    fn as_str(self) -> &'static str {
        match self {
            Cache::Hit => "hit",
            Cache::Stale => "stale",
            Cache::Miss => "miss",
        }
    }
}

/// One answer, before it becomes a response.
#[derive(Debug)]
pub enum Reply {
    /// A document, as rendered for the request in `format`.
    Document {
        entry: HotEntry,
        cache: Cache,
        format: Format,
    },
    /// A merged MBID: MusicBrainz answers 301 to the surviving entity, with
    /// its document in the body.
    Moved {
        location: String,
        entry: HotEntry,
        cache: Cache,
        format: Format,
    },
    /// An error in MusicBrainz's shape.
    Error {
        format: Format,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
        cache: Option<Cache>,
    },
    /// MusicBrainz's answer to a forwarded request, as it came.
    Forwarded(Forwarded),
}

impl Reply {
    pub fn error(format: Format, status: u16, message: impl Into<String>) -> Self {
        Reply::Error {
            format,
            status,
            message: message.into(),
            retry_after: None,
            cache: None,
        }
    }

    pub fn ws2_error(format: Format, error: &Ws2Error) -> Self {
        Self::error(format, error.status, error.message.clone())
    }

    /// MusicBrainz's 404, remembered or just learnt.
    pub fn not_found(format: Format, cache: Cache) -> Self {
        Reply::Error {
            format,
            status: 404,
            message: "Not Found".into(),
            retry_after: None,
            cache: Some(cache),
        }
    }

    /// Too many requests from one client: MusicBrainz's 503.
    pub fn rate_limited(format: Format, wait: Duration) -> Self {
        Reply::Error {
            format,
            status: 503,
            message: SLOW_DOWN.into(),
            retry_after: Some(wait),
            cache: None,
        }
    }

    /// Its fill failed for good (remembered for `cache.failure_ttl_secs`):
    /// 502, MusicBrainz's answer could not be read.
    pub fn failed(format: Format, message: &str, cache: Cache) -> Self {
        Reply::Error {
            format,
            status: 502,
            message: message.to_owned(),
            retry_after: None,
            cache: Some(cache),
        }
    }

    /// Not cached yet, and not filled within the wait: 503 with when to come
    /// back, while the fill goes on so that the retry finds it.
    pub fn not_yet(format: Format, retry_after: Duration) -> Self {
        Reply::Error {
            format,
            status: 503,
            message: SLOW_DOWN.into(),
            retry_after: Some(retry_after),
            cache: Some(Cache::Miss),
        }
    }

    /// For the metrics: what kind of answer this is.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Document { .. } | Reply::Moved { .. } => "answer",
            Reply::Error { status: 404, .. } => "not_found",
            Reply::Error { status: 503, .. } => "unavailable",
            Reply::Error { status: 502, .. } => "upstream_failed",
            Reply::Error { .. } => "error",
            Reply::Forwarded(_) => "forwarded",
        }
    }

    pub fn cache_label(&self) -> &'static str {
        match self {
            Reply::Document { cache, .. } | Reply::Moved { cache, .. } => cache.as_str(),
            Reply::Error {
                cache: Some(cache), ..
            } => cache.as_str(),
            _ => "none",
        }
    }

    /// The response; `request` holds the request's headers (for
    /// `If-None-Match`).
    pub fn into_response(self, request: &HeaderMap) -> Response {
        match self {
            Reply::Document {
                entry,
                cache,
                format,
            } => document(StatusCode::OK, entry, cache, format, request),
            Reply::Moved {
                location,
                entry,
                cache,
                format,
            } => {
                let mut response =
                    document(StatusCode::MOVED_PERMANENTLY, entry, cache, format, request);
                if let Ok(location) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(LOCATION, location);
                }
                response
            }
            Reply::Error {
                format,
                status,
                message,
                retry_after,
                cache,
            } => {
                let (content_type, body) = error_body(format, &message);
                let mut response = Response::new(Body::from(body));
                *response.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                if let Some(wait) = retry_after {
                    // Whole seconds, at least one: `Retry-After: 0` makes
                    // beets retry at once and give up.
                    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                    headers.insert(RETRY_AFTER, HeaderValue::from(secs));
                }
                if let Some(cache) = cache {
                    headers.insert("x-cache", HeaderValue::from_static(cache.as_str()));
                }
                response
            }
            Reply::Forwarded(forwarded) => {
                let mut response = Response::new(Body::from(forwarded.body));
                *response.status_mut() =
                    StatusCode::from_u16(forwarded.status).unwrap_or(StatusCode::BAD_GATEWAY);
                *response.headers_mut() = forwarded.headers;
                response
            }
        }
    }
}

/// A rendered document, or 304 when the client holds the same bytes.
fn document(
    status: StatusCode,
    entry: HotEntry,
    cache: Cache,
    format: Format,
    request: &HeaderMap,
) -> Response {
    let etag = entry
        .etag
        .as_deref()
        .and_then(|e| HeaderValue::from_str(&format!("\"{e}\"")).ok());
    let unchanged = status == StatusCode::OK
        && etag.as_ref().is_some_and(|etag| {
            request
                .get_all(IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|tag| {
                    let tag = tag.trim();
                    tag == "*" || tag.trim_start_matches("W/") == etag.to_str().unwrap_or("")
                })
        });
    let mut response = if unchanged {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::from(entry.body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        response
    };
    let headers = response.headers_mut();
    if let Some(etag) = etag {
        headers.insert(ETAG, etag);
    }
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert("x-cache", HeaderValue::from_static(cache.as_str()));
    response
}

/// MusicBrainz's error document in `format`.
fn error_body(format: Format, message: &str) -> (&'static str, Bytes) {
    match format {
        Format::Txt => (format.content_type(), Bytes::from(message.to_owned())),
        Format::Json => (
            format.content_type(),
            serde_json::json!({ "error": message, "help": ws2::USAGE })
                .to_string()
                .into(),
        ),
        Format::Xml => (format.content_type(), xml::error(message).into()),
    }
}
