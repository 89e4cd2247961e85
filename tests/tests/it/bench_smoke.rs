//! The CI smoke run of the benchmark tooling (`scripts/bench`,
//! docs/benchmarks.md): `seed`, `bench load` (hits with uniform and Zipf
//! keys, a fixed offered rate, cold misses against `mb-replay
//! --synthesize`), `bench ingest` and `bench teardown`, each at a tiny scale
//! against a TestApp, so the benchmark code cannot rot; and `bench
//! grpc-body`, whose request h2load sends. It checks that the tools run and
//! every call was answered, not how fast.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use musicmeta_tests::{TestApp, TestOptions};
use serde_json::Value;

/// Runs one of this package's programs to completion and parses the JSON
/// object it prints last; panics with its stderr when it fails.
async fn run_json(program: &'static str, args: Vec<String>) -> Value {
    // The programs talk to the app served by this test's runtime, so wait
    // for them off it.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(&args)
            .output()
            .expect("start the program")
    })
    .await
    .expect("program runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{program} printed no JSON ({e}): {stdout}"))
}

const SEED: &str = env!("CARGO_BIN_EXE_seed");
const BENCH: &str = env!("CARGO_BIN_EXE_bench");
const MB_REPLAY: &str = env!("CARGO_BIN_EXE_mb-replay");

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A scratch folder removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mmt-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_all_answered(result: &Value) {
    assert!(
        result["ok"].as_u64().unwrap_or(0) > 0,
        "no call answered: {result}"
    );
    assert_eq!(result["errors"], 0, "calls failed: {result}");
    for q in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(result[q].as_f64().unwrap_or(0.0) > 0.0, "no {q}: {result}");
    }
}

#[tokio::test]
async fn seeded_releases_and_artists_are_served_under_load() {
    let app = TestApp::spawn_with(TestOptions::with_metrics()).await;
    let scratch = Scratch::new();
    let addr = format!("http://{}", app.addr);
    let metrics = format!(
        "http://{}/metrics",
        app.metrics_addr.expect("query-api serves /metrics")
    );

    let seeded = run_json(
        SEED,
        args(&[
            "--database-url",
            &app.db.url,
            "--releases",
            "40",
            "--synthesized",
            "15",
            "--connections",
            "2",
            "--batch",
            "7",
            "--keys-dir",
            &scratch.path(""),
            "--json",
        ]),
    )
    .await;
    assert_eq!(seeded["releases"], 40, "{seeded}");
    assert_eq!(seeded["copies"], 25, "{seeded}");
    let artists = seeded["artists"].as_i64().expect("artist count");
    assert!(artists >= 15, "every release credits an artist: {seeded}");
    // Everything the seed says it wrote is there, fetched, and in the key files.
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
            .await,
        40
    );
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM artist WHERE fetched_at IS NOT NULL")
            .await,
        artists
    );
    assert!(app.db.count("SELECT count(*) FROM track").await > 40);
    // The copies were made with foreign-key checks off: every reference
    // they hold must still resolve, and each has its own tracks and group.
    for (what, sql) in [
        (
            "releases without tracks",
            "SELECT count(*) FROM release r WHERE NOT EXISTS \
             (SELECT 1 FROM track t WHERE t.release_mbid = r.mbid)",
        ),
        (
            "releases without their group",
            "SELECT count(*) FROM release r LEFT JOIN release_group g \
             ON g.mbid = r.release_group_mbid WHERE g.mbid IS NULL",
        ),
        (
            "tracks without their recording or medium",
            "SELECT count(*) FROM track t LEFT JOIN recording c ON c.mbid = t.recording_mbid \
             LEFT JOIN medium m ON (m.release_mbid, m.position) = (t.release_mbid, t.medium_position) \
             WHERE c.mbid IS NULL OR m.release_mbid IS NULL",
        ),
        (
            "credits without their artist",
            "SELECT count(*) FROM artist_credit c LEFT JOIN artist a ON a.mbid = c.artist_mbid \
             WHERE a.mbid IS NULL",
        ),
        (
            "release groups shared by a copy and its original",
            "SELECT count(*) FROM (SELECT release_group_mbid FROM release \
             GROUP BY 1 HAVING count(*) > 1) shared",
        ),
    ] {
        assert_eq!(app.db.count(sql).await, 0, "{what}");
    }
    let keys = std::fs::read_to_string(Path::new(&scratch.path("releases.txt"))).expect("keys");
    assert_eq!(keys.lines().count(), 40);

    // Every key once, then stop, long before the duration: how the
    // benchmark warms the hot set (and builds each stored answer). First,
    // so the uniform run below finds every key in the tier however slowly
    // this machine answers.
    let once = run_json(
        BENCH,
        args(&[
            "load",
            "--addr",
            &addr,
            "--clients",
            "3",
            "--duration",
            "600",
            "--warmup",
            "0",
            "--method",
            "release",
            "--keys",
            &scratch.path("releases.txt"),
            "--dist",
            "once",
            "--metrics",
            &metrics,
            "--json",
        ]),
    )
    .await;
    assert_all_answered(&once);
    assert_eq!(once["requests"], 40, "{once}");
    assert_eq!(once["dist"], "once", "{once}");

    // Closed loop, keys from the file, uniform; the hot tier's hit ratio
    // read from query-api's counters.
    let hits = run_json(
        BENCH,
        args(&[
            "load",
            "--addr",
            &addr,
            "--clients",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--method",
            "release",
            "--keys",
            &scratch.path("releases.txt"),
            "--metrics",
            &metrics,
            "--json",
        ]),
    )
    .await;
    assert_all_answered(&hits);
    assert_eq!(hits["keys"], 40);
    // 40 releases fit the tier, and each was read once above: every read hits.
    let ratio = hits["hot_hit_ratio"].as_f64().expect("a hit ratio");
    assert!(ratio > 0.5 && ratio <= 1.0, "{hits}");

    // Keys from the database, Zipf-skewed, and a watched process (this one).
    let pid = std::process::id().to_string();
    let hits = run_json(
        BENCH,
        args(&[
            "load",
            "--addr",
            &addr,
            "--clients",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--method",
            "artist",
            "--database-url",
            &app.db.url,
            "--dist",
            "zipf:1.1",
            "--watch-pid",
            &pid,
            "--json",
        ]),
    )
    .await;
    assert_all_answered(&hits);
    assert_eq!(hits["keys"], artists);
    assert!(hits["processes"][0]["peak_rss_mb"].as_f64().unwrap_or(0.0) > 0.0);

    // A fixed offered rate: the schedule allows at most rate × duration
    // calls in the measured second (one per client may straddle its start).
    let paced = run_json(
        BENCH,
        args(&[
            "load",
            "--addr",
            &addr,
            "--clients",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--method",
            "release",
            "--keys",
            &scratch.path("releases.txt"),
            "--rate",
            "40",
            "--json",
        ]),
    )
    .await;
    assert_all_answered(&paced);
    assert!(
        paced["requests"].as_u64().unwrap_or(u64::MAX) <= 42,
        "{paced}"
    );
}

/// `bench grpc-body` frames a GetRelease request that a generic HTTP/2
/// client (h2load, as `scripts/bench` runs it; `scripts/test` installs it)
/// sends to query-api and gets the release back every time.
#[tokio::test]
async fn h2load_sends_a_grpc_body_from_bench_and_gets_the_release() {
    let app = TestApp::spawn().await;
    let scratch = Scratch::new();
    run_json(
        SEED,
        args(&[
            "--database-url",
            &app.db.url,
            "--releases",
            "1",
            "--keys-dir",
            &scratch.path(""),
            "--json",
        ]),
    )
    .await;
    let keys = std::fs::read_to_string(scratch.path("releases.txt")).expect("keys");
    let mbid = keys.lines().next().expect("one key").to_owned();
    let body = scratch.path("get-release.grpc");
    let output = Command::new(BENCH)
        .args([
            "grpc-body",
            "--method",
            "release",
            "--mbid",
            &mbid,
            "--out",
            &body,
        ])
        .output()
        .expect("run bench grpc-body");
    assert!(output.status.success(), "{output:?}");
    let path = String::from_utf8(output.stdout).expect("a path");
    assert_eq!(path.trim(), "/musicmeta.v1.MetadataService/GetRelease");

    // What a tonic client gets for the same call, for the size of an answer.
    use prost::Message;
    let release_bytes = app
        .client()
        .await
        .get_release(musicmeta_proto::v1::GetReleaseRequest { mbid: mbid.clone() })
        .await
        .expect("the release is served")
        .into_inner()
        .release
        .expect("with its release")
        .encoded_len();
    assert!(release_bytes > 1000, "{release_bytes}");

    let url = format!("http://{}{}", app.addr, path.trim());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("h2load")
            .args(["-n", "20", "-c", "2", "-m", "1", "-d", &body])
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .arg(url)
            .output()
            .expect("h2load is installed (scripts/test installs nghttp2-client)")
    })
    .await
    .expect("h2load runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    assert!(text.contains("20 succeeded, 0 failed, 0 errored"), "{text}");
    // gRPC errors are HTTP 200s with no message, so the bytes tell: each
    // answer carries the release (plus its frame header and cache info).
    let data: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("traffic: "))
        .and_then(|l| l.split(", ").find(|part| part.ends_with(" data")))
        .and_then(|part| part.split(['(', ')']).nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no data bytes in: {text}"));
    assert!(
        data / 20 > release_bytes,
        "{data} bytes for 20 answers of {release_bytes}: {text}"
    );
}

/// `mb-replay --synthesize` on a free port; killed when dropped.
struct Replay {
    child: Child,
    base_url: String,
}

impl Replay {
    fn start() -> Self {
        let mut child = Command::new(MB_REPLAY)
            .args(["127.0.0.1:0", "--synthesize"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start mb-replay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("mb-replay says where it serves");
        let base_url = line
            .split_whitespace()
            .last()
            .expect("an address")
            .to_owned();
        Self { child, base_url }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn cold_misses_and_ingest_against_a_synthesizing_upstream() {
    let replay = Replay::start();
    assert!(replay.base_url.ends_with("/ws/2"), "{}", replay.base_url);
    let mut app = TestApp::spawn_with(TestOptions {
        env: vec![
            (
                "MUSICMETA_MUSICBRAINZ__BASE_URL".into(),
                replay.base_url.clone(),
            ),
            // The limiter effectively off, as in the benchmark.
            (
                "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND".into(),
                "100000".into(),
            ),
        ],
        ..TestOptions::default()
    })
    .await;
    let addr = format!("http://{}", app.addr);

    let mut release_misses = 0;
    for method in ["release", "artist"] {
        let misses = run_json(
            BENCH,
            args(&[
                "load",
                "--addr",
                &addr,
                "--clients",
                "2",
                "--duration",
                "1",
                "--warmup",
                "0",
                "--method",
                method,
                "--miss",
                "--json",
            ]),
        )
        .await;
        assert_all_answered(&misses);
        assert_eq!(misses["mode"], "miss");
        if method == "release" {
            release_misses = misses["ok"].as_i64().expect("count");
        }
    }
    // Each answered miss stored its own release (no warm-up, so every call
    // was counted).
    let filled = app
        .db
        .count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
        .await;
    assert_eq!(filled, release_misses);

    let amqp_url = musicmeta_tests::broker::url();
    let ingest = run_json(
        BENCH,
        args(&[
            "ingest",
            "--database-url",
            &app.db.url,
            "--amqp-url",
            &amqp_url,
            "--exchange",
            &app.broker.exchange,
            "--queue",
            &app.broker.queue,
            "--jobs",
            "30",
            "--timeout",
            "60",
            "--json",
        ]),
    )
    .await;
    assert_eq!(ingest["stored"], 30, "{ingest}");
    assert!(ingest["per_s"].as_f64().unwrap_or(0.0) > 0.0, "{ingest}");
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM release WHERE fetched_at IS NOT NULL")
            .await,
        filled + 30
    );

    app.stop_workers().await;
    let output = tokio::task::spawn_blocking({
        let (exchange, queue) = (app.broker.exchange.clone(), app.broker.queue.clone());
        move || {
            Command::new(BENCH)
                .args(["teardown", "--amqp-url", &amqp_url, "--exchange", &exchange])
                .args(["--queue", &queue])
                .output()
                .expect("run bench teardown")
        }
    })
    .await
    .expect("teardown runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
