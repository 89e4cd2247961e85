//! The MusicBrainz-compatible HTTP API: ws/2 as MusicBrainz serves it, so
//! Picard, beets, musicbrainzngs and every other MusicBrainz client use the
//! cache by changing the server's host and port (design:
//! docs/ws2/facade.md; what MusicBrainz does: docs/ws2/server-rules.md).
//!
//! Same process, cache, hot tier, fetch path and fill notifications as the
//! gRPC lookups. A request is read with the ws/2 grammar of the
//! `musicmeta-musicbrainz` crate (its errors are MusicBrainz's, word for
//! word), then:
//! - a lookup an entity's superset document can answer is cut from it
//!   ([`lookup`]): typed entities' documents live in their rows, the other
//!   types' in `ws2_document`;
//! - every other answer (browses, searches, disc IDs, lookups no superset
//!   covers) is the document MusicBrainz gave for exactly that request;
//! - what only MusicBrainz can answer for a user is forwarded ([`forward`]).
//!
//! Layout:
//! - [`lookup`]: where an answer comes from, and waiting for a fill.
//! - [`reply`]: the HTTP answers: headers, ETag and 304, errors, redirects.
//! - [`render`]: a stored document as the bytes a request gets, in JSON or
//!   in MusicBrainz's XML (written from the JSON by the grammar crate).
//! - [`forward`]: relaying to MusicBrainz, and the switch that refuses it.
//! - [`limit`]: the optional per-client request rate.

mod forward;
mod limit;
mod lookup;
mod render;
mod reply;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use musicmeta_musicbrainz::forward::Forwarder;
use musicmeta_musicbrainz::ws2::{self, Format, Request, Resource};
use musicmeta_shared::config::{CacheConfig, HttpConfig};
use musicmeta_shared::db::PgStore;
use musicmeta_shared::fetch_requests::FetchRequests;
use musicmeta_shared::prometheus::names;
use tokio::net::TcpListener;
use tracing::{Instrument, info_span};

use crate::fills::Fills;
use crate::hot::HotTier;
use reply::Reply;

/// URIs longer than this are refused (414) before anything reads them.
const MAX_URI_LEN: usize = 8 * 1024;

/// The HTTP API; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ws2Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: PgStore,
    requests: FetchRequests,
    fills: Fills,
    hot: HotTier,
    cache: CacheConfig,
    http: HttpConfig,
    /// Absent when `http.pass_through` is off.
    forwarder: Option<Forwarder>,
    limiter: Option<limit::ClientLimiter>,
    /// Upstream requests per second, for estimating when a fill is done.
    upstream_rate: f64,
    /// Set when `http.tls` is configured: the listener speaks only TLS.
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the API is built from.
#[derive(Debug)]
pub struct Parts {
    pub store: PgStore,
    pub requests: FetchRequests,
    pub fills: Fills,
    pub hot: HotTier,
    pub cache: CacheConfig,
    pub http: HttpConfig,
    pub forwarder: Option<Forwarder>,
    pub upstream_rate: f64,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Ws2Api {
    pub fn new(parts: Parts) -> Self {
        let limiter = parts
            .http
            .client_rate_limit
            .and_then(limit::ClientLimiter::new);
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                requests: parts.requests,
                fills: parts.fills,
                hot: parts.hot,
                cache: parts.cache,
                forwarder: parts.forwarder.filter(|_| parts.http.pass_through),
                http: parts.http,
                limiter,
                upstream_rate: parts.upstream_rate,
                tls: parts.tls,
            }),
        }
    }

    /// Serves HTTP/1.1 (keep-alive) on `listener`, over TLS when `http.tls`
    /// is set, until `shutdown` resolves; requests in flight finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let tls = self.inner.tls.clone();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self)
            .into_make_service_with_connect_info::<SocketAddr>();
        let Some(tls) = tls else {
            // Every answer is sent at once: Nagle's algorithm would hold
            // small ones back behind the client's delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            return axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
        };
        let handle = axum_server::Handle::new();
        let stop = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.graceful_shutdown(None);
        });
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
        axum_server::from_tcp_rustls(listener.into_std()?, tls)?
            .handle(handle)
            .serve(app)
            .await
    }

    async fn answer(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: bytes::Bytes,
        peer: SocketAddr,
    ) -> Reply {
        let inner = &self.inner;
        let path = uri.path();
        let raw_query = uri.query();
        if uri.to_string().len() > MAX_URI_LEN {
            return Reply::error(Format::Json, 414, "URI Too Long");
        }
        if let Some(limiter) = &inner.limiter
            && let Err(wait) = limiter.check(peer.ip())
        {
            return Reply::rate_limited(Format::Json, wait);
        }
        if path.starts_with("/oauth2/") {
            return self.forward(method, uri, headers, body).await;
        }
        let Some(rest) = path.strip_prefix("/ws/2/") else {
            return Reply::error(Format::Json, 404, "Not Found");
        };
        let accept = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let carries_credentials = headers.contains_key(axum::http::header::AUTHORIZATION)
            || raw_query.is_some_and(|q| {
                q.split('&')
                    .any(|p| p.split('=').next() == Some("access_token"))
            });
        if (method != Method::GET && method != Method::HEAD) || carries_credentials {
            return self.forward(method, uri, headers, body).await;
        }
        let request = match Request::parse(rest, raw_query, accept) {
            Ok(request) => request,
            Err(error) => {
                // A request that cannot be decoded gets MusicBrainz's bare
                // text 400.
                let format = ws2::error_format(rest, raw_query, accept).unwrap_or(Format::Txt);
                return Reply::ws2_error(format, &error);
            }
        };
        if request.needs_credentials() || request.resource == Resource::Collection {
            return self.forward(method, uri, headers, body).await;
        }
        if request.format == Format::Txt {
            // genre/all?fmt=txt, the one text answer: MusicBrainz's as is.
            return self.forward(method, uri, headers, body).await;
        }
        let context = lookup::Context {
            headers,
            uri,
            tls: self.inner.http.tls.cert_path.is_some(),
        };
        lookup::answer(self, &request, &context).await
    }

    async fn forward(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: bytes::Bytes,
    ) -> Reply {
        forward::forward(self.inner.forwarder.as_ref(), method, uri, headers, body).await
    }
}

async fn handle(
    State(api): State<Ws2Api>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let span = info_span!(
        "http",
        method = %parts.method,
        path = %parts.uri.path().chars().take(200).collect::<String>(),
    );
    async move {
        // Only forwarded requests carry a body that matters; MusicBrainz's
        // own limits apply there, so this one is generous.
        let body = match axum::body::to_bytes(body, 1024 * 1024).await {
            Ok(body) => body,
            Err(_) => return Reply::error(Format::Json, 413, "Request body too large").into_response(&parts.headers),
        };
        let reply = api
            .answer(&parts.method, &parts.uri, &parts.headers, body, peer)
            .await;
        metrics::counter!(names::HTTP_REQUESTS, "kind" => reply.kind(), "cache" => reply.cache_label())
            .increment(1);
        reply.into_response(&parts.headers)
    }
    .instrument(span)
    .await
}
