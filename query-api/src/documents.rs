//! Typed answers from stored ws/2 documents: works (which have no typed
//! tables) and lookups by identifier (ISRC, ISWC, disc ID, barcode, URL).
//!
//! Each names a ws/2 request, read with the same grammar as the HTTP API
//! (so an identifier is validated exactly as MusicBrainz validates it) and
//! stored under the request's key by the same document jobs: a miss asks
//! for one fetch on the interactive lane (concurrent callers, gRPC or
//! HTTP, share it) and waits for its fill notification; a stale answer is
//! served and refreshed in the background; a 404 is remembered for the
//! negative TTL and a failed fill for `cache.failure_ttl_secs`. The caller
//! turns the body into protobuf with the `musicbrainz` model.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use musicmeta_musicbrainz::model::ParseError;
use musicmeta_musicbrainz::ws2::{self, Kind, Request, Resource};
use musicmeta_proto::v1 as pb;
use musicmeta_shared::config::{CacheConfig, DocumentKind};
use musicmeta_shared::db::{DocumentRepository, PgStore, documents};
use musicmeta_shared::fetch_requests::{FetchRequests, Request as FetchRequest, Requested};
use musicmeta_shared::jobs::{DocumentJob, Lane, document_id};
use musicmeta_shared::notify::Filled;
use tracing::warn;

use crate::error::ApiError;
use crate::fills::{self, Fills};

/// A stored answer that can be served.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    /// Its `redirected_from` is for the caller to fill (see `moved`).
    pub cache: pb::CacheInfo,
    /// MusicBrainz answered with a merged entity's survivor (301).
    pub moved: bool,
}

#[derive(Clone)]
pub struct DocumentLookups {
    inner: Arc<Inner>,
}

struct Inner {
    store: PgStore,
    requests: FetchRequests,
    fills: Fills,
    cache: CacheConfig,
}

impl std::fmt::Debug for DocumentLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocumentLookups")
    }
}

impl DocumentLookups {
    pub fn new(store: PgStore, requests: FetchRequests, fills: Fills, cache: CacheConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                requests,
                fills,
                cache,
            }),
        }
    }

    /// The ws/2 request `path?query`, validated as MusicBrainz would; its
    /// error message is MusicBrainz's.
    pub fn request(path: &str, query: Option<&str>) -> Result<Request, ApiError> {
        Request::parse(path, query, Some("application/json"))
            .map_err(|e| ApiError::InvalidArgument(e.message))
    }

    /// A lookup of `resource` by MBID, as the document the HTTP API keeps
    /// for it: fetched once with the resource's superset inc.
    pub fn superset(resource: Resource, mbid: &str) -> Result<Request, ApiError> {
        let request = Self::request(&format!("{}/{mbid}", resource.as_str()), None)?;
        Ok(match ws2::superset(resource) {
            Some(inc) => Request {
                inc,
                params: Default::default(),
                ..request
            },
            None => request,
        })
    }

    /// The stored answer to `request`, fetching it first on a miss and
    /// waiting for the fill within `miss_wait` (cut to 90 % of the caller's
    /// deadline). `what` names it in errors ("isrc USSUB0200002").
    pub async fn get(
        &self,
        request: &Request,
        what: &str,
        deadline: Option<Duration>,
    ) -> Result<Fetched, ApiError> {
        let inner = &self.inner;
        let key = request.key();
        let kind = match request.kind {
            Kind::Search { .. } => DocumentKind::Search,
            _ => DocumentKind::Other,
        };
        let started = Instant::now();
        let budget = deadline.map_or(inner.cache.miss_wait(), |d| {
            d.saturating_sub(d / 10).min(inner.cache.miss_wait())
        });
        // Subscribed before the first read, so a fill after it is heard.
        let mut fills = inner.fills.subscribe();
        let mut asked = false;
        loop {
            if let Some(doc) = inner.store.find_document(&key).await? {
                let fresh = inner
                    .cache
                    .is_document_fresh(kind, doc.status, doc.fetched_at);
                match doc.status {
                    404 if fresh => return Err(ApiError::NoDocument(what.to_owned())),
                    documents::FAILED if fresh => {
                        return Err(ApiError::DocumentFailed(what.to_owned()));
                    }
                    // A merged MBID's document holds the surviving entity.
                    200 | 301 => {
                        if !fresh {
                            self.refresh(request, &key);
                        }
                        return Ok(Fetched {
                            body: doc.body,
                            cache: cache_info(fresh, doc.fetched_at),
                            moved: doc.status == 301,
                        });
                    }
                    // An old 404 or failure is asked again, as a miss.
                    404 | documents::FAILED => {}
                    // MusicBrainz refused the request itself (a 400 our
                    // grammar let through): asking again changes nothing.
                    status @ 400..=499 => {
                        return Err(ApiError::InvalidArgument(format!(
                            "musicbrainz refused the lookup of {what} (HTTP {status})"
                        )));
                    }
                    _ => return Err(ApiError::DocumentFailed(what.to_owned())),
                }
            }
            if !asked {
                // A stale 404 or failure is not fresh, so the worker asks again.
                let job = DocumentJob::new(request.upstream());
                match inner
                    .requests
                    .request(FetchRequest::document(job, &key, Lane::Interactive))
                    .await?
                {
                    Requested::Staged => return Err(ApiError::BrokerDown),
                    Requested::Queued | Requested::AlreadyPending => {}
                }
                asked = true;
            }
            let Some(left) = budget.checked_sub(started.elapsed()) else {
                return Err(ApiError::DocumentQueued(what.to_owned()));
            };
            let filled = Filled::Document(document_id(&key));
            if tokio::time::timeout(left, fills::wait_for(&mut fills, filled))
                .await
                .is_err()
            {
                return Err(ApiError::DocumentQueued(what.to_owned()));
            }
        }
    }

    fn refresh(&self, request: &Request, key: &str) {
        let job = DocumentJob::new(request.upstream()).forced();
        let request = FetchRequest::document(job, key, Lane::Refresh);
        let requests = self.inner.requests.clone();
        tokio::spawn(async move {
            if let Err(error) = requests.request(request).await {
                warn!(%error, "could not ask for a refresh");
            }
        });
    }
}

fn cache_info(fresh: bool, fetched_at: SystemTime) -> pb::CacheInfo {
    pb::CacheInfo {
        freshness: if fresh {
            pb::Freshness::Fresh
        } else {
            pb::Freshness::Stale
        } as i32,
        fetched_at: Some(prost_types::Timestamp::from(fetched_at)),
        redirected_from: None,
    }
}

/// A stored document that does not read as its kind is MusicBrainz's fault
/// (or a hand edit): the caller is told it could not be read.
pub fn read<T>(
    what: &str,
    body: &str,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, ApiError> {
    parse(body.as_bytes()).map_err(|error| {
        warn!(%error, what, "stored document does not read as its kind");
        ApiError::DocumentFailed(what.to_owned())
    })
}
