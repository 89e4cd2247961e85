//! The stand-in MusicBrainz: a wiremock server that answers ws/2 lookups
//! with the recorded responses, 404s (with MusicBrainz's own error body)
//! for ids it has no recording of, and whatever a test mounts on top:
//! a 503 with Retry-After, a merged-MBID 301, a broken body. It logs every
//! request, so tests can count upstream traffic per entity.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use musicmeta_shared::mbid::EntityType;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fixtures;

pub struct MusicBrainzStub {
    server: MockServer,
    arrivals: Arrivals,
}

/// When each request reached the stub (wiremock keeps no timestamps).
type Arrivals = Arc<Mutex<Vec<Instant>>>;

impl std::fmt::Debug for MusicBrainzStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MusicBrainzStub")
            .field("uri", &self.server.uri())
            .finish()
    }
}

/// Serves `<fixtures>/<type>/<mbid>.json`, or MusicBrainz's 404 body.
struct RecordedResponses {
    dir: PathBuf,
    not_found_body: Vec<u8>,
    arrivals: Arrivals,
}

impl Respond for RecordedResponses {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        let mut segments = request.url.path().trim_start_matches("/ws/2/").split('/');
        let (Some(kind), Some(id), None) = (segments.next(), segments.next(), segments.next())
        else {
            return ResponseTemplate::new(400);
        };
        // Only plain ids map to files; anything else cannot escape the folder.
        let safe =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !(safe(kind) && safe(id)) {
            return ResponseTemplate::new(400);
        }
        match std::fs::read(self.dir.join(kind).join(format!("{id}.json"))) {
            Ok(body) => json(200, body),
            Err(_) => json(404, self.not_found_body.clone()),
        }
    }
}

/// Serves browse requests (`/ws/2/<item>?<by>=<mbid>&offset=…&limit=…`)
/// from the recorded full lists in `browse/`, cut into pages of at most
/// `page_cap` items as MusicBrainz may cut them; an unrecorded list is empty.
struct RecordedBrowses {
    dir: PathBuf,
    page_cap: usize,
    arrivals: Arrivals,
}

impl Respond for RecordedBrowses {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        let item = request.url.path().trim_start_matches("/ws/2/").to_owned();
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            query
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let offset: usize = get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        let limit: usize = get("limit").and_then(|l| l.parse().ok()).unwrap_or(25);
        let by = ["artist", "release-group", "label", "recording", "release"]
            .into_iter()
            .find_map(|k| get(k).map(|v| (k, v)));
        let recorded = by.and_then(|(kind, id)| {
            let short: String = id.chars().take(8).collect();
            [
                format!("browse/{item}-by-{kind}-{short}-inc-artist-credits.json"),
                format!("browse/{item}-by-{kind}-{short}.json"),
                // Only recorded with ratings; the same list otherwise.
                format!("browse/{item}-by-{kind}-{short}-inc-ratings.json"),
            ]
            .iter()
            .find_map(|f| std::fs::read(self.dir.join(f)).ok())
        });
        // MusicBrainz's plural of each resource ("series" is its own).
        let list_key = match item.as_str() {
            "series" => item.clone(),
            _ => format!("{item}s"),
        };
        let all: Vec<serde_json::Value> = recorded
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get(&list_key).and_then(|l| l.as_array()).cloned())
            .unwrap_or_default();
        let page: Vec<_> = all
            .iter()
            .skip(offset)
            .take(limit.min(self.page_cap))
            .cloned()
            .collect();
        let body = serde_json::json!({
            format!("{item}-count"): all.len(),
            format!("{item}-offset"): offset,
            list_key: page,
        });
        json(200, serde_json::to_vec(&body).unwrap_or_default())
    }
}

/// Serves the recorded response of exactly the request asked (a search, a
/// browse page, a disc ID, a lookup with the inc it was recorded with), as
/// the MANIFEST gives the requests; see [`fixtures::request_key`].
struct RecordedRequests {
    dir: PathBuf,
    recorded: Arc<std::collections::HashMap<String, String>>,
    arrivals: Arrivals,
}

fn request_key(request: &Request) -> String {
    fixtures::request_key(request.url.path(), request.url.query().unwrap_or(""))
}

/// Matches the requests [`RecordedRequests`] has an answer for.
struct IsRecorded(Arc<std::collections::HashMap<String, String>>);

impl wiremock::Match for IsRecorded {
    fn matches(&self, request: &Request) -> bool {
        self.0.contains_key(&request_key(request))
    }
}

impl Respond for RecordedRequests {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        match self
            .recorded
            .get(&request_key(request))
            .and_then(|file| std::fs::read(self.dir.join(file)).ok())
        {
            Some(body) => json(200, body),
            None => ResponseTemplate::new(500),
        }
    }
}

struct SlowDown {
    retry_after: String,
    arrivals: Arrivals,
}

impl Respond for SlowDown {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        ResponseTemplate::new(503)
            .insert_header("retry-after", self.retry_after.as_str())
            .set_body_string("Your requests are exceeding the allowable rate limit.")
    }
}

fn json(status: u16, body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/json; charset=utf-8")
        .set_body_bytes(body)
}

impl MusicBrainzStub {
    /// A stub on a random local port.
    pub async fn start() -> Self {
        Self::mount_recorded(MockServer::start().await, fixtures::dir()).await
    }

    /// Cuts browse pages at `page_cap` items, to exercise paging.
    pub async fn cap_browse_pages(&self, page_cap: usize) {
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/[a-z-]+$"))
            .respond_with(RecordedBrowses {
                dir: fixtures::dir(),
                page_cap,
                arrivals: self.arrivals.clone(),
            })
            .with_priority(9)
            .mount(&self.server)
            .await;
    }

    /// A stub on a given listener (the `mb-replay` binary uses it).
    pub async fn start_on(listener: TcpListener, dir: PathBuf) -> Self {
        Self::mount_recorded(MockServer::builder().listener(listener).start().await, dir).await
    }

    async fn mount_recorded(server: MockServer, dir: PathBuf) -> Self {
        let not_found_body = std::fs::read(dir.join("errors/404-not-found-annotation-lookup.json"))
            .unwrap_or_else(|_| br#"{"error":"Not Found"}"#.to_vec());
        let arrivals = Arrivals::default();
        let dir_for_browse = dir.clone();
        let recorded = Arc::new(fixtures::recorded_requests(&dir));
        Mock::given(method("GET"))
            .and(IsRecorded(recorded.clone()))
            .respond_with(RecordedRequests {
                dir: dir.clone(),
                recorded,
                arrivals: arrivals.clone(),
            })
            .with_priority(8)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/[a-z-]+/[^/]+$"))
            .respond_with(RecordedResponses {
                dir,
                not_found_body,
                arrivals: arrivals.clone(),
            })
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/ws/2/[a-z-]+$"))
            .respond_with(RecordedBrowses {
                dir: dir_for_browse,
                page_cap: 100,
                arrivals: arrivals.clone(),
            })
            .with_priority(10)
            .mount(&server)
            .await;
        Self { server, arrivals }
    }

    /// The mock server, for a test's own answers.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// Base URL to configure as `musicbrainz.base_url`.
    pub fn base_url(&self) -> String {
        format!("{}/ws/2", self.server.uri())
    }

    fn lookup_path(entity_type: EntityType, mbid: &str) -> String {
        format!("/ws/2/{}/{mbid}", entity_type.as_str())
    }

    /// Answers the next `times` lookups of `mbid` with 503 and `Retry-After`
    /// (their arrivals are logged too).
    pub async fn slow_down(
        &self,
        entity_type: EntityType,
        mbid: &str,
        times: u64,
        retry_after: &str,
    ) {
        Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, mbid)))
            .respond_with(SlowDown {
                retry_after: retry_after.to_owned(),
                arrivals: self.arrivals.clone(),
            })
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Answers lookups of `from` as MusicBrainz does for a merged MBID: 301
    /// to `to`, with the recorded body of `to`.
    pub async fn redirect(&self, entity_type: EntityType, from: &str, to: &str) {
        let body =
            std::fs::read(fixtures::lookup_path(entity_type, to)).expect("redirect target fixture");
        Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, from)))
            .respond_with(json(301, body).insert_header(
                "location",
                format!(
                    "https://musicbrainz.org/ws/2/{}/{to}?fmt=json",
                    entity_type.as_str()
                ),
            ))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Answers lookups of `mbid` with its recording, each `delay` late (a
    /// slow upstream, so a test can act while a worker waits on it).
    pub async fn delay_lookups(&self, entity_type: EntityType, mbid: &str, delay: Duration) {
        let body = std::fs::read(fixtures::lookup_path(entity_type, mbid)).unwrap_or_default();
        Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, mbid)))
            .respond_with(json(200, body).set_delay(delay))
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Answers lookups of `mbid` with `body` (a broken or edited response).
    pub async fn serve_body(&self, entity_type: EntityType, mbid: &str, body: Vec<u8>) {
        self.mount_body(entity_type, mbid, body, None).await;
    }

    /// Answers the next `times` lookups of `mbid` with `body`, then the
    /// recording again (a response broken only for a while).
    pub async fn serve_body_times(
        &self,
        entity_type: EntityType,
        mbid: &str,
        body: Vec<u8>,
        times: u64,
    ) {
        self.mount_body(entity_type, mbid, body, Some(times)).await;
    }

    async fn mount_body(
        &self,
        entity_type: EntityType,
        mbid: &str,
        body: Vec<u8>,
        times: Option<u64>,
    ) {
        let mock = Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, mbid)))
            .respond_with(json(200, body))
            .with_priority(1);
        let mock = match times {
            Some(n) => mock.up_to_n_times(n),
            None => mock,
        };
        mock.mount(&self.server).await;
    }

    /// Arrival times of the requests, in order (recordings, browses and 503s;
    /// not the other mounted overrides).
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// How many browse requests for lists of `parent` reached the stub.
    pub async fn browses_of(&self, parent: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.url.path().matches('/').count() == 3)
            .filter(|r| r.url.query_pairs().any(|(_, v)| v == parent))
            .count()
    }

    /// How many lookups of this entity reached the stub.
    pub async fn lookups_of(&self, entity_type: EntityType, mbid: &str) -> usize {
        let wanted = Self::lookup_path(entity_type, mbid);
        self.requests()
            .await
            .iter()
            .filter(|r| r.url.path() == wanted)
            .count()
    }
}

/// Upstream faults a wiremock mock cannot produce on its own: a server
/// error storm, a slow answer, and (through [`FaultyUpstream`]) a reset
/// connection or a body cut off in transit.
impl MusicBrainzStub {
    /// The server's root URL (without `/ws/2`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Answers lookups of `mbid` with HTTP `status` and a short text body,
    /// the next `times` times (`None`: always).
    pub async fn answer_status(
        &self,
        entity_type: EntityType,
        mbid: &str,
        status: u16,
        times: Option<u64>,
    ) {
        let mock = Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, mbid)))
            .respond_with(
                ResponseTemplate::new(status).set_body_string("upstream trouble (test stub)"),
            )
            .with_priority(1);
        let mock = match times {
            Some(n) => mock.up_to_n_times(n),
            None => mock,
        };
        mock.mount(&self.server).await;
    }

    /// Answers the next `times` lookups of `mbid` with the recording, but
    /// only after `delay` (longer than the client's timeout, for a timeout).
    pub async fn answer_late(
        &self,
        entity_type: EntityType,
        mbid: &str,
        delay: std::time::Duration,
        times: u64,
    ) {
        let body = std::fs::read(fixtures::lookup_path(entity_type, mbid)).expect("fixture");
        Mock::given(method("GET"))
            .and(path(Self::lookup_path(entity_type, mbid)))
            .respond_with(json(200, body).set_delay(delay))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }
}

/// What [`FaultyUpstream`] does with one connection instead of forwarding it.
#[derive(Debug, Clone)]
pub enum ConnectionFault {
    /// Reads the request, then resets the connection (RST) without a word.
    Reset,
    /// Answers 200 announcing all of `body` in `Content-Length`, sends only
    /// its first `sent` bytes and closes: a response cut off in transit.
    Truncate { body: Vec<u8>, sent: usize },
    /// Answers 200 with a chunked body (no Content-Length) that goes on
    /// until the client hangs up: `{` and then spaces, up to 1 GiB, then
    /// the connection is closed without ending the body. A client that
    /// holds bodies whole never gets an answer out of it.
    Endless,
}

#[derive(Debug, Default)]
struct FaultState {
    faults: std::collections::VecDeque<ConnectionFault>,
    forward_to: Option<String>,
    connections: usize,
}

/// A raw HTTP/1.1 listener to point `musicbrainz.base_url` at: each new
/// connection takes the next queued [`ConnectionFault`]; when none is
/// queued, it forwards the request to a [`MusicBrainzStub`] and relays the
/// answer with `Connection: close`, so every request comes on a connection
/// of its own and meets the fault queued for it.
#[derive(Debug)]
pub struct FaultyUpstream {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<FaultState>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the faulty upstream");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(FaultState::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("forwarding client");
            while let Ok((stream, _)) = listener.accept().await {
                let (fault, forward_to) = {
                    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                    state.connections += 1;
                    (state.faults.pop_front(), state.forward_to.clone())
                };
                tokio::spawn(serve_connection(stream, fault, forward_to, http.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// Base URL to configure as `musicbrainz.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/ws/2", self.addr)
    }

    /// Where requests go when no fault is queued.
    pub fn forward_to(&self, stub: &MusicBrainzStub) {
        self.lock().forward_to = Some(stub.uri());
    }

    /// Queues `fault` for each of the next `times` connections.
    pub fn push(&self, fault: ConnectionFault, times: usize) {
        let mut state = self.lock();
        for _ in 0..times {
            state.faults.push_back(fault.clone());
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    /// Faults queued and not yet met.
    pub fn faults_left(&self) -> usize {
        self.lock().faults.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_connection(
    mut stream: tokio::net::TcpStream,
    fault: Option<ConnectionFault>,
    forward_to: Option<String>,
    http: reqwest::Client,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The request head; lookups are GETs without a body.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let target = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    match fault {
        Some(ConnectionFault::Reset) => {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Some(ConnectionFault::Truncate { body, sent }) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body[..sent.min(body.len())]).await;
            let _ = stream.shutdown().await;
        }
        Some(ConnectionFault::Endless) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            for _ in 0..(1 << 14) {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
        }
        None => {
            let Some(root) = forward_to else {
                let _ = stream
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            };
            let Ok(response) = http.get(format!("{root}{target}")).send().await else {
                return;
            };
            let status = response.status().as_u16();
            let mut head = format!("HTTP/1.1 {status} Relayed\r\nConnection: close\r\n");
            for name in ["content-type", "retry-after", "location"] {
                if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            let body = response.bytes().await.unwrap_or_default();
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
    }
}
