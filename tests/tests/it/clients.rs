//! Real MusicBrainz clients against the ws/2 HTTP API, changed only in the
//! host they talk to: beets (its musicbrainz plugin, from PyPI), Picard's
//! exact requests (replayed with its headers and inc lists, from its
//! source), and musicbrainzngs in JSON mode. What they parse must equal the
//! recorded MusicBrainz answers.
//!
//! Needs `python3` with the packages of tests/python/requirements.txt;
//! without them these tests fail, they do not skip.

use std::path::{Path, PathBuf};

use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::python::{self, describe};
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use serde_json::Value;

/// Releases whose recordings carry what beets reads (tracks with aliases,
/// release groups, label info); see tests/python/beets_lookup.py.
const BEETS_RELEASES: [&str; 3] = [
    "21a03203-91a4-4948-ae1e-2d0977f1bdbc",
    "942b9e7b-3a43-4f22-b200-ab69ee302d16",
    "b1dc9838-adf3-43f2-93f9-802b46e5fe59",
];
const WARP: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(TestOptions {
        env: vec![("MUSICMETA_HTTP__MISS_WAIT_MS".into(), "20000".into())],
        ..TestOptions::default()
    })
    .await
}

async fn run(script: &str, args: &[String]) -> std::process::Output {
    let mut all = vec![script.to_owned()];
    all.extend(args.iter().cloned());
    python::output(python::command(&scripts(), &all)).await
}

fn lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", describe(output)))
        })
        .collect()
}

/// The tracks of a recorded release, in order.
fn tracks(release: &Value) -> Vec<&Value> {
    release["media"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["tracks"].as_array().into_iter().flatten())
        .collect()
}

#[tokio::test]
async fn beets_tags_releases_from_the_cache() {
    python::require("import beets, beetsplug");
    let app = spawn().await;
    let mut args = vec![app.http_addr.to_string()];
    for mbid in BEETS_RELEASES {
        args.extend(["release".to_owned(), mbid.to_owned()]);
    }
    let output = run("beets_lookup.py", &args).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let answers = lines(&output);
    assert_eq!(answers.len(), BEETS_RELEASES.len());
    for (answer, mbid) in answers.iter().zip(BEETS_RELEASES) {
        let want = fixtures::lookup_json(EntityType::Release, mbid);
        let info = &answer["info"];
        assert_eq!(info["album_id"], mbid);
        assert_eq!(info["album"], want["title"], "{mbid}");
        assert_eq!(
            info["releasegroup_id"], want["release-group"]["id"],
            "{mbid}"
        );
        let want_tracks = tracks(&want);
        let got = info["tracks"].as_array().expect("tracks");
        assert_eq!(got.len(), want_tracks.len(), "{mbid}");
        for (track, w) in got.iter().zip(&want_tracks) {
            assert_eq!(track["release_track_id"], w["id"]);
            assert_eq!(track["track_id"], w["recording"]["id"]);
            assert_eq!(track["title"], w["title"]);
            if let Some(ms) = w["length"].as_f64() {
                let secs = track["length"].as_f64().expect("a length");
                assert!(
                    (secs - ms / 1000.0).abs() < 0.001,
                    "{mbid}: {secs} vs {ms} ms"
                );
            }
        }
        // beets asked once per release; MusicBrainz saw one request for it.
        assert_eq!(
            app.musicbrainz.lookups_of(EntityType::Release, mbid).await,
            1
        );
    }
}

#[tokio::test]
async fn picards_requests_are_answered() {
    python::require("import json, http.client");
    let app = spawn().await;
    let output = run(
        "picard_requests.py",
        &["send".to_owned(), app.http_addr.to_string()],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let answers = lines(&output);
    assert!(answers.len() >= 10, "{}", describe(&output));
    for answer in &answers {
        let name = answer["name"].as_str().unwrap_or_default();
        let status = answer["status"].as_u64().unwrap_or_default();
        // No recorded answer to a fuzzy TOC lookup: MusicBrainz's 404 is a
        // faithful answer to it here.
        let allowed: &[u64] = if name.starts_with("toc_lookup") {
            &[200, 404]
        } else {
            &[200]
        };
        assert!(allowed.contains(&status), "{name}: {answer}");
        assert_eq!(
            answer["content_type"], "application/json; charset=utf-8",
            "{name}"
        );
        let body = &answer["body"];
        if name.starts_with("release_default") || name.starts_with("release_track_ars") {
            let want =
                fixtures::lookup_json(EntityType::Release, "b1dc9838-adf3-43f2-93f9-802b46e5fe59");
            assert_eq!(body["id"], want["id"], "{name}");
            assert_eq!(body["title"], want["title"], "{name}");
            assert_eq!(tracks(body).len(), tracks(&want).len(), "{name}");
        }
        if name.starts_with("recording_standalone") {
            assert_eq!(body["id"], "cb2cc207-8125-445c-9ef9-6ea44eee959a", "{name}");
        }
        if name == "discid_lookup" {
            assert!(
                body["releases"].is_array(),
                "{name}: Picard reads document['releases']"
            );
        }
    }
    // Four release lookups with four inc lists: one upstream request.
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, "b1dc9838-adf3-43f2-93f9-802b46e5fe59")
            .await,
        1
    );
}

#[tokio::test]
async fn musicbrainzngs_in_json_mode_reads_the_cache() {
    python::require("import musicbrainzngs");
    let app = spawn().await;
    let output = run(
        "ngs_lookup.py",
        &[
            app.http_addr.to_string(),
            "--format".into(),
            "json".into(),
            "label".into(),
            WARP.into(),
            "--inc".into(),
            "aliases".into(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let want = fixtures::lookup_json(EntityType::Label, WARP);
    assert_eq!(answer["id"], WARP);
    assert_eq!(answer["name"], want["name"]);
}
