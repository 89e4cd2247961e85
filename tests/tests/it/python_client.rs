//! The Python client in `clients/python/` (stubs generated from `proto/` by
//! grpcio-tools at start), run as a separate process against a live
//! query-api + worker + stand-in MusicBrainz: what a client written outside
//! this project sees of the API, its JSON and its status codes.
//!
//! Needs `python3` (or `$MUSICMETA_TEST_PYTHON`) with grpcio and
//! grpcio-tools; without them these tests fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::{TestApp, fixtures};
use serde_json::Value;

const RELEASE: &str = "7c07f9a1-381f-4c00-8d17-2acc537597f8"; // BEYONCÉ, 2 media

use musicmeta_tests::python::{self, describe};

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python")
}

fn python_command(args: &[&str]) -> Command {
    python::command(&client_dir(), args)
}

fn require_python() {
    python::require("import grpc, grpc_tools, google.protobuf");
}

/// Runs `python3 <args>` in `clients/python/` off the runtime's threads, so
/// the query-api and worker in this process keep serving meanwhile.
async fn run_python(args: Vec<String>) -> Output {
    python::output(python_command(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await
}

/// `python3 -m musicmeta_client --addr <app> <args>`.
async fn run_client(app: &TestApp, args: &[&str]) -> Output {
    let mut all = vec![
        "-m".to_owned(),
        "musicmeta_client".to_owned(),
        "--addr".to_owned(),
        app.addr.to_string(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run_python(all).await
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(output)))
}

/// The `{"code": ..., "message": ...}` a failed lookup prints, with exit 1.
fn expect_error(output: &Output, code: &str) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    let error = stdout_json(output);
    assert_eq!(error["code"], code, "{}", describe(output));
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        !message.is_empty(),
        "an error message: {}",
        describe(output)
    );
    message
}

/// A folder removed when the test ends, however it ends.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn path_str(&self) -> String {
        self.0.to_str().expect("UTF-8 temp path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn cold_release_lookup_prints_the_release_as_json() {
    require_python();
    let app = TestApp::spawn().await;
    let want = fixtures::lookup_json(EntityType::Release, RELEASE);

    // No --generated: the client generates its stubs from proto/ itself.
    let output = run_client(&app, &["release", RELEASE, "--timeout", "15"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let answer = stdout_json(&output);

    let release = &answer["release"];
    assert_eq!(release["mbid"], RELEASE);
    assert_eq!(want["title"], "BEYONCÉ");
    assert_eq!(release["title"], want["title"]);
    let media = release["media"].as_array().expect("media");
    let want_media = want["media"].as_array().expect("fixture media");
    assert_eq!(media.len(), 2);
    assert_eq!(media.len(), want_media.len());
    for (got, w) in media.iter().zip(want_media) {
        assert_eq!(got["position"], w["position"]);
        let tracks = got["tracks"].as_array().expect("tracks");
        let want_tracks = w["tracks"].as_array().expect("fixture tracks");
        assert_eq!(tracks.len(), want_tracks.len(), "medium {}", w["position"]);
        assert_eq!(got["track_count"], w["track-count"]);
        assert_eq!(tracks[0]["title"], want_tracks[0]["title"]);
    }

    assert_eq!(answer["cache"]["freshness"], "FRESHNESS_FRESH");
    assert!(
        answer["cache"]["fetched_at"].is_string(),
        "fetched_at: {}",
        answer["cache"]
    );
    // A cold lookup: the worker fetched it, once, during the call.
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        1
    );
}

#[tokio::test]
async fn malformed_mbid_is_invalid_argument() {
    require_python();
    let app = TestApp::spawn().await;

    let output = run_client(&app, &["artist", "not-an-mbid"]).await;
    expect_error(&output, "INVALID_ARGUMENT");
    // Refused before anything was queued or fetched.
    assert!(app.musicbrainz.requests().await.is_empty());
}

#[tokio::test]
async fn unknown_mbid_is_not_found_for_every_entity_type() {
    require_python();
    let app = TestApp::spawn().await;

    // Stubs generated once with the client's generator, then reused.
    let stubs = TempDir::new("musicmeta-py-stubs");
    let generated = run_python(vec![
        "-m".to_owned(),
        "musicmeta_client.generate".to_owned(),
        stubs.path_str(),
    ])
    .await;
    assert_eq!(generated.status.code(), Some(0), "{}", describe(&generated));
    assert!(
        stubs
            .0
            .join("musicmeta/v1/metadata_service_pb2_grpc.py")
            .is_file()
    );

    for entity_type in EntityType::ALL {
        let mbid = uuid::Uuid::new_v4().to_string();
        let output = run_client(
            &app,
            &[
                "--generated",
                &stubs.path_str(),
                entity_type.as_str(),
                &mbid,
                "--timeout",
                "15",
            ],
        )
        .await;
        expect_error(&output, "NOT_FOUND");
        // MusicBrainz was asked (by the worker) and said 404.
        assert_eq!(
            app.musicbrainz.lookups_of(entity_type, &mbid).await,
            1,
            "{}",
            entity_type.as_str()
        );
    }
}

/// A server that closes lookups with `grpc.lookup_token` answers the
/// client that sends it (`--token`), and refuses the one that does not.
#[tokio::test]
async fn the_client_sends_the_lookup_token() {
    require_python();
    const TOKEN: &str = "python-lookup-token-0123";
    let app = TestApp::spawn_with(musicmeta_tests::TestOptions {
        env: vec![("MUSICMETA_GRPC__LOOKUP_TOKEN".into(), TOKEN.into())],
        ..musicmeta_tests::TestOptions::default()
    })
    .await;

    let refused = run_client(&app, &["release", RELEASE]).await;
    expect_error(&refused, "UNAUTHENTICATED");
    let answered = run_client(&app, &["release", RELEASE, "--token", TOKEN]).await;
    assert_eq!(answered.status.code(), Some(0), "{}", describe(&answered));
    assert_eq!(stdout_json(&answered)["release"]["mbid"], RELEASE);
}
