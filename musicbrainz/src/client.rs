//! The MusicBrainz ws/2 HTTP client used by the worker.
//!
//! One request per entity: `inc=` asks for the nested data in the same call
//! (a release comes with its media, tracks, recordings, credits, labels and
//! release group). Lists (an artist's release groups) are paged through with
//! browse requests. Every request first passes the [`RateGate`] in its
//! priority lane; a 503 slows the gate down for `Retry-After` (or an
//! exponential backoff) before the request is tried again, up to
//! `max_attempts`.
//! Redirects are not followed blindly: a 301 for a merged MBID is reported
//! as the surviving entity, which the caller records as a redirect.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{LOCATION, RETRY_AFTER};
use tracing::{debug, warn};

use super::model::{BrowsePage, ParseError, parse_browse, parse_entity};
use crate::includes;
use crate::ratelimit::RateGate;
use musicmeta_shared::config::MusicBrainzConfig;
use musicmeta_shared::db::documents::DocumentAnswer;
use musicmeta_shared::domain::{Document, FetchOutcome};
use musicmeta_shared::jobs::Lane;
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::prometheus::names;

/// Items per browse page; MusicBrainz's maximum.
pub const BROWSE_LIMIT: u32 = 100;

/// MusicBrainz's 404 body: the client's 404 carries no body we keep.
pub const NOT_FOUND_BODY: &str = r#"{"error":"Not Found","help":"For usage, please see: https://musicbrainz.org/development/mmd"}"#;

/// Upper bound on a single slow-down, whatever Retry-After says.
const MAX_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("musicbrainz kept answering 503 after {attempts} attempts")]
    RateLimited { attempts: u32 },
    #[error("request to musicbrainz failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("musicbrainz answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("musicbrainz response could not be used: {0}")]
    Parse(#[from] ParseError),
    #[error("musicbrainz redirected to {0:?}, which is not a lookup of the same type")]
    BadRedirect(String),
    #[error("{0:?} is not an HTTP method")]
    Method(String),
    /// The body is larger than `musicbrainz.max_body_bytes`; `size` is its
    /// Content-Length when it declared one, else what was read before
    /// stopping.
    #[error(
        "musicbrainz answered a body of {size} bytes or more, over musicbrainz.max_body_bytes \
         ({limit} bytes)"
    )]
    BodyTooLarge { size: u64, limit: u64 },
}

impl FetchError {
    /// Permanent errors will fail the same way if retried: the job is
    /// dead-lettered. Everything else is handed back to the queue.
    pub fn is_permanent(&self) -> bool {
        match self {
            FetchError::Parse(_)
            | FetchError::BadRedirect(_)
            | FetchError::Method(_)
            | FetchError::BodyTooLarge { .. } => true,
            FetchError::Status { status, .. } => (400..500).contains(status),
            FetchError::RateLimited { .. } | FetchError::Transport(_) => false,
        }
    }
}

#[derive(Debug)]
pub struct MusicBrainzClient {
    http: reqwest::Client,
    base_url: String,
    gate: RateGate,
    max_attempts: u32,
    max_body_bytes: u64,
}

impl MusicBrainzClient {
    /// A client whose requests pass through `gate` (see [`RateGate`]).
    pub fn new(config: &MusicBrainzConfig, gate: RateGate) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            gate,
            max_attempts: config.max_attempts,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// One page of `item_type` entities linked to `by` (e.g. the release
    /// groups of an artist), starting at `offset`.
    #[tracing::instrument(skip(self), fields(item_type = %item_type, by_type = %by.0, by = %by.1, offset))]
    pub async fn browse(
        &self,
        item_type: EntityType,
        by: (EntityType, Mbid),
        offset: u32,
        lane: Lane,
    ) -> Result<Option<BrowsePage>, FetchError> {
        let url = format!(
            "{}/{item_type}?{}={}&limit={BROWSE_LIMIT}&offset={offset}&inc={}&fmt=json",
            self.base_url,
            by.0,
            by.1,
            includes::BROWSE
        );
        match self.get(&url, lane).await? {
            Response::Body(body) => Ok(Some(parse_browse(item_type, &body)?)),
            Response::NotFound => Ok(None),
            Response::Redirect { location, .. } => Err(FetchError::BadRedirect(location)),
        }
    }

    /// Looks up one entity with its nested data.
    #[tracing::instrument(skip(self), fields(entity_type = %entity_type, mbid = %mbid, %lane))]
    pub async fn fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
        lane: Lane,
    ) -> Result<FetchOutcome, FetchError> {
        let url = self.lookup_url(entity_type, mbid);
        match self.get(&url, lane).await? {
            Response::Body(body) => found(entity_type, body),
            Response::NotFound => Ok(FetchOutcome::NotFound),
            Response::Redirect { location, body } => {
                // MusicBrainz sends the surviving entity in the body; follow
                // Location only when that body is not usable.
                if let Ok(entity) = parse_entity(entity_type, &body) {
                    return Ok(FetchOutcome::Found {
                        entity,
                        document: Document::fetched_with(body, includes::lookup(entity_type)),
                    });
                }
                let target = redirect_target(entity_type, &location)
                    .ok_or_else(|| FetchError::BadRedirect(location.clone()))?;
                let url = self.lookup_url(entity_type, target);
                match self.get(&url, lane).await? {
                    Response::Body(body) => found(entity_type, body),
                    Response::NotFound => Ok(FetchOutcome::NotFound),
                    Response::Redirect { location, .. } => Err(FetchError::BadRedirect(location)),
                }
            }
        }
    }

    /// One ws/2 answer as MusicBrainz sends it, for the HTTP API: `upstream`
    /// is a ws/2 path and query (`release?artist=…&inc=labels&fmt=json`, from
    /// `ws2::Request::upstream`), asked of the configured MusicBrainz only.
    /// A 404 is an answer (remembered like an entity's); a 301 is kept with
    /// its Location; a body that is not JSON is a permanent failure.
    #[tracing::instrument(skip(self), fields(%lane))]
    pub async fn fetch_document(
        &self,
        upstream: &str,
        lane: Lane,
    ) -> Result<DocumentAnswer, FetchError> {
        let url = format!("{}/{upstream}", self.base_url);
        let (status, body, location) = match self.get(&url, lane).await? {
            Response::Body(body) => (200, body, None),
            Response::NotFound => (404, NOT_FOUND_BODY.as_bytes().to_vec(), None),
            Response::Redirect { location, body } => (301, body, Some(location)),
        };
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(ParseError::Json)?;
        Ok(DocumentAnswer {
            status,
            document: Document::new(body),
            location,
        })
    }

    /// `.../release/<mbid>?inc=a+b&fmt=json`; MusicBrainz documents `+` as
    /// the `inc` separator, so it is written literally.
    fn lookup_url(&self, entity_type: EntityType, mbid: Mbid) -> String {
        format!(
            "{}/{entity_type}/{mbid}?inc={}&fmt=json",
            self.base_url,
            includes::lookup(entity_type)
        )
    }

    async fn get(&self, url: &str, lane: Lane) -> Result<Response, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.gate.admit(lane).await;
            let sent = std::time::Instant::now();
            let response = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            metrics::histogram!(names::UPSTREAM_LATENCY).record(sent.elapsed().as_secs_f64());
            let status_label = match &response {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_owned(),
            };
            metrics::counter!(names::UPSTREAM_REQUESTS, "status" => status_label).increment(1);
            let response = match response {
                Ok(r) => r,
                Err(e) if attempt < self.max_attempts => {
                    warn!(error = %e, attempt, "musicbrainz request failed; retrying");
                    self.gate.slow_down(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let status = response.status();
            debug!(status = status.as_u16(), attempt, "musicbrainz answered");
            if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
            {
                let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
                warn!(
                    wait_ms = wait.as_millis() as u64,
                    attempt, "musicbrainz asked us to slow down"
                );
                self.gate.slow_down(wait.min(MAX_PAUSE)).await;
                if attempt < self.max_attempts {
                    continue;
                }
                return Err(FetchError::RateLimited { attempts: attempt });
            }
            if status == StatusCode::NOT_FOUND {
                return Ok(Response::NotFound);
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = read_body(response, self.max_body_bytes).await?;
                return Ok(Response::Redirect { location, body });
            }
            if status.is_server_error() && attempt < self.max_attempts {
                warn!(
                    status = status.as_u16(),
                    attempt, "musicbrainz server error; retrying"
                );
                self.gate.slow_down(backoff(attempt)).await;
                continue;
            }
            if !status.is_success() {
                // Only the start of an error page is kept for the reason.
                let body = read_prefix(response, 1024).await?;
                let body = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    body,
                });
            }
            return Ok(Response::Body(
                read_body(response, self.max_body_bytes).await?,
            ));
        }
    }
}

/// The whole body, refused once it is known to exceed `limit`: at once
/// when its Content-Length says so, else when the bytes read pass it (a
/// body without a length, or one whose length lied). Chunks are read one
/// at a time, so no more than `limit` plus one chunk is ever held.
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, FetchError> {
    if let Some(size) = response.content_length().filter(|&n| n > limit) {
        return Err(FetchError::BodyTooLarge { size, limit });
    }
    let expected = response.content_length().unwrap_or(0).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(FetchError::BodyTooLarge {
                size: body.len() as u64,
                limit,
            });
        }
    }
    Ok(body)
}

/// At least the first `n` bytes of the body (fewer if it is shorter); the
/// rest is not read.
async fn read_prefix(mut response: reqwest::Response, n: usize) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while body.len() < n {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    Ok(body)
}

enum Response {
    Body(Vec<u8>),
    NotFound,
    Redirect { location: String, body: Vec<u8> },
}

/// The entity, and the body kept as received for the `raw` column (parsed
/// once, by the model; parse_entity accepted it, so it is JSON).
fn found(entity_type: EntityType, body: Vec<u8>) -> Result<FetchOutcome, FetchError> {
    let entity = parse_entity(entity_type, &body)?;
    Ok(FetchOutcome::Found {
        entity,
        document: Document::fetched_with(body, includes::lookup(entity_type)),
    })
}

/// How long a 503/429 asks us to wait: `None` without a `Retry-After`
/// (the caller backs off by itself), else [`parse_retry_after`] of it.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?;
    Some(parse_retry_after(value.as_bytes(), SystemTime::now()))
}

/// A `Retry-After` value as a pause of at most [`MAX_PAUSE`], whatever it
/// holds; it never panics. RFC 9110 allows delay-seconds (MusicBrainz sends
/// those) or an HTTP date; decimals are accepted too. A date in the past is
/// no pause. Anything else — negative, NaN, infinite, larger than the cap
/// (`1e30` once panicked in `Duration::from_secs_f64`), not ASCII, not a
/// number or a date — is read as "slow down a lot": the cap. The server
/// asked us to wait, so an unreadable answer must not make us hurry.
pub(crate) fn parse_retry_after(value: &[u8], now: SystemTime) -> Duration {
    let Some(text) = std::str::from_utf8(value).ok().map(str::trim) else {
        return MAX_PAUSE;
    };
    if let Ok(secs) = text.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Duration::try_from_secs_f64(secs).map_or(MAX_PAUSE, |wait| wait.min(MAX_PAUSE))
        } else {
            MAX_PAUSE
        };
    }
    match httpdate::parse_http_date(text) {
        Ok(at) => at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_PAUSE),
        Err(_) => MAX_PAUSE,
    }
}

/// How long to hold back before attempt `attempt + 1`: "full jitter", a
/// random wait up to a ceiling that doubles per attempt (1 s, 2 s, … 32 s),
/// so workers that failed together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let ceiling = 500u64.saturating_mul(1 << attempt.min(6));
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

/// The MBID in a redirect's Location, when it points at the same resource type.
fn redirect_target(entity_type: EntityType, location: &str) -> Option<Mbid> {
    let path = location.split(['?', '#']).next()?;
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let id = segments.next()?;
    let kind = segments.next()?;
    (kind == entity_type.as_str())
        .then(|| Mbid::parse(id).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_target_reads_location() {
        let m = "5b11f4ce-a62d-471e-81fc-a69a8278c7da";
        assert_eq!(
            redirect_target(
                EntityType::Artist,
                &format!("https://musicbrainz.org/ws/2/artist/{m}?inc=x")
            ),
            Some(Mbid::parse(m).unwrap())
        );
        assert_eq!(
            redirect_target(EntityType::Release, &format!("/ws/2/artist/{m}")),
            None
        );
        assert_eq!(
            redirect_target(EntityType::Artist, "/ws/2/artist/nope"),
            None
        );
    }

    #[test]
    fn backoff_is_jittered_below_a_doubling_ceiling() {
        for attempt in 1..=8 {
            let ceiling = Duration::from_millis(500 << attempt.min(6));
            let waits: Vec<Duration> = (0..200).map(|_| backoff(attempt)).collect();
            assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}");
            let first = waits[0];
            assert!(
                waits.iter().any(|w| *w != first),
                "attempt {attempt}: 200 equal waits, no jitter"
            );
        }
    }

    /// A `Retry-After: 1e30` once panicked the job (issue 20): every value
    /// a server could send is a pause within the cap.
    #[test]
    fn retry_after_is_read_defensively() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |offset: i64| {
            httpdate::fmt_http_date(if offset >= 0 {
                now + Duration::from_secs(offset.unsigned_abs())
            } else {
                now - Duration::from_secs(offset.unsigned_abs())
            })
        };
        let cases: Vec<(String, Duration)> = vec![
            ("0".into(), Duration::ZERO),
            ("5".into(), Duration::from_secs(5)),
            (" 7 ".into(), Duration::from_secs(7)),
            ("1.5".into(), Duration::from_millis(1500)),
            ("60".into(), MAX_PAUSE),
            ("61".into(), MAX_PAUSE),
            ("1e30".into(), MAX_PAUSE),
            ("18446744073709551616".into(), MAX_PAUSE),
            ("1e309".into(), MAX_PAUSE),
            ("inf".into(), MAX_PAUSE),
            ("-1".into(), MAX_PAUSE),
            ("-0.5".into(), MAX_PAUSE),
            ("NaN".into(), MAX_PAUSE),
            ("".into(), MAX_PAUSE),
            ("soon".into(), MAX_PAUSE),
            ("Fri, 32 Foo 2024 99:99:99 GMT".into(), MAX_PAUSE),
            (at(10), Duration::from_secs(10)),
            (at(3600), MAX_PAUSE),
            (at(-10), Duration::ZERO),
        ];
        for (value, wait) in cases {
            assert_eq!(parse_retry_after(value.as_bytes(), now), wait, "{value:?}");
        }
        assert_eq!(parse_retry_after(b"\xff\xfe", now), MAX_PAUSE);
    }

    proptest::proptest! {
        /// Any bytes at any time: no panic, never above the cap.
        #[test]
        fn retry_after_never_panics_and_stays_within_the_cap(
            value in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            now_secs in 0u64..(1 << 40),
        ) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
            proptest::prop_assert!(parse_retry_after(&value, now) <= MAX_PAUSE);
        }

        /// Any number MusicBrainz could print, including the absurd: a
        /// non-negative finite one is itself up to the cap; the rest the cap.
        #[test]
        fn retry_after_seconds_are_clamped(secs in proptest::num::f64::ANY) {
            let now = SystemTime::UNIX_EPOCH;
            for text in [format!("{secs}"), format!("{secs:e}")] {
                let wait = parse_retry_after(text.as_bytes(), now);
                let expected = if secs.is_finite() && secs >= 0.0 {
                    Duration::try_from_secs_f64(secs.min(60.0)).unwrap_or(MAX_PAUSE)
                } else {
                    MAX_PAUSE
                };
                proptest::prop_assert_eq!(wait, expected, "{}", text);
            }
        }

        /// Any HTTP date: the time until it, within the cap; zero if past.
        #[test]
        fn retry_after_dates_are_clamped(now_secs in 0u64..(1 << 35), offset in -100_000i64..100_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
            let at = SystemTime::UNIX_EPOCH
                + Duration::from_secs(now_secs.saturating_add_signed(offset));
            let wait = parse_retry_after(httpdate::fmt_http_date(at).as_bytes(), now);
            let expected = Duration::from_secs(offset.max(0).unsigned_abs()).min(MAX_PAUSE);
            proptest::prop_assert_eq!(wait, expected);
        }
    }

    #[test]
    fn permanence() {
        assert!(
            FetchError::Status {
                status: 400,
                body: String::new()
            }
            .is_permanent()
        );
        assert!(
            !FetchError::Status {
                status: 502,
                body: String::new()
            }
            .is_permanent()
        );
        assert!(!FetchError::RateLimited { attempts: 5 }.is_permanent());
        assert!(
            FetchError::BodyTooLarge {
                size: 17,
                limit: 16
            }
            .is_permanent()
        );
    }
}
