//! Cold and warm lookups of each entity type through the real queue and
//! worker, with the answers checked against the recorded MusicBrainz JSON.

use musicmeta_proto::v1 as pb;
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::{TestApp, fixtures};
use serde_json::Value;

const ARTIST: &str = "72c536dc-7137-4477-a521-567eeb840fa8"; // Bob Dylan
const RELEASE_GROUP: &str = "05ce100c-eddf-4967-8d7e-33fc0883fe39"; // Ed Sheeran, "+"
const RELEASE: &str = "7c07f9a1-381f-4c00-8d17-2acc537597f8"; // BEYONCÉ, 2 media
const RECORDING: &str = "cb2cc207-8125-445c-9ef9-6ea44eee959a"; // Thinking Out Loud
const LABEL: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // City Slang

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|a| a.iter().filter_map(|x| opt(&x[key])).collect())
        .unwrap_or_default()
}

fn url_count(json: &Value) -> usize {
    json["relations"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["target-type"] == "url").count())
        .unwrap_or(0)
}

fn check_credits(got: &[pb::ArtistCredit], json: &Value) {
    let want = json.as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), want.len(), "credit count");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.artist.as_ref().unwrap().mbid, s(&w["artist"]["id"]));
        assert_eq!(g.credited_name, s(&w["name"]));
        assert_eq!(g.join_phrase, s(&w["joinphrase"]));
    }
}

fn fresh(cache: &Option<pb::CacheInfo>) -> bool {
    cache.as_ref().unwrap().freshness == pb::Freshness::Fresh as i32
}

#[tokio::test]
async fn release_cold_then_warm() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let json = fixtures::lookup_json(EntityType::Release, RELEASE);

    let answer = client
        .get_release(pb::GetReleaseRequest {
            mbid: RELEASE.into(),
        })
        .await
        .expect("cold lookup is filled within the call")
        .into_inner();
    let r = answer.release.unwrap();
    assert!(fresh(&answer.cache));
    assert_eq!(r.mbid, RELEASE);
    assert_eq!(r.title, s(&json["title"]));
    assert_eq!(r.status, opt(&json["status"]));
    assert_eq!(r.date, opt(&json["date"]));
    assert_eq!(r.country, opt(&json["country"]));
    assert_eq!(r.barcode, json["barcode"].as_str().map(str::to_owned));
    assert_eq!(r.packaging, opt(&json["packaging"]));
    assert_eq!(r.language, opt(&json["text-representation"]["language"]));
    check_credits(&r.artist_credit, &json["artist-credit"]);

    let group = r.release_group.as_ref().unwrap();
    assert_eq!(group.mbid, s(&json["release-group"]["id"]));
    assert_eq!(group.title, s(&json["release-group"]["title"]));
    assert_eq!(
        group.primary_type,
        opt(&json["release-group"]["primary-type"])
    );

    let labels = json["label-info"].as_array().unwrap();
    assert_eq!(r.label_info.len(), labels.len());
    for (got, want) in r.label_info.iter().zip(labels) {
        assert_eq!(got.catalog_number, opt(&want["catalog-number"]));
        assert_eq!(
            got.label.as_ref().map(|l| l.mbid.clone()),
            opt(&want["label"]["id"])
        );
        assert_eq!(
            got.label.as_ref().map(|l| l.name.clone()),
            opt(&want["label"]["name"])
        );
    }

    let media = json["media"].as_array().unwrap();
    assert_eq!(r.media.len(), media.len());
    for (got, want) in r.media.iter().zip(media) {
        assert_eq!(i64::from(got.position), want["position"].as_i64().unwrap());
        assert_eq!(got.format, opt(&want["format"]));
        let tracks = want["tracks"].as_array().unwrap();
        assert_eq!(got.tracks.len(), tracks.len());
        for (t, w) in got.tracks.iter().zip(tracks) {
            assert_eq!(t.mbid, s(&w["id"]));
            assert_eq!(t.title, s(&w["title"]));
            assert_eq!(t.number, s(&w["number"]));
            assert_eq!(t.length_ms.map(i64::from), w["length"].as_i64());
            assert_eq!(t.recording.as_ref().unwrap().mbid, s(&w["recording"]["id"]));
            check_credits(&t.artist_credit, &w["artist-credit"]);
        }
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        1
    );

    // The second lookup is a fresh hit: no upstream request.
    let again = client
        .get_release(pb::GetReleaseRequest {
            mbid: RELEASE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(fresh(&again.cache));
    assert_eq!(again.release.unwrap(), r);
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        1
    );

    // The request carried the configured User-Agent and one inc= for everything.
    let request = &app.musicbrainz.requests().await[0];
    assert_eq!(
        request.headers.get("user-agent").unwrap(),
        musicmeta_tests::app::TEST_USER_AGENT
    );
    let query = request.url.query().unwrap_or_default();
    for inc in [
        "recordings",
        "artist-credits",
        "labels",
        "release-groups",
        "media",
    ] {
        assert!(query.contains(inc), "inc= lacks {inc}: {query}");
    }
}

#[tokio::test]
async fn artist_cold_then_warm() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let json = fixtures::lookup_json(EntityType::Artist, ARTIST);
    let answer = client
        .get_artist(pb::GetArtistRequest {
            mbid: ARTIST.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let a = answer.artist.unwrap();
    assert_eq!(a.name, s(&json["name"]));
    assert_eq!(a.sort_name, s(&json["sort-name"]));
    assert_eq!(a.r#type, opt(&json["type"]));
    assert_eq!(a.gender, opt(&json["gender"]));
    assert_eq!(a.country, opt(&json["country"]));
    assert_eq!(a.area, opt(&json["area"]["name"]));
    let span = a.life_span.clone().unwrap();
    assert_eq!(span.begin, opt(&json["life-span"]["begin"]));
    assert_eq!(
        span.ended,
        json["life-span"]["ended"].as_bool().unwrap_or(false)
    );
    assert_eq!(
        a.aliases.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        names(&json["aliases"], "name")
    );
    assert_eq!(
        a.tags.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        names(&json["tags"], "name")
    );
    assert_eq!(
        a.genres.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        names(&json["genres"], "name")
    );
    assert_eq!(a.urls.len(), url_count(&json));
    assert!(!a.aliases.is_empty() && !a.urls.is_empty());

    let again = client
        .get_artist(pb::GetArtistRequest {
            mbid: ARTIST.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.artist.unwrap(), a);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Artist, ARTIST).await,
        1
    );
}

#[tokio::test]
async fn release_group_cold_then_warm() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let json = fixtures::lookup_json(EntityType::ReleaseGroup, RELEASE_GROUP);
    let g = client
        .get_release_group(pb::GetReleaseGroupRequest {
            mbid: RELEASE_GROUP.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .release_group
        .unwrap();
    assert_eq!(g.title, s(&json["title"]));
    assert_eq!(g.primary_type, opt(&json["primary-type"]));
    assert_eq!(g.first_release_date, opt(&json["first-release-date"]));
    check_credits(&g.artist_credit, &json["artist-credit"]);
    let mut want: Vec<String> = names(&json["releases"], "id");
    let mut got: Vec<String> = g.releases.iter().map(|r| r.mbid.clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "release group ↔ releases");
    assert_eq!(g.tags.len(), names(&json["tags"], "name").len());
    assert_eq!(g.urls.len(), url_count(&json));

    let again = client
        .get_release_group(pb::GetReleaseGroupRequest {
            mbid: RELEASE_GROUP.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.release_group.unwrap(), g);
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::ReleaseGroup, RELEASE_GROUP)
            .await,
        1
    );
}

#[tokio::test]
async fn recording_cold_then_warm() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let json = fixtures::lookup_json(EntityType::Recording, RECORDING);
    let r = client
        .get_recording(pb::GetRecordingRequest {
            mbid: RECORDING.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .recording
        .unwrap();
    assert_eq!(r.title, s(&json["title"]));
    assert_eq!(r.length_ms.map(i64::from), json["length"].as_i64());
    assert_eq!(r.video, json["video"].as_bool().unwrap_or(false));
    let mut isrcs: Vec<String> = json["isrcs"].as_array().unwrap().iter().map(s).collect();
    isrcs.sort();
    assert_eq!(r.isrcs, isrcs);
    check_credits(&r.artist_credit, &json["artist-credit"]);
    assert_eq!(r.tags.len(), names(&json["tags"], "name").len());
    assert_eq!(r.aliases.len(), names(&json["aliases"], "name").len());
    assert_eq!(r.urls.len(), url_count(&json));

    let again = client
        .get_recording(pb::GetRecordingRequest {
            mbid: RECORDING.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.recording.unwrap(), r);
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Recording, RECORDING)
            .await,
        1
    );
}

#[tokio::test]
async fn label_cold_then_warm() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let json = fixtures::lookup_json(EntityType::Label, LABEL);
    let l = client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .unwrap()
        .into_inner()
        .label
        .unwrap();
    assert_eq!(l.name, s(&json["name"]));
    assert_eq!(l.label_code.map(i64::from), json["label-code"].as_i64());
    assert_eq!(l.r#type, opt(&json["type"]));
    assert_eq!(l.country, opt(&json["country"]));
    assert_eq!(
        l.genres.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        names(&json["genres"], "name")
    );
    assert_eq!(l.urls.len(), url_count(&json));

    let again = client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.label.unwrap(), l);
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        1
    );
}
