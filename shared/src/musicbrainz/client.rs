//! The MusicBrainz ws/2 HTTP client used by the worker.
//!
//! One request per entity: `inc=` asks for the nested data in the same call
//! (a release comes with its media, tracks, recordings, credits, labels and
//! release group). Every request waits for the governor rate limiter; a 503
//! pauses *all* requests of this client for `Retry-After` (or an exponential
//! backoff) before the request is tried again, up to `max_attempts`.
//! Redirects are not followed blindly: a 301 for a merged MBID is reported
//! as the surviving entity, which the caller records as a redirect.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, RETRY_AFTER};
use tracing::{debug, warn};

use super::model::{ParseError, parse_entity};
use crate::config::MusicBrainzConfig;
use crate::domain::Entity;
use crate::mbid::{EntityType, Mbid};

/// Upper bound on a single slow-down, whatever Retry-After says.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// What MusicBrainz said about an MBID.
// One per job, moved once or twice: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// The entity and the raw response. Its MBID differs from the requested
    /// one when MusicBrainz redirected a merged MBID.
    Found {
        entity: Entity,
        raw: serde_json::Value,
    },
    NotFound,
}

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
}

impl FetchError {
    /// Permanent errors will fail the same way if retried: the job is
    /// dead-lettered. Everything else is handed back to the queue.
    pub fn is_permanent(&self) -> bool {
        match self {
            FetchError::Parse(_) | FetchError::BadRedirect(_) => true,
            FetchError::Status { status, .. } => (400..500).contains(status),
            FetchError::RateLimited { .. } | FetchError::Transport(_) => false,
        }
    }
}

#[derive(Debug)]
pub struct MusicBrainzClient {
    http: reqwest::Client,
    base_url: String,
    limiter: DefaultDirectRateLimiter,
    /// Set by a 503; every request waits until then.
    paused_until: Mutex<Option<Instant>>,
    max_attempts: u32,
}

/// The `inc=` that gives each entity type its nested data in one request.
pub fn includes(entity_type: EntityType) -> &'static str {
    match entity_type {
        EntityType::Artist => "aliases+tags+genres+url-rels",
        EntityType::ReleaseGroup => "artist-credits+releases+aliases+tags+genres+url-rels",
        EntityType::Release => {
            "artist-credits+labels+recordings+release-groups+media+isrcs+aliases+tags+genres+url-rels"
        }
        EntityType::Recording => "artist-credits+isrcs+aliases+tags+genres+url-rels",
        EntityType::Label => "aliases+tags+genres+url-rels",
    }
}

impl MusicBrainzClient {
    pub fn new(config: &MusicBrainzConfig) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        // A burst of one: requests are spaced evenly, never bunched.
        let period = Duration::from_secs_f64(1.0 / config.requests_per_second);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            limiter: RateLimiter::direct(quota),
            paused_until: Mutex::new(None),
            max_attempts: config.max_attempts,
        })
    }

    /// Looks up one entity with its nested data.
    #[tracing::instrument(skip(self), fields(entity_type = %entity_type, mbid = %mbid))]
    pub async fn fetch(
        &self,
        entity_type: EntityType,
        mbid: Mbid,
    ) -> Result<FetchOutcome, FetchError> {
        let url = self.lookup_url(entity_type, mbid);
        match self.get(&url).await? {
            Response::Body(body) => decode(entity_type, &body).map(found),
            Response::NotFound => Ok(FetchOutcome::NotFound),
            Response::Redirect { location, body } => {
                // MusicBrainz sends the surviving entity in the body; follow
                // Location only when that body is not usable.
                if let Ok(parsed) = decode(entity_type, &body) {
                    return Ok(found(parsed));
                }
                let target = redirect_target(entity_type, &location)
                    .ok_or_else(|| FetchError::BadRedirect(location.clone()))?;
                let url = self.lookup_url(entity_type, target);
                match self.get(&url).await? {
                    Response::Body(body) => decode(entity_type, &body).map(found),
                    Response::NotFound => Ok(FetchOutcome::NotFound),
                    Response::Redirect { location, .. } => Err(FetchError::BadRedirect(location)),
                }
            }
        }
    }

    /// `.../release/<mbid>?inc=a+b&fmt=json`; MusicBrainz documents `+` as
    /// the `inc` separator, so it is written literally.
    fn lookup_url(&self, entity_type: EntityType, mbid: Mbid) -> String {
        format!(
            "{}/{entity_type}/{mbid}?inc={}&fmt=json",
            self.base_url,
            includes(entity_type)
        )
    }

    async fn get(&self, url: &str) -> Result<Response, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_turn().await;
            let response = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let response = match response {
                Ok(r) => r,
                Err(e) if attempt < self.max_attempts => {
                    warn!(error = %e, attempt, "musicbrainz request failed; retrying");
                    self.pause(backoff(attempt));
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
                self.pause(wait);
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
                let body = response.bytes().await?.to_vec();
                return Ok(Response::Redirect { location, body });
            }
            if status.is_server_error() && attempt < self.max_attempts {
                warn!(
                    status = status.as_u16(),
                    attempt, "musicbrainz server error; retrying"
                );
                self.pause(backoff(attempt));
                continue;
            }
            let body = response.bytes().await?.to_vec();
            if !status.is_success() {
                let body = String::from_utf8_lossy(&body).chars().take(200).collect();
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    body,
                });
            }
            return Ok(Response::Body(body));
        }
    }

    /// Waits out any pause a 503 set, then for the rate limiter.
    async fn wait_for_turn(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
    }

    fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_PAUSE);
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|t| t < until) {
            *paused = Some(until);
        }
    }
}

enum Response {
    Body(Vec<u8>),
    NotFound,
    Redirect { location: String, body: Vec<u8> },
}

fn decode(entity_type: EntityType, body: &[u8]) -> Result<(Entity, serde_json::Value), FetchError> {
    let entity = parse_entity(entity_type, body)?;
    // parse_entity accepted it, so it is JSON.
    let raw = serde_json::from_slice(body).map_err(|e| FetchError::Parse(ParseError::Json(e)))?;
    Ok((entity, raw))
}

fn found((entity, raw): (Entity, serde_json::Value)) -> FetchOutcome {
    FetchOutcome::Found { entity, raw }
}

/// `Retry-After` in seconds (MusicBrainz sends seconds).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6)))
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
    }
}
