//! Forwarding a client's request to MusicBrainz unchanged, for what only
//! MusicBrainz can answer: anything carrying a user's credentials or asking
//! for per-user data, every request but GET, and Picard 2's OAuth login
//! under `/oauth2/`. Nothing forwarded is cached. Each request still passes
//! the [`RateGate`] on the interactive lane, so forwarded requests count
//! against the one budget all workers share.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName};

use crate::client::FetchError;
use crate::ratelimit::RateGate;
use musicmeta_shared::config::MusicBrainzConfig;
use musicmeta_shared::jobs::Lane;

/// Headers that belong to one connection, not to the request (RFC 9110
/// §7.6.1), and those the HTTP client sets itself.
const NOT_FORWARDED: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    // The client decompresses; what is relayed is the plain body.
    "accept-encoding",
];

/// What MusicBrainz answered a forwarded request.
#[derive(Debug)]
pub struct Forwarded {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug)]
pub struct Forwarder {
    http: reqwest::Client,
    /// `https://musicbrainz.org/ws/2`, without a trailing slash.
    base_url: String,
    /// `https://musicbrainz.org`: where `/oauth2/` lives.
    origin: String,
    gate: RateGate,
}

impl Forwarder {
    pub fn new(config: &MusicBrainzConfig, gate: RateGate) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // The client follows redirects itself, to wherever they point.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let origin = base_url
            .strip_suffix("/ws/2")
            .unwrap_or(&base_url)
            .to_owned();
        Ok(Self {
            http,
            base_url,
            origin,
            gate,
        })
    }

    /// Sends `method path_and_query` (the client's path, `/ws/2/…` or
    /// `/oauth2/…`, and query, byte for byte: Digest signs the URI) with the
    /// client's headers and body, and returns MusicBrainz's answer as is.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Forwarded, FetchError> {
        let url = match path_and_query.strip_prefix("/ws/2") {
            Some(rest) => format!("{}{rest}", self.base_url),
            None => format!("{}{path_and_query}", self.origin),
        };
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| FetchError::Method(method.to_owned()))?;
        let mut forwarded = HeaderMap::new();
        for (name, value) in headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                forwarded.append(name.clone(), value.clone());
            }
        }
        self.gate.admit(Lane::Interactive).await;
        let response = self
            .http
            .request(method, url)
            .headers(forwarded)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            if !is_relayed(name) {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        let body = response.bytes().await?;
        Ok(Forwarded {
            status,
            headers,
            body,
        })
    }
}

/// Response headers relayed to the client: all but the connection's own
/// and the body's framing (the body is relayed decompressed and whole).
fn is_relayed(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "content-encoding"
            | "trailer"
            | "upgrade"
    )
}
