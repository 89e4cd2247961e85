//! The MusicBrainz-compatible HTTP API, as a MusicBrainz client sees it:
//! every recorded response comes back as recorded when asked the way it was
//! recorded (in JSON and in XML), smaller incs get exactly less, errors and redirects are
//! MusicBrainz's, and the cache's own promises (one upstream request per
//! entity, misses that wait, headers clients use) hold.

use std::collections::HashMap;
use std::time::Duration;

use musicmeta_musicbrainz::ws2;
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A release recorded with rich includes: relations at every level,
/// ISRCs, labels, artist credits (MANIFEST inc `inferred:`; its keys say).
const RICH_RELEASE: &str = "942b9e7b-3a43-4f22-b200-ab69ee302d16";
const WARP: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";
const BEYONCE: &str = "7c07f9a1-381f-4c00-8d17-2acc537597f8";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `GET <ws/2 API>/<path_and_query>` (after `/ws/2/`).
async fn get(app: &TestApp, path_and_query: &str) -> Answer {
    get_with(app, path_and_query, &[]).await
}

async fn get_with(app: &TestApp, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client().get(format!("{}/{path_and_query}", app.ws2_url()));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("the API answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(TestOptions {
        env: vec![("MUSICMETA_HTTP__MISS_WAIT_MS".into(), "20000".into())],
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn every_recorded_lookup_is_answered_as_recorded() {
    let app = spawn().await;
    let lookups = fixtures::recorded_lookups();
    assert!(lookups.len() > 50, "{} lookups", lookups.len());
    let mut wrong = Vec::new();
    for recorded in &lookups {
        let answer = get(&app, &recorded.request(Some("json"))).await;
        let want: Value = serde_json::from_slice(&fixtures::read(&recorded.file)).unwrap();
        if answer.status != StatusCode::OK {
            wrong.push(format!("{}: HTTP {}", recorded.file, answer.status));
        } else if answer.json() != want {
            wrong.push(format!("{}: the JSON differs", recorded.file));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        lookups.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_recorded_request_is_answered_as_recorded() {
    let app = spawn().await;
    let documents = fixtures::recorded_documents();
    let mut wrong = Vec::new();
    for recorded in &documents {
        let request = recorded.request(Some("json"));
        let answer = get(&app, &request).await;
        let want: Value = serde_json::from_slice(&fixtures::read(&recorded.file)).unwrap();
        if answer.status != StatusCode::OK {
            wrong.push(format!(
                "{} ({request}): HTTP {} {}",
                recorded.file,
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        } else if answer.json() != want {
            wrong.push(format!("{} ({request}): the JSON differs", recorded.file));
        }
    }
    assert!(documents.len() > 15, "{} requests", documents.len());
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        documents.len(),
        wrong.join("\n")
    );
}

/// Every key, at any depth, of a JSON document.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_smaller_inc_gets_exactly_less_and_one_upstream_request() {
    let app = spawn().await;
    let rich = get(&app, &format!("release/{RICH_RELEASE}?inc=artist-credits+labels+recordings+isrcs+artist-rels+recording-level-rels&fmt=json")).await;
    assert_eq!(rich.status, StatusCode::OK);
    let small = get(
        &app,
        &format!("release/{RICH_RELEASE}?inc=recordings&fmt=json"),
    )
    .await;
    assert_eq!(
        small.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&small.body)
    );
    let doc = small.json();
    let tracks = doc["media"][0]["tracks"]
        .as_array()
        .expect("tracks with inc=recordings");
    assert!(!tracks.is_empty());
    let mut all = Vec::new();
    keys(&doc, &mut all);
    for absent in ["artist-credit", "isrcs", "label-info", "relations"] {
        assert!(
            !all.iter().any(|k| k == absent),
            "{absent} is in an inc=recordings answer"
        );
    }
    let rich_doc = rich.json();
    let mut rich_keys = Vec::new();
    keys(&rich_doc, &mut rich_keys);
    for present in ["artist-credit", "isrcs", "label-info", "relations"] {
        assert!(
            rich_keys.iter().any(|k| k == present),
            "{present} missing from the rich answer"
        );
    }
    // Both answers, one request to MusicBrainz.
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RICH_RELEASE)
            .await,
        1
    );
    // Asked again: the hot tier answers.
    let again = get(
        &app,
        &format!("release/{RICH_RELEASE}?inc=recordings&fmt=json"),
    )
    .await;
    assert_eq!(again.json(), doc);
    assert_eq!(again.header("x-cache"), "hit");
}

#[tokio::test]
async fn answers_carry_the_headers_clients_use() {
    let app = spawn().await;
    let first = get_with(
        &app,
        &format!("label/{WARP}"),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "Picard's way: Accept, no fmt");
    assert_eq!(
        first.header("content-type"),
        "application/json; charset=utf-8"
    );
    assert_eq!(first.header("access-control-allow-origin"), "*");
    assert_eq!(first.header("x-cache"), "miss");
    let etag = first.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let second = get_with(
        &app,
        &format!("label/{WARP}"),
        &[("accept", "application/json"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(second.status, StatusCode::NOT_MODIFIED);
    assert!(second.body.is_empty());
    assert_eq!(second.header("etag"), etag);
    assert!(
        first.header("cache-control").is_empty(),
        "no lifetime that pins old data"
    );
}

#[tokio::test]
async fn errors_are_musicbrainz_errors() {
    let app = spawn().await;
    let cases: Vec<(String, u16, &str)> = vec![
        ("release/not-an-mbid?fmt=json".into(), 400, "Invalid mbid."),
        (
            format!("release/{BEYONCE}?inc=coffee&fmt=json"),
            400,
            "coffee is not a valid inc parameter for the release resource.",
        ),
        (
            format!("artist/{WARP}?inc=aliases&inc=tags&fmt=json"),
            400,
            "Inc arguments must be combined with a space (+ or %20), but you provided multiple parameters",
        ),
        (
            "release?fmt=json".into(),
            400,
            "The given parameters do not match any available query type for the release resource.",
        ),
        ("nonsense/abc?fmt=json".into(), 404, "Not Found"),
    ];
    for (request, status, message) in cases {
        let answer = get(&app, &request).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{request}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.json();
        assert_eq!(body["error"], message, "{request}");
        assert_eq!(
            body["help"],
            "For usage, please see: https://musicbrainz.org/development/mmd"
        );
    }
    assert!(
        app.musicbrainz.requests().await.is_empty(),
        "bad requests cost no upstream request"
    );
}

#[tokio::test]
async fn a_404_is_remembered() {
    let app = spawn().await;
    let missing = "00000000-0000-4000-8000-000000000001";
    for _ in 0..3 {
        let answer = get(&app, &format!("artist/{missing}?fmt=json")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json()["error"], "Not Found");
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Artist, missing)
            .await,
        1
    );
}

#[tokio::test]
async fn a_merged_mbid_redirects_to_the_api_itself() {
    let app = spawn().await;
    let merged = "11111111-1111-4111-8111-111111111111";
    app.musicbrainz
        .redirect(EntityType::Label, merged, WARP)
        .await;
    let answer = get_with(
        &app,
        &format!("label/{merged}?inc=aliases"),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::MOVED_PERMANENTLY,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.header("location"),
        format!("{}/label/{WARP}?inc=aliases", app.ws2_url())
    );
    assert_eq!(
        answer.json()["id"],
        WARP,
        "the body is the surviving entity"
    );
}

#[tokio::test]
async fn a_hundred_clients_asking_at_once_cost_one_upstream_request() {
    let app = spawn().await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let url = format!(
                "{}/release/{BEYONCE}?inc=recordings+artist-credits&fmt=json",
                app.ws2_url()
            );
            tokio::spawn(async move {
                let response = client().get(url).send().await.unwrap();
                (response.status(), response.bytes().await.unwrap())
            })
        })
        .collect();
    let mut bodies = HashMap::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        *bodies.entry(body).or_insert(0) += 1;
    }
    assert_eq!(bodies.len(), 1, "everyone got the same answer");
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, BEYONCE)
            .await,
        1
    );
}

#[tokio::test]
async fn a_miss_not_filled_in_time_says_when_to_come_back_and_the_fill_goes_on() {
    let mut app = TestApp::spawn_with(TestOptions {
        workers: 0,
        env: vec![("MUSICMETA_HTTP__MISS_WAIT_MS".into(), "300".into())],
        ..TestOptions::default()
    })
    .await;
    let request = format!("label/{WARP}?fmt=json");
    let answer = get(&app, &request).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = answer
        .header("retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    // A worker comes; the job was queued by the first request.
    let mut reports = {
        app.start_worker().await;
        app.reports()
    };
    musicmeta_tests::app::next_report(&mut reports, |r| r.entity.is_some()).await;
    let answer = get(&app, &request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["id"], WARP);
    assert_eq!(app.musicbrainz.lookups_of(EntityType::Label, WARP).await, 1);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_never_a_5xx() {
    let app = spawn().await;
    let huge_inc = vec!["aliases"; 2000].join("+");
    let long = "a".repeat(10 * 1024);
    let cases = [
        "release/../../etc/passwd?fmt=json".to_owned(),
        "release/%2e%2e%2f%2e%2e?fmt=json".to_owned(),
        format!("release/{BEYONCE}?inc={huge_inc}&fmt=json"),
        format!("release/{BEYONCE}?fmt=json&fmt=xml"),
        format!("release/{BEYONCE}?inc=%ff%fe&fmt=json"),
        format!("release/{BEYONCE}?inc=aliases&x={long}"),
        "release/%00?fmt=json".to_owned(),
        format!("release?release-group={BEYONCE}&limit=-1&fmt=json"),
        "release/?query=&fmt=json".to_owned(),
    ];
    for request in cases {
        let answer = get(&app, &request).await;
        assert!(
            answer.status.is_client_error(),
            "{}: HTTP {} {}",
            &request[..request.len().min(80)],
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
}

/// What MusicBrainz's XML serializer writes for `path?query` from the
/// recorded JSON `file`: a lookup with a superset is cut to its inc first,
/// as the facade does.
fn xml_of(path: &str, query: &str, file: &str) -> String {
    let request = ws2::Request::parse(path, (!query.is_empty()).then_some(query), None)
        .unwrap_or_else(|e| panic!("{path}?{query}: {e}"));
    let mut doc: Value = serde_json::from_slice(&fixtures::read(file)).unwrap();
    if matches!(request.kind, ws2::Kind::Lookup { .. }) && ws2::superset(request.resource).is_some()
    {
        ws2::project(&mut doc, request.resource, &request.inc);
    }
    ws2::xml::render(&request, &doc).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Without `fmt` and without a JSON `Accept` — musicbrainzngs, beets <= 2.5
/// and most older clients — every recorded lookup, browse, search, disc ID,
/// ISRC and ISWC answer comes back as MusicBrainz's XML: the serializer's
/// bytes from the same stored document, `application/xml; charset=utf-8`,
/// an ETag of its own. `fmt=xml` and `Accept: application/xml` are the same
/// answer.
#[tokio::test]
async fn every_recorded_answer_is_served_in_xml_too() {
    let app = spawn().await;
    let mut asked = fixtures::recorded_lookups();
    asked.extend(fixtures::recorded_documents());
    let mut wrong = Vec::new();
    for fixtures::RecordedAnswer { path, query, file } in &asked {
        let answer = get(
            &app,
            &format!("{path}{}{query}", if query.is_empty() { "" } else { "?" }),
        )
        .await;
        let want = xml_of(path, query, file);
        if answer.status != StatusCode::OK {
            wrong.push(format!("{file} ({path}?{query}): HTTP {}", answer.status));
        } else if answer.header("content-type") != "application/xml; charset=utf-8" {
            wrong.push(format!("{file}: {}", answer.header("content-type")));
        } else if answer.body != want.as_bytes() {
            wrong.push(format!("{file} ({path}?{query}): the XML differs"));
        }
    }
    assert!(asked.len() > 150, "{} requests", asked.len());
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        asked.len(),
        wrong.join("\n")
    );

    // fmt=xml and an XML Accept choose the same answer; it has its own ETag.
    let plain = get(&app, &format!("label/{WARP}?inc=aliases")).await;
    let fmt = get(&app, &format!("label/{WARP}?inc=aliases&fmt=xml")).await;
    let accept = get_with(
        &app,
        &format!("label/{WARP}?inc=aliases"),
        &[("accept", "application/xml")],
    )
    .await;
    let json = get(&app, &format!("label/{WARP}?inc=aliases&fmt=json")).await;
    assert_eq!(fmt.body, plain.body);
    assert_eq!(accept.body, plain.body);
    assert!(!plain.header("etag").is_empty());
    assert_ne!(plain.header("etag"), json.header("etag"));
    let again = get_with(
        &app,
        &format!("label/{WARP}?inc=aliases"),
        &[("if-none-match", plain.header("etag"))],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

/// Errors asked for in XML are MusicBrainz's XML errors, with its words.
#[tokio::test]
async fn xml_errors_are_musicbrainz_errors() {
    let app = spawn().await;
    for (request, status, message) in [
        ("release/not-an-mbid".to_owned(), 400, "Invalid mbid."),
        (
            format!("release/{BEYONCE}?inc=coffee"),
            400,
            "coffee is not a valid inc parameter for the release resource.",
        ),
        (
            "label/00000000-0000-4000-8000-000000000001".to_owned(),
            404,
            "Not Found",
        ),
    ] {
        let answer = get(&app, &request).await;
        assert_eq!(answer.status.as_u16(), status, "{request}");
        assert_eq!(
            answer.header("content-type"),
            "application/xml; charset=utf-8"
        );
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(
            body,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><text>{message}</text>\
                 <text>For usage, please see: https://musicbrainz.org/development/mmd</text></error>\n"
            ),
            "{request}"
        );
    }
}

/// The XML the facade serves for current captures validates against the
/// official MMD 2.0 schema (docs/ws2/mmd), checked with xmllint; the whole
/// corpus is validated at the serializer (musicbrainz/tests/ws2_xml.rs).
#[tokio::test]
async fn xml_answers_validate_against_the_mmd_schema() {
    let app = spawn().await;
    let requests = [
        format!(
            "release/{RICH_RELEASE}?inc=artists+media+recordings+release-groups+labels+artist-credits+aliases+recording-level-rels+work-rels+work-level-rels+artist-rels+isrcs+url-rels+release-rels+tags"
        ),
        format!("release/{RICH_RELEASE}"),
        format!("label/{WARP}?inc=aliases"),
        format!(
            "release/{BEYONCE}?inc=artist-credits+isrcs+labels+media+recordings+release-groups"
        ),
        "release?label=47e718e1-7ee4-460c-b1cc-1192a841c6e5".to_owned(),
        "discid/hcwQmxWsG3GdAQvfBa1SCpp4FuU-".to_owned(),
        "iswc/T-900.755.682-3".to_owned(),
    ];
    let dir = std::env::temp_dir().join(format!("musicmeta-xml-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let answer = get(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{request}");
        let file = dir.join(format!("{i}.xml"));
        std::fs::write(&file, &answer.body).unwrap();
        files.push(file);
    }
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/ws2/mmd/musicbrainz_mmd-2.0.rng");
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(schema)
        .args(&files)
        .output()
        .expect("xmllint (Debian: libxml2-utils) validates the XML answers");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_logged_in_request_is_forwarded_and_never_cached() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, ResponseTemplate};
    let app = spawn().await;
    Mock::given(method("GET"))
        .and(path(format!("/ws/2/release/{BEYONCE}")))
        .and(header("authorization", "Bearer picard-user-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json; charset=utf-8")
                .set_body_string(r#"{"id":"from-upstream-for-this-user"}"#),
        )
        .with_priority(1)
        .mount(app.musicbrainz.server())
        .await;
    let request = format!("release/{BEYONCE}?inc=user-collections+media");
    for _ in 0..2 {
        let answer = get_with(
            &app,
            &request,
            &[
                ("accept", "application/json"),
                ("authorization", "Bearer picard-user-token"),
            ],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json()["id"], "from-upstream-for-this-user");
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, BEYONCE)
            .await,
        2,
        "each went upstream"
    );
    // Without credentials, user-* needs them: MusicBrainz's 401 (and its
    // Digest challenge) comes back as it came.
    Mock::given(method("GET"))
        .and(path(format!("/ws/2/release/{BEYONCE}")))
        .and(wiremock::matchers::query_param("inc", "user-ratings"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"Digest realm="musicbrainz.org""#)
                .set_body_string(r#"{"error":"You are not authorized to access this resource."}"#),
        )
        .with_priority(2)
        .mount(app.musicbrainz.server())
        .await;
    let anonymous = get_with(
        &app,
        &format!("release/{BEYONCE}?inc=user-ratings"),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&anonymous.body)
    );
    assert_eq!(
        anonymous.header("www-authenticate"),
        r#"Digest realm="musicbrainz.org""#
    );
}

/// A stored document that cannot be written as MusicBrainz's XML (its JSON
/// is not what MusicBrainz answers: a hand edit, or MusicBrainz changed its
/// JSON) is answered 502 "could not be read" in XML — not a database outage
/// — while its JSON face is still served.
#[tokio::test]
async fn a_document_that_cannot_be_written_as_xml_is_a_502_not_an_outage() {
    let app = spawn().await;
    let browse = "release-group?artist=c8da2e40-bd28-4d4e-813a-bd2f51958ba8&inc=artist-credits";
    assert_eq!(
        get(&app, &format!("{browse}&fmt=json")).await.status,
        StatusCode::OK
    );
    let edited = app
        .db
        .connect()
        .await
        .execute("UPDATE ws2_document SET body = '[1, 2]'::jsonb", &[])
        .await
        .unwrap();
    assert_eq!(edited, 1);
    let answer = get(&app, browse).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    let body = String::from_utf8_lossy(&answer.body);
    assert!(body.contains("could not be read"), "{body}");
    assert!(!body.contains("database"), "{body}");
}

/// A stored entity whose document is too narrow for a request is fetched
/// again; when that refetch fails for good (an unreadable body), the
/// request is told so at once (502) rather than after the whole miss wait,
/// and the stored row is kept for the requests it can answer.
#[tokio::test]
async fn a_failed_refetch_of_a_narrow_row_is_a_502_at_once() {
    let app = TestApp::spawn_with(TestOptions {
        env: vec![("MUSICMETA_HTTP__MISS_WAIT_MS".into(), "60000".into())],
        ..TestOptions::default()
    })
    .await;
    let narrow = get(&app, &format!("label/{WARP}?inc=aliases&fmt=json")).await;
    assert_eq!(narrow.status, StatusCode::OK);
    // As if fetched before the superset: it holds aliases and nothing else.
    let narrowed = app
        .db
        .connect()
        .await
        .execute("UPDATE label SET raw_inc = 'aliases'", &[])
        .await
        .unwrap();
    assert_eq!(narrowed, 1);
    app.musicbrainz
        .serve_body_times(EntityType::Label, WARP, b"<html>oops</html>".to_vec(), 1)
        .await;
    let wider = get(&app, &format!("label/{WARP}?inc=aliases+tags&fmt=json")).await;
    assert_eq!(
        wider.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&wider.body)
    );
    assert!(
        wider.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("could not be read"),
        "{}",
        String::from_utf8_lossy(&wider.body)
    );
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, WARP).await,
        2,
        "the first fill and the failed refetch"
    );
    // What the row does hold is still served.
    let again = get(&app, &format!("label/{WARP}?inc=aliases&fmt=json")).await;
    assert_eq!(again.status, StatusCode::OK);
}
