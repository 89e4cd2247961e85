//! The typed API beyond MBID lookups of the five cached types: relationships
//! per track, works, and lookups by ISRC, ISWC and disc ID, each through the
//! real queue and worker and checked against the recorded MusicBrainz JSON.

use musicmeta_proto::v1 as pb;
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::{TestApp, fixtures};
use serde_json::Value;
use tonic::Code;

/// Recorded with recording-level and work-level relationships.
const CLASSICAL: &str = "987f3e2d-22a6-4a4f-b840-c80c26b8b91a";
const WORK: &str = "b1df2cf3-69a9-3bc0-be44-f71e79b27a22";
const ISRC: &str = "USSUB0200002";
const ISWC: &str = "T-900.755.682-3";
const DISC_ID: &str = "hcwQmxWsG3GdAQvfBa1SCpp4FuU-";

fn json(rel: &str) -> Value {
    serde_json::from_slice(&fixtures::read(rel)).unwrap()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn target_id(relation: &Value) -> String {
    let t = text(&relation["target-type"]);
    text(&relation[t.as_str()]["id"])
}

/// Every relationship comes back with its type, direction, target and
/// attributes, nested ones included.
fn check_relations(got: &[pb::Relation], want: &Value) {
    let want = want.as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), want.len(), "relationship count");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.r#type, text(&w["type"]));
        assert_eq!(g.target_type, text(&w["target-type"]));
        let backward = w["direction"] == "backward";
        let direction = if backward {
            pb::relation::Direction::Backward
        } else {
            pb::relation::Direction::Forward
        };
        assert_eq!(g.direction, direction as i32);
        let target = g.target.as_ref().unwrap();
        assert_eq!(target.mbid.clone().unwrap_or_default(), target_id(w));
        let attributes: Vec<String> = w["attributes"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        let names: Vec<String> = g.attributes.iter().map(|a| a.name.clone()).collect();
        assert_eq!(names, attributes);
        let t = text(&w["target-type"]);
        check_relations(&target.relations, &w[t.as_str()]["relations"]);
    }
}

/// Upstream requests whose path starts with `prefix`.
async fn upstream(app: &TestApp, prefix: &str) -> usize {
    app.musicbrainz
        .requests()
        .await
        .iter()
        .filter(|r| r.url.path().starts_with(prefix))
        .count()
}

#[tokio::test]
async fn each_track_carries_its_performers_and_its_works_composers() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let want = fixtures::lookup_json(EntityType::Release, CLASSICAL);
    let release = client
        .get_release(pb::GetReleaseRequest {
            mbid: CLASSICAL.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .release
        .unwrap();

    check_relations(&release.relations, &want["relations"]);
    let events = want["release-events"].as_array().unwrap();
    assert_eq!(release.release_events.len(), events.len());
    for (e, w) in release.release_events.iter().zip(events) {
        assert_eq!(e.date.clone().unwrap_or_default(), text(&w["date"]));
        assert_eq!(e.area.as_ref().unwrap().name, text(&w["area"]["name"]));
    }
    assert_eq!(release.quality.as_deref(), want["quality"].as_str());

    let mut composers = 0;
    let media = want["media"].as_array().unwrap();
    for (medium, w) in release.media.iter().zip(media) {
        let tracks = w["tracks"].as_array().unwrap();
        assert_eq!(medium.tracks.len(), tracks.len());
        for (track, w) in medium.tracks.iter().zip(tracks) {
            assert_eq!(track.mbid, text(&w["id"]));
            let recording = track.recording.as_ref().unwrap();
            check_relations(&recording.relations, &w["recording"]["relations"]);
            composers += recording
                .relations
                .iter()
                .flat_map(|r| &r.target.as_ref().unwrap().relations)
                .filter(|r| r.r#type == "composer")
                .count();
        }
    }
    assert!(composers > 0, "no composer credited on any track");
    // Still one upstream request for all of it.
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, CLASSICAL)
            .await,
        1
    );
}

#[tokio::test]
async fn a_work_is_filled_through_the_job_path_then_served_from_the_cache() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let want = json(&format!("work/{WORK}.json"));
    let cold = client
        .get_work(pb::GetWorkRequest { mbid: WORK.into() })
        .await
        .expect("a cold work lookup is filled within the call")
        .into_inner();
    let work = cold.work.clone().unwrap();
    assert_eq!(work.mbid, WORK);
    assert_eq!(work.title, text(&want["title"]));
    assert_eq!(work.r#type.clone().unwrap_or_default(), text(&want["type"]));
    let iswcs: Vec<String> = want["iswcs"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(work.iswcs, iswcs);
    let languages: Vec<String> = want["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(work.languages, languages);
    assert_eq!(
        work.attributes.len(),
        want["attributes"].as_array().unwrap().len()
    );
    check_relations(&work.relations, &want["relations"]);

    let warm = client
        .get_work(pb::GetWorkRequest { mbid: WORK.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(warm.work, cold.work);
    assert_eq!(upstream(&app, "/ws/2/work/").await, 1);

    let invalid = client
        .get_work(pb::GetWorkRequest {
            mbid: "b1df2cf3".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn isrc_iswc_and_disc_id_list_what_carries_them() {
    let app = TestApp::spawn().await;
    let mut client = app.identifiers().await;

    let want = json(&format!("isrc/{ISRC}.json"));
    let recordings = client
        .lookup_isrc(pb::LookupIsrcRequest { isrc: ISRC.into() })
        .await
        .unwrap()
        .into_inner()
        .recordings;
    let ids: Vec<String> = want["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(&r["id"]))
        .collect();
    assert_eq!(
        recordings
            .iter()
            .map(|r| r.mbid.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(
        recordings
            .iter()
            .all(|r| r.isrcs.contains(&ISRC.to_owned()))
    );

    let want = json(&format!("iswc/{ISWC}.json"));
    let works = client
        .lookup_iswc(pb::LookupIswcRequest { iswc: ISWC.into() })
        .await
        .unwrap()
        .into_inner()
        .works;
    let ids: Vec<String> = want["works"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| text(&w["id"]))
        .collect();
    assert_eq!(
        works.iter().map(|w| w.mbid.clone()).collect::<Vec<_>>(),
        ids
    );
    assert!(works.iter().all(|w| w.iswcs.contains(&ISWC.to_owned())));

    let want = json(&format!("discid/{DISC_ID}.json"));
    let releases = client
        .lookup_disc_id(pb::LookupDiscIdRequest {
            disc_id: DISC_ID.into(),
            toc: None,
        })
        .await
        .unwrap()
        .into_inner()
        .releases;
    let ids: Vec<String> = want["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(&r["id"]))
        .collect();
    assert_eq!(
        releases.iter().map(|r| r.mbid.clone()).collect::<Vec<_>>(),
        ids
    );

    // Asked again: answered from the cache, no new upstream request.
    let before = app.musicbrainz.requests().await.len();
    client
        .lookup_isrc(pb::LookupIsrcRequest { isrc: ISRC.into() })
        .await
        .unwrap();
    client
        .lookup_disc_id(pb::LookupDiscIdRequest {
            disc_id: DISC_ID.into(),
            toc: None,
        })
        .await
        .unwrap();
    assert_eq!(app.musicbrainz.requests().await.len(), before);
}

#[tokio::test]
async fn unknown_and_malformed_identifiers_have_clear_answers() {
    let app = TestApp::spawn().await;
    let mut client = app.identifiers().await;
    let unknown = "GBAAA0000001";
    for _ in 0..2 {
        let status = client
            .lookup_isrc(pb::LookupIsrcRequest {
                isrc: unknown.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains(unknown), "{status:?}");
    }
    // The 404 is remembered: asked once upstream.
    assert_eq!(upstream(&app, &format!("/ws/2/isrc/{unknown}")).await, 1);

    for bad in ["not-an-isrc", ""] {
        let status = client
            .lookup_isrc(pb::LookupIsrcRequest { isrc: bad.into() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
    }
    let status = client
        .lookup_barcode(pb::LookupBarcodeRequest {
            barcode: "1 OR barcode:*".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(upstream(&app, "/ws/2/isrc/not").await, 0);
    assert_eq!(upstream(&app, "/ws/2/release").await, 0);
}

/// Serves `body` for `GET /ws/2/<path>` (with query parameter `key=value`,
/// when given), ahead of the stub's own routes.
async fn serve(app: &TestApp, path: &str, param: Option<(&str, &str)>, body: impl Into<Vec<u8>>) {
    use wiremock::matchers::{method, path as exact_path, query_param};
    let mut mock = wiremock::Mock::given(method("GET")).and(exact_path(format!("/ws/2/{path}")));
    if let Some((key, value)) = param {
        mock = mock.and(query_param(key, value));
    }
    mock.respond_with(
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_bytes(body.into()),
    )
    .with_priority(1)
    .mount(app.musicbrainz.server())
    .await;
}

#[tokio::test]
async fn barcode_and_url_lookups_answer_from_musicbrainz_documents() {
    let app = TestApp::spawn().await;
    let mut client = app.identifiers().await;

    // A real search answer; only releases with exactly this barcode count.
    let barcode = "075679791948";
    let search = "search/release-drivers_license.json";
    serve(
        &app,
        "release",
        Some(("query", &format!("barcode:{barcode}"))),
        fixtures::read(search),
    )
    .await;
    let releases = client
        .lookup_barcode(pb::LookupBarcodeRequest {
            barcode: barcode.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .releases;
    let want: Vec<String> = json(search)["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["barcode"] == barcode)
        .map(|r| text(&r["id"]))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        releases.iter().map(|r| r.mbid.clone()).collect::<Vec<_>>(),
        want
    );

    let resource = "https://www.discogs.com/release/12620800";
    let recorded = "url/5ebeb411-a4c4-49e3-a3e2-d3c3f7454c88.json";
    serve(
        &app,
        "url",
        Some(("resource", resource)),
        fixtures::read(recorded),
    )
    .await;
    let url = client
        .lookup_url(pb::LookupUrlRequest {
            url: resource.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let want = json(recorded);
    assert_eq!(url.mbid, text(&want["id"]));
    assert_eq!(url.resource, resource);
    assert!(!url.relations.is_empty());
    check_relations(&url.relations, &want["relations"]);
}

#[tokio::test]
async fn works_of_an_artist_and_recordings_of_a_work_are_musicbrainz_pages() {
    let app = TestApp::spawn().await;
    let mut client = musicmeta_proto::v1::work_service_client::WorkServiceClient::connect(format!(
        "http://{}",
        app.addr
    ))
    .await
    .unwrap();
    let artist = "72c536dc-7137-4477-a521-567eeb840fa8";
    // Pages as MusicBrainz cuts them, of recorded works and recordings.
    let works: Vec<Value> = [
        "work/0e23ed77-ad7e-34e7-b57c-c3407b2ae5df.json",
        &format!("work/{WORK}.json"),
    ]
    .iter()
    .map(|f| json(f))
    .collect();
    let page = serde_json::json!({"work-count": 40, "work-offset": 25, "works": works});
    serve(
        &app,
        "work",
        Some(("artist", artist)),
        serde_json::to_vec(&page).unwrap(),
    )
    .await;
    let got = client
        .browse_artist_works(pb::WorkListRequest {
            mbid: artist.into(),
            offset: 25,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.total, got.offset), (40, 25));
    let ids: Vec<String> = works.iter().map(|w| text(&w["id"])).collect();
    assert_eq!(
        got.works.iter().map(|w| w.mbid.clone()).collect::<Vec<_>>(),
        ids
    );
    for (g, w) in got.works.iter().zip(&works) {
        check_relations(&g.relations, &w["relations"]);
    }
    let asked = app.musicbrainz.requests().await;
    let query = asked
        .iter()
        .find(|r| r.url.path() == "/ws/2/work")
        .unwrap()
        .url
        .query()
        .unwrap_or_default()
        .to_owned();
    assert!(
        query.contains("offset=25") && query.contains("limit=25"),
        "{query}"
    );

    let recordings: Vec<Value> = ["recording/cb2cc207-8125-445c-9ef9-6ea44eee959a.json"]
        .iter()
        .map(|f| json(f))
        .collect();
    let page =
        serde_json::json!({"recording-count": 1, "recording-offset": 0, "recordings": recordings});
    serve(
        &app,
        "recording",
        Some(("work", WORK)),
        serde_json::to_vec(&page).unwrap(),
    )
    .await;
    let got = client
        .browse_work_recordings(pb::WorkListRequest {
            mbid: WORK.into(),
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.total, 1);
    assert_eq!(got.recordings[0].mbid, text(&recordings[0]["id"]));
    assert_eq!(got.recordings[0].title, text(&recordings[0]["title"]));

    let status = client
        .browse_artist_works(pb::WorkListRequest {
            mbid: artist.into(),
            offset: 0,
            limit: 500,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_document_that_does_not_read_as_its_kind_is_unavailable_not_a_crash() {
    let app = TestApp::spawn().await;
    let mut client = app.identifiers().await;
    let isrc = "GBAAA0000002";
    // JSON, but not an ISRC answer: stored as MusicBrainz sent it, refused
    // when read.
    let body = r#"{"isrc": "GBAAA0000002", "recordings": 7}"#;
    serve(&app, &format!("isrc/{isrc}"), None, body).await;
    let ok = client
        .lookup_isrc(pb::LookupIsrcRequest { isrc: isrc.into() })
        .await;
    // A list that is not a list reads as empty: MusicBrainz's shape, no items.
    assert_eq!(ok.unwrap().into_inner().recordings, vec![]);

    let broken = "GBAAA0000003";
    serve(
        &app,
        &format!("isrc/{broken}"),
        None,
        r#"{"unexpected": true}"#,
    )
    .await;
    let status = client
        .lookup_isrc(pb::LookupIsrcRequest {
            isrc: broken.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("could not be read"), "{status:?}");
}
