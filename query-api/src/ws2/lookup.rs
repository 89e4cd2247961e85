//! Where a ws/2 answer comes from, and waiting for it to be filled.
//!
//! - A lookup of a typed entity (artist, release group, release,
//!   recording, label) that its superset document can answer is cut from
//!   that document, which the entity's row holds; merged MBIDs, remembered
//!   404s, freshness and the fetch request are the gRPC lookups' own
//!   (`resolve_redirects`, `CacheConfig::is_fresh`, `FetchRequests`), so
//!   both front doors share one fill and one copy.
//! - A lookup of another type that its superset can answer is cut from the
//!   superset document stored in `ws2_document`.
//! - Anything else is the document MusicBrainz gave for exactly this
//!   request, stored under the request's canonical key.
//!
//! Each rendering (inc= and format) of a document is kept in the hot tier
//! as ready bytes; a fill notification voids all of a document's
//! renderings. A miss asks for one fetch on the interactive lane and waits
//! for its notification up to `http.miss_wait_ms`; then it answers 503
//! with a `Retry-After` estimated from the fetches already waiting, and the
//! fill goes on, so the retry finds it.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri};
use musicmeta_musicbrainz::ws2::{self, Format, IncSet, Kind, Request, Resource};
use musicmeta_shared::config::DocumentKind;
use musicmeta_shared::db::redirects::{Resolved, resolve_redirects};
use musicmeta_shared::db::{self, DbError, DocumentRepository, documents, outcome};
use musicmeta_shared::fetch_requests::{Request as FetchRequest, Requested};
use musicmeta_shared::jobs::{DocumentJob, FetchJob, Lane, document_id};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_shared::notify::Filled;
use opentelemetry::context::FutureExt as _;
use tokio::sync::broadcast;
use tracing::{Instrument, warn};

use super::Ws2Api;
use super::render;
use super::reply::{Cache, Reply};
use crate::error::ApiError;
use crate::fills::{self, FillEvent};
use crate::hot::{HotEntry, HotKey};

/// What a request whose document failed to fill for good is told (the
/// entity lookups' words, from the error table).
const FAILED_DOCUMENT: &str = concat!(
    "musicbrainz's answer to this request could not be read; ",
    "it is not asked for again for a while, retry later"
);

/// What the answer depends on besides the request: for a redirect's
/// Location, the API's own address as the client used it.
pub(super) struct Context<'a> {
    pub headers: &'a HeaderMap,
    pub uri: &'a Uri,
    pub tls: bool,
}

/// Answers a request that is the cache's to answer.
pub(super) async fn answer(api: &Ws2Api, request: &Request, cx: &Context<'_>) -> Reply {
    let result = if ws2::derivable(request) {
        match request.resource.entity_type() {
            Some(entity_type) => typed(api, entity_type, request, cx).await,
            None => superset_document(api, request, cx).await,
        }
    } else {
        document(api, request, &stored_as_json(request), None, cx).await
    };
    result.unwrap_or_else(|error| {
        Reply::error(request.format, error.http_status(), error.client_message())
    })
}

/// A typed entity's lookup, cut from the superset document in its row.
async fn typed(
    api: &Ws2Api,
    entity_type: EntityType,
    request: &Request,
    cx: &Context<'_>,
) -> Result<Reply, ApiError> {
    let inner = &api.inner;
    let requested = lookup_mbid(request)?;
    let variant = variant(request);
    let rendering = |mbid| HotKey::Rendering {
        document: Filled::Entity(entity_type, mbid),
        variant: variant.clone(),
    };
    if let Some(entry) = inner.hot.get(&rendering(requested)) {
        return Ok(typed_answer(
            api,
            entity_type,
            requested,
            requested,
            entry,
            false,
            request,
            cx,
        ));
    }
    let mut wait = Wait::new(api);
    let mut asked = false;
    loop {
        let resolved = resolve_redirects(&inner.store, &inner.cache, entity_type, requested, |m| {
            load_typed(api, entity_type, m, request, rendering(m))
        })
        .await?;
        let (mbid, outdated) = match resolved {
            Resolved::Found {
                value: Loaded::Entry(entry),
                mbid,
            } => {
                return Ok(typed_answer(
                    api,
                    entity_type,
                    mbid,
                    requested,
                    entry,
                    asked,
                    request,
                    cx,
                ));
            }
            // Still too narrow after the refetch this request asked for was
            // heard of: every fill stores the superset, so the refetch failed
            // for good (the stored row was kept, and nothing remembered).
            Resolved::Found {
                value: Loaded::Outdated,
                mbid,
            } if asked => {
                return Ok(Reply::failed(
                    request.format,
                    &ApiError::UpstreamFailed(entity_type, mbid).client_message(),
                    Cache::Miss,
                ));
            }
            Resolved::Found {
                value: Loaded::Outdated,
                mbid,
            } => (mbid, true),
            Resolved::Found {
                value: Loaded::Unrenderable,
                ..
            } => {
                return Ok(Reply::failed(
                    request.format,
                    FAILED_DOCUMENT,
                    cache_of(asked, true),
                ));
            }
            Resolved::NotFound(_) => {
                return Ok(Reply::not_found(request.format, cache_of(asked, true)));
            }
            Resolved::Failed(mbid) => {
                return Ok(Reply::failed(
                    request.format,
                    &ApiError::UpstreamFailed(entity_type, mbid).client_message(),
                    cache_of(asked, true),
                ));
            }
            Resolved::Unknown(mbid) => (mbid, false),
        };
        if !asked {
            // A row whose document cannot answer this inc= (fetched before
            // the superset, or with a narrower one) is fetched again.
            let mut job = FetchJob::new(entity_type, mbid);
            if outdated {
                job = job.forced();
            }
            let outcome = inner
                .requests
                .request(FetchRequest::fetch(job, Lane::Interactive))
                .await?;
            if outcome == Requested::Staged {
                return Ok(Reply::not_yet(request.format, api.retry_after().await));
            }
            asked = true;
        }
        if !wait.for_fill(Filled::Entity(entity_type, mbid)).await {
            return Ok(Reply::not_yet(request.format, api.retry_after().await));
        }
    }
}

/// What a probe of a typed entity's row found.
enum Loaded {
    Entry(HotEntry),
    /// A fetched row whose document does not hold what the request asks.
    Outdated,
    /// A stored document that cannot be written as the request asks.
    Unrenderable,
}

async fn load_typed(
    api: &Ws2Api,
    entity_type: EntityType,
    mbid: Mbid,
    request: &Request,
    key: HotKey,
) -> Result<Option<Loaded>, DbError> {
    let inner = &api.inner;
    if let Some(entry) = inner.hot.get(&key) {
        return Ok(Some(Loaded::Entry(entry)));
    }
    let ticket = inner.hot.ticket(&key);
    let Some(stored) = inner.store.find_entity_document(entity_type, mbid).await? else {
        return Ok(None);
    };
    let covers = stored
        .inc
        .as_deref()
        .is_some_and(|inc| request.inc.is_subset(&IncSet::from_canonical(inc)));
    if !covers {
        return Ok(Some(Loaded::Outdated));
    }
    let Some(entry) = rendered(
        stored.body,
        request,
        Some(&request.inc),
        stored.fetched_at,
        &mbid.to_string(),
    ) else {
        return Ok(Some(Loaded::Unrenderable));
    };
    inner.hot.insert(ticket, key, &entry);
    Ok(Some(Loaded::Entry(entry)))
}

#[allow(clippy::too_many_arguments)]
fn typed_answer(
    api: &Ws2Api,
    entity_type: EntityType,
    mbid: Mbid,
    requested: Mbid,
    entry: HotEntry,
    filled: bool,
    request: &Request,
    cx: &Context<'_>,
) -> Reply {
    let fresh = api.inner.cache.is_fresh(entity_type, entry.fetched_at);
    if !fresh {
        api.refresh(FetchRequest::fetch(
            FetchJob::new(entity_type, mbid),
            Lane::Refresh,
        ));
    }
    let cache = cache_of(filled, fresh);
    if mbid == requested {
        return Reply::Document {
            entry,
            cache,
            format: request.format,
        };
    }
    Reply::Moved {
        location: location(api, cx, request.resource, mbid),
        entry,
        cache,
        format: request.format,
    }
}

/// A lookup of a type without typed tables, cut from its superset
/// document.
async fn superset_document(
    api: &Ws2Api,
    request: &Request,
    cx: &Context<'_>,
) -> Result<Reply, ApiError> {
    let Some(superset) = ws2::superset(request.resource) else {
        return document(api, request, &stored_as_json(request), None, cx).await;
    };
    let whole = Request {
        inc: superset,
        params: Default::default(),
        ..stored_as_json(request)
    };
    document(api, request, &whole, Some(&request.inc), cx).await
}

/// The answer `request` gets from the document MusicBrainz gave for
/// `stored` (the request itself, or its superset), cut down to `project`
/// when given.
async fn document(
    api: &Ws2Api,
    request: &Request,
    stored: &Request,
    project: Option<&IncSet>,
    cx: &Context<'_>,
) -> Result<Reply, ApiError> {
    let inner = &api.inner;
    let key = stored.key();
    let filled = Filled::Document(document_id(&key));
    let rendering = HotKey::Rendering {
        document: filled,
        variant: variant(request),
    };
    let kind = match stored.kind {
        Kind::Search { .. } => DocumentKind::Search,
        _ => DocumentKind::Other,
    };
    let mut wait = Wait::new(api);
    let mut asked = false;
    loop {
        if let Some(entry) = inner.hot.get(&rendering) {
            let fresh = inner.cache.is_document_fresh(kind, 200, entry.fetched_at);
            if !fresh {
                api.refresh_document(stored, &key);
            }
            return Ok(Reply::Document {
                entry,
                cache: cache_of(asked, fresh),
                format: request.format,
            });
        }
        let ticket = inner.hot.ticket(&rendering);
        let found =
            inner.store.find_document(&key).await?.filter(|d| {
                d.status != 404 || inner.cache.is_document_fresh(kind, 404, d.fetched_at)
            });
        if let Some(doc) = found {
            let fresh = inner
                .cache
                .is_document_fresh(kind, doc.status, doc.fetched_at);
            if !fresh {
                api.refresh_document(stored, &key);
            }
            let cache = cache_of(asked, fresh);
            let status = doc.status;
            let fetched_at = doc.fetched_at;
            let render = || rendered(doc.body, request, project, fetched_at, &key);
            return Ok(match status {
                200 => match render() {
                    Some(entry) => {
                        inner.hot.insert(ticket, rendering, &entry);
                        Reply::Document {
                            entry,
                            cache,
                            format: request.format,
                        }
                    }
                    None => Reply::failed(request.format, FAILED_DOCUMENT, cache),
                },
                404 => Reply::not_found(request.format, cache),
                301 => {
                    let moved_to = doc
                        .location
                        .as_deref()
                        .and_then(last_segment)
                        .unwrap_or_default()
                        .to_owned();
                    // The body of a redirect is only a courtesy: one that
                    // does not render is left out, the Location is what
                    // clients follow.
                    let entry = render().unwrap_or_else(|| render::empty(fetched_at));
                    Reply::Moved {
                        location: location_of(api, cx, request.resource, &moved_to),
                        entry,
                        cache,
                        format: request.format,
                    }
                }
                documents::FAILED => Reply::failed(request.format, FAILED_DOCUMENT, cache),
                status => {
                    Reply::error(request.format, status, "MusicBrainz answered with an error")
                }
            });
        }
        if !asked {
            let job = DocumentJob::new(stored.upstream());
            let outcome = inner
                .requests
                .request(FetchRequest::document(job, &key, Lane::Interactive))
                .await?;
            if outcome == Requested::Staged {
                return Ok(Reply::not_yet(request.format, api.retry_after().await));
            }
            asked = true;
        }
        if !wait.for_fill(filled).await {
            return Ok(Reply::not_yet(request.format, api.retry_after().await));
        }
    }
}

/// What is stored for `request`: MusicBrainz's JSON answer to it, whatever
/// format the client asked for (the key leaves the format out).
fn stored_as_json(request: &Request) -> Request {
    Request {
        format: Format::Json,
        credentials_in_query: false,
        ..request.clone()
    }
}

/// A stored document as `request` gets it; `None`, logged, when it cannot
/// be written so (its JSON is not what MusicBrainz answers to the request:
/// a hand edit, or MusicBrainz changed its JSON). The client is told that
/// MusicBrainz's answer could not be read (502), not that the database is
/// down.
fn rendered(
    body: String,
    request: &Request,
    project: Option<&IncSet>,
    fetched_at: std::time::SystemTime,
    what: &str,
) -> Option<HotEntry> {
    render::rendered(body, request, project, fetched_at)
        .inspect_err(|error| warn!(%error, document = what, format = request.format.as_fmt(), "stored document cannot be rendered"))
        .ok()
}

/// The MBID of a lookup request (the grammar has checked it).
fn lookup_mbid(request: &Request) -> Result<Mbid, ApiError> {
    match &request.kind {
        Kind::Lookup { id } => {
            Mbid::parse(id).map_err(|_| ApiError::InvalidArgument("Invalid mbid.".into()))
        }
        _ => Err(ApiError::InvalidArgument("not a lookup".into())),
    }
}

/// The rendering a request asks for: its inc= and format.
fn variant(request: &Request) -> std::sync::Arc<str> {
    std::sync::Arc::from(format!(
        "{}|{}",
        request.inc.as_query(),
        request.format.as_fmt()
    ))
}

fn cache_of(filled: bool, fresh: bool) -> Cache {
    match (filled, fresh) {
        (true, _) => Cache::Miss,
        (false, true) => Cache::Hit,
        (false, false) => Cache::Stale,
    }
}

/// The surviving entity's URL at this API, with the client's own query, so
/// a client following the redirect stays on the cache.
fn location(api: &Ws2Api, cx: &Context<'_>, resource: Resource, mbid: Mbid) -> String {
    location_of(api, cx, resource, &mbid.to_string())
}

fn location_of(api: &Ws2Api, cx: &Context<'_>, resource: Resource, id: &str) -> String {
    let base = match &api.inner.http.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = cx
                .headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if cx.tls { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    let query = cx.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    format!("{base}/ws/2/{}/{id}{query}", resource.as_str())
}

/// The last path segment of a URL (the MBID a 301 points at).
fn last_segment(url: &str) -> Option<&str> {
    url.split(['?', '#'])
        .next()?
        .trim_end_matches('/')
        .rsplit('/')
        .next()
}

/// A request's wait for fills, bounded by `http.miss_wait_ms` in all.
struct Wait {
    fills: broadcast::Receiver<FillEvent>,
    started: Instant,
    budget: Duration,
}

impl Wait {
    /// Subscribes now, before the first read, so a fill that lands after
    /// the read is heard.
    fn new(api: &Ws2Api) -> Self {
        Self {
            fills: api.inner.fills.subscribe(),
            started: Instant::now(),
            budget: api.inner.http.miss_wait(),
        }
    }

    /// Waits for `filled` (or a resync); false when the wait is over.
    async fn for_fill(&mut self, filled: Filled) -> bool {
        let Some(left) = self.budget.checked_sub(self.started.elapsed()) else {
            return false;
        };
        tokio::time::timeout(left, fills::wait_for(&mut self.fills, filled))
            .await
            .is_ok()
    }
}

impl Ws2Api {
    /// Asks for `request` in the background (a stale answer was given), in
    /// the request's span and trace.
    fn refresh(&self, request: FetchRequest) {
        let requests = self.inner.requests.clone();
        tokio::spawn(
            async move {
                if let Err(error) = requests.request(request).await {
                    warn!(%error, "could not ask for a refresh");
                }
            }
            .in_current_span()
            .with_current_context(),
        );
    }

    fn refresh_document(&self, stored: &Request, key: &str) {
        let job = DocumentJob::new(stored.upstream()).forced();
        self.refresh(FetchRequest::document(job, key, Lane::Refresh));
    }

    /// When a fill asked for now will likely be done: the fetches already
    /// waiting, spaced by the upstream rate, kept within the windows in
    /// which Picard (about 31 s) and musicbrainzngs (about 56 s) retry
    /// without reading `Retry-After`.
    async fn retry_after(&self) -> Duration {
        let inner = &self.inner;
        let reask_after = inner.cache.reask_after();
        // Only an estimate: without the database, one fetch is assumed.
        let waiting = db::with_client(inner.store.pool(), |client| async move {
            outcome::pending_fetches(&client, reask_after).await
        })
        .await
        .unwrap_or(1);
        let spacing = if inner.upstream_rate > 0.0 {
            1.0 / inner.upstream_rate
        } else {
            0.1
        };
        Duration::from_secs_f64((waiting.max(1) as f64 * spacing).clamp(1.0, 20.0))
    }
}
