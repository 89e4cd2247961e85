//! The published job contract (`docs/jobs.md`, `docs/job.schema.json`):
//! the schema and `FetchJob`'s decoder agree on what a job is, and a job
//! published by a client this project did not write (pika, through
//! `tests/python/publish_jobs.py`) is fetched and stored, or dead-lettered
//! when it speaks an unknown contract version.
//!
//! Needs `python3` (or `$MUSICMETA_TEST_PYTHON`) with pika; without it these
//! tests fail, they do not skip.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lapin::options::BasicGetOptions;
use lapin::types::{AMQPValue, ShortString};
use musicmeta_ingest_worker::{JobOutcome, JobReport};
use musicmeta_shared::amqp;
use musicmeta_shared::jobs::{FetchJob, Job, JobDecodeError, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, broker};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use uuid::Uuid;

const WARP: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";
const LABEL_2: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c";
const RICK_ASTLEY: &str = "db92a151-1ac2-438b-bc43-b82e149ddd50";
const JOB_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

use musicmeta_tests::python::{self, describe};
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validator() -> jsonschema::Validator {
    let path = workspace().join("docs/job.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

/// `body` with `key` set to `value` (or removed when `value` is null).
fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut body = body.clone();
    let object = body.as_object_mut().expect("an object");
    if value.is_null() {
        object.remove(key);
    } else {
        object.insert(key.to_owned(), value);
    }
    body
}

#[test]
fn the_schema_and_the_decoder_agree() {
    let validator = validator();
    let mbid = Mbid::parse(WARP).unwrap();
    let encoded = FetchJob::new(EntityType::ReleaseGroup, mbid)
        .with_depth(2)
        .forced()
        .encode();
    let encoded: Value = serde_json::from_slice(&encoded).expect("encode writes JSON");
    let minimal = json!({"v": 1, "job_id": JOB_ID, "entity_type": "label", "mbid": WARP});

    let mut valid = vec![
        encoded,
        minimal.clone(),
        with(&minimal, "mbid", json!(WARP.to_uppercase())),
        with(&minimal, "job_id", json!(JOB_ID.to_uppercase())),
        with(&minimal, "depth", json!(3)),
        with(&minimal, "force", json!(true)),
        with(
            &minimal,
            "priority",
            json!("ignored: readers skip unknown fields"),
        ),
    ];
    for entity_type in EntityType::ALL {
        valid.push(with(&minimal, "entity_type", json!(entity_type.as_str())));
    }
    for body in &valid {
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{body} should validate: {errors:?}");
        let job = FetchJob::decode(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{body} should decode: {e}"));
        assert_eq!(
            job.mbid.to_string(),
            body["mbid"].as_str().unwrap().to_lowercase()
        );
        assert_eq!(u64::from(job.depth), body["depth"].as_u64().unwrap_or(0));
        assert_eq!(job.force, body["force"].as_bool().unwrap_or(false));
    }

    let invalid = [
        with(&minimal, "v", json!(2)),
        with(&minimal, "v", json!("1")),
        with(&minimal, "v", Value::Null),
        with(&minimal, "job_id", Value::Null),
        with(&minimal, "job_id", json!("job-1")),
        with(&minimal, "mbid", json!("nope")),
        with(&minimal, "mbid", json!(WARP.replace('-', ""))),
        with(&minimal, "mbid", json!(format!("{{{WARP}}}"))),
        with(&minimal, "mbid", json!(format!("{WARP}\n"))),
        with(&minimal, "mbid", Value::Null),
        with(&minimal, "entity_type", json!("work")),
        with(&minimal, "entity_type", json!("release_group")),
        with(&minimal, "depth", json!(4)),
        with(&minimal, "depth", json!(-1)),
        with(&minimal, "force", json!("yes")),
        json!([minimal.clone()]),
        json!("a string"),
    ];
    for body in &invalid {
        assert!(!validator.is_valid(body), "{body} should not validate");
        assert!(
            FetchJob::decode(body.to_string().as_bytes()).is_err(),
            "{body} should not decode"
        );
    }
    // Document jobs (version 2): what validates decodes, and the other way.
    let document = json!({"v": 2, "job_id": JOB_ID, "request": "release?release-group=05ce100c-eddf-4967-8d7e-33fc0883fe39&inc=labels+media&limit=100"});
    assert!(validator.is_valid(&document), "{document}");
    assert!(matches!(
        Job::decode(document.to_string().as_bytes()),
        Ok(Job::Document(_))
    ));
    for bad in [
        with(&document, "request", json!("")),
        with(&document, "request", json!("release?query=two words")),
        with(&document, "request", Value::Null),
        with(&document, "v", json!(3)),
    ] {
        assert!(!validator.is_valid(&bad), "{bad} should not validate");
        assert!(
            Job::decode(bad.to_string().as_bytes()).is_err(),
            "{bad} should not decode"
        );
    }
    // The two a worker tells apart (and dead-letters) by name.
    assert!(matches!(
        FetchJob::decode(with(&minimal, "v", json!(2)).to_string().as_bytes()),
        Err(JobDecodeError::UnsupportedVersion(2))
    ));
    assert!(matches!(
        FetchJob::decode(with(&minimal, "depth", json!(4)).to_string().as_bytes()),
        Err(JobDecodeError::TooDeep(4))
    ));
}

/// The example body in `docs/jobs.md` is a valid job.
#[test]
fn the_documented_example_is_a_valid_job() {
    let doc = std::fs::read_to_string(workspace().join("docs/jobs.md")).expect("docs/jobs.md");
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```json block in docs/jobs.md");
    let body: Value = serde_json::from_str(example).expect("the example is JSON");
    assert!(validator().is_valid(&body), "{body}");
    FetchJob::decode(example.as_bytes()).expect("the example decodes");
}

fn python_command(args: &[String]) -> Command {
    python::command(&workspace(), args)
}

fn require_pika() {
    python::require("import pika");
}

/// Runs `tests/python/publish_jobs.py` against the app's exchange, off the
/// runtime's threads so the worker in this process keeps consuming.
async fn publish_with_pika(app: &TestApp, routing_key: &str, extra: &[&str]) -> Output {
    require_pika();
    let mut args = vec![
        "tests/python/publish_jobs.py".to_owned(),
        "--url".to_owned(),
        broker::url(),
        "--exchange".to_owned(),
        app.broker.exchange.clone(),
        "--routing-key".to_owned(),
        routing_key.to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    python::output(python_command(&args)).await
}

/// The job ids the script printed, one JSON line per confirmed job.
fn published_ids(output: &Output) -> Vec<Uuid> {
    assert!(
        output.status.success(),
        "publish_jobs.py failed: {}",
        describe(output)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let printed: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{line:?} is not JSON ({e}): {}", describe(output)));
            printed["job_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .unwrap_or_else(|| panic!("{line:?} has no job_id"))
        })
        .collect()
}

/// The reports of the jobs `ids`, in whatever order the worker finishes
/// them (it runs up to `amqp.prefetch` jobs of a lane at once).
async fn await_reports(
    reports: &mut broadcast::Receiver<JobReport>,
    ids: &[Uuid],
) -> Vec<JobReport> {
    let mut pending: HashSet<Uuid> = ids.iter().copied().collect();
    let mut done = Vec::new();
    while !pending.is_empty() {
        let report = next_report(reports, |r| {
            r.job_id.is_some_and(|id| pending.contains(&id))
        })
        .await;
        pending.remove(&report.job_id.expect("matched by job id"));
        done.push(report);
    }
    done
}

#[tokio::test]
async fn jobs_published_with_pika_are_fetched_and_stored() {
    let app = TestApp::spawn().await;
    let jobs = [
        format!("label:{WARP}"),
        format!("label:{LABEL_2}"),
        format!("artist:{RICK_ASTLEY}"),
    ];
    let mut args: Vec<&str> = Vec::new();
    for job in &jobs {
        args.extend(["--job", job.as_str()]);
    }
    let mut reports = app.reports();
    let output = publish_with_pika(&app, "fetch.backfill", &args).await;
    let ids = published_ids(&output);
    assert_eq!(ids.len(), 3, "{}", describe(&output));

    for report in await_reports(&mut reports, &ids).await {
        let (entity_type, mbid) = report.entity.expect("a decoded job names its entity");
        assert_eq!(report.lane, Lane::Backfill);
        assert_eq!(
            report.outcome,
            JobOutcome::Stored { stored: mbid },
            "{report:?}"
        );
        assert!(
            jobs.contains(&format!("{entity_type}:{mbid}")),
            "{report:?}"
        );
    }
    let fetched = |table: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE fetched_at IS NOT NULL \
             AND mbid IN ('{WARP}', '{LABEL_2}', '{RICK_ASTLEY}')"
        )
    };
    assert_eq!(app.db.count(&fetched("label")).await, 2);
    assert_eq!(app.db.count(&fetched("artist")).await, 1);

    // The same jobs again, forced past the freshness check: same rows.
    let before = app.db.snapshot().await;
    args.push("--force");
    let again = published_ids(&publish_with_pika(&app, "fetch.backfill", &args).await);
    assert_eq!(again.len(), 3);
    for report in await_reports(&mut reports, &again).await {
        assert!(
            matches!(report.outcome, JobOutcome::Stored { .. }),
            "{report:?}"
        );
    }
    assert_eq!(
        app.musicbrainz.lookups_of(EntityType::Label, WARP).await,
        2,
        "forced jobs reach MusicBrainz again"
    );
    assert_eq!(app.db.snapshot().await, before);
}

#[tokio::test]
async fn a_job_of_an_unknown_contract_version_is_dead_lettered() {
    let app = TestApp::spawn().await;
    let mut reports = app.reports();
    // The lane queues exist before pika publishes (a worker declares them
    // when it connects, which may not have happened yet).
    app.broker
        .depth(&app.broker.lane_queue(Lane::Backfill))
        .await;
    let job = format!("label:{WARP}");
    let output = publish_with_pika(
        &app,
        "fetch.backfill",
        &["--contract-version", "3", "--job", &job],
    )
    .await;
    let ids = published_ids(&output);
    assert_eq!(ids.len(), 1, "{}", describe(&output));

    let report = next_report(&mut reports, |_| true).await;
    match &report.outcome {
        JobOutcome::DeadLettered { reason } => {
            assert!(reason.contains("version 3"), "{reason}");
        }
        other => panic!("expected the job dead-lettered, got {other:?}"),
    }
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 1);
    assert_eq!(
        app.broker
            .depth(&app.broker.lane_queue(Lane::Backfill))
            .await,
        0
    );
    assert!(app.musicbrainz.requests().await.is_empty());

    // What an operator finds there: the body as published, and why.
    let connection = amqp::connect(&broker::url()).await.expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let message = channel
        .basic_get(
            app.broker.dead_letter_queue.as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
        .expect("the dead letter");
    let body: Value = serde_json::from_slice(&message.delivery.data).expect("JSON body");
    assert_eq!(body["v"], 3);
    assert_eq!(body["job_id"], ids[0].to_string());
    let properties = &message.delivery.properties;
    assert_eq!(
        properties.message_id().as_ref().map(|id| id.to_string()),
        Some(ids[0].to_string())
    );
    assert_eq!(properties.delivery_mode(), &Some(2));
    // Why, and from which lane (where `ingest-worker dead-letters --requeue`
    // puts it back).
    let header = |key: &str| match properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(key))
    {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("header {key}: {other:?} in {properties:?}"),
    };
    assert!(
        header("x-musicmeta-reason").contains("version 3"),
        "{}",
        header("x-musicmeta-reason")
    );
    assert_eq!(header("x-musicmeta-lane"), "backfill");
    let _ = connection.close(200, ShortString::from("bye")).await;
}
