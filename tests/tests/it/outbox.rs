//! One fetch-request path, seven producers. For each — a lookup's miss, a
//! stale refresh, admin `Refresh` and `Backfill`, a catalog completion,
//! `ingest-worker backfill` and a worker's crawl — the broker is down when
//! the fetch is asked for: the job waits in the outbox, and once the broker
//! is back it arrives on its lane exactly once.

use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_ingest_worker::backfill::{self, BackfillOptions, Progress};
use musicmeta_musicbrainz::parse_entity;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_client::AdminServiceClient;
use musicmeta_proto::v1::catalog_service_client::CatalogServiceClient;
use musicmeta_query_api::auth::AttachToken;
use musicmeta_shared::db::{self, EntityWriter, PgStore};
use musicmeta_shared::domain::FetchOutcome;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tonic::Code;

const ARTIST: &str = "24f1766e-9635-4d58-a4d4-9413f9f98a4c";
const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";
/// One track and one label: a crawl of depth 1 asks for two children.
const RELEASE: &str = "987f3e2d-22a6-4a4f-b840-c80c26b8b91a";
const ADMIN_TOKEN: &str = "admin-token-for-outbox-tests";

fn mbid(s: &str) -> Mbid {
    Mbid::parse(s).unwrap()
}

/// A test instance whose query-api (and workers) reach the broker through a
/// proxy the test can cut.
async fn spawn(workers: usize, env: &[(&str, &str)]) -> TestApp {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("MUSICMETA_GRPC__ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    TestApp::spawn_with(TestOptions {
        workers,
        through_proxies: true,
        env,
        ..TestOptions::default()
    })
    .await
}

/// Waits until the outbox holds `n` jobs. The outbox is a table, with no
/// event to await, so it is polled (every 50 ms, for up to a minute).
async fn outbox_holds(app: &TestApp, n: i64) {
    for _ in 0..1200 {
        if app.db.count("SELECT count(*) FROM job_outbox").await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox never held {n} jobs");
}

/// Cuts the broker; `ask` makes the request while it is down, which must
/// stage `staged` jobs; then the broker comes back and every job must arrive
/// on `lane` exactly once. Returns the jobs that arrived.
async fn with_broker_down(
    app: &TestApp,
    staged: i64,
    lane: Lane,
    ask: impl AsyncFnOnce(),
) -> Vec<FetchJob> {
    let broker = app.broker_proxy.as_ref().expect("proxied broker");
    broker.cut();
    ask().await;
    outbox_holds(app, staged).await;
    assert!(
        app.broker.take_jobs(lane).await.is_empty(),
        "nothing is published while the broker is down"
    );
    broker.restore();
    // The relay deletes each row in the transaction that published it.
    outbox_holds(app, 0).await;
    let jobs = app.broker.take_jobs(lane).await;
    assert_eq!(jobs.len() as i64, staged, "each job exactly once: {jobs:?}");
    jobs
}

fn entities(jobs: &[FetchJob]) -> Vec<(EntityType, Mbid)> {
    let mut out: Vec<_> = jobs.iter().map(|j| (j.entity_type, j.mbid)).collect();
    out.sort();
    out
}

async fn admin(
    app: &TestApp,
) -> AdminServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, AttachToken>,
> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    AdminServiceClient::with_interceptor(channel, AttachToken::new(ADMIN_TOKEN).unwrap())
}

#[tokio::test]
async fn a_lookup_miss_waits_in_the_outbox() {
    let app = spawn(0, &[]).await;
    let mut client = app.client().await;
    let jobs = with_broker_down(&app, 1, Lane::Interactive, async || {
        let err = client
            .get_artist(pb::GetArtistRequest {
                mbid: ARTIST.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(err.message().contains("recorded"), "{}", err.message());
    })
    .await;
    assert_eq!(entities(&jobs), [(EntityType::Artist, mbid(ARTIST))]);
}

#[tokio::test]
async fn a_stale_refresh_waits_in_the_outbox() {
    // Every cached label is stale at once.
    let app = spawn(0, &[("MUSICMETA_CACHE__TTL_SECS__LABEL", "0")]).await;
    let entity = parse_entity(
        EntityType::Label,
        &std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap(),
    )
    .unwrap();
    PgStore::new(db::build_pool(&app.db.config()).unwrap())
        .store(
            EntityType::Label,
            mbid(LABEL),
            FetchOutcome::Found {
                entity,
                document: serde_json::json!({}).into(),
            },
        )
        .await
        .unwrap();
    let mut client = app.client().await;
    let jobs = with_broker_down(&app, 1, Lane::Refresh, async || {
        let stale = client
            .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
            .await
            .expect("a stale copy is answered while the broker is down")
            .into_inner();
        assert_eq!(
            stale.cache.unwrap().freshness,
            pb::Freshness::Stale as i32,
            "answered from the cache"
        );
    })
    .await;
    assert_eq!(entities(&jobs), [(EntityType::Label, mbid(LABEL))]);
}

#[tokio::test]
async fn an_admin_refresh_waits_in_the_outbox() {
    let app = spawn(0, &[]).await;
    let mut admin = admin(&app).await;
    let jobs = with_broker_down(&app, 1, Lane::Refresh, async || {
        let answer = admin
            .refresh(pb::RefreshRequest {
                entity_type: "label".into(),
                mbids: vec![LABEL.into()],
                lane: pb::AdminLane::Refresh.into(),
            })
            .await
            .expect("refresh is accepted while the broker is down")
            .into_inner();
        assert_eq!((answer.published, answer.skipped), (1, 0));
    })
    .await;
    assert!(jobs[0].force, "a refresh is forced");
    assert_eq!(entities(&jobs), [(EntityType::Label, mbid(LABEL))]);
}

#[tokio::test]
async fn an_admin_backfill_waits_in_the_outbox() {
    let app = spawn(0, &[]).await;
    let mut admin = admin(&app).await;
    let jobs = with_broker_down(&app, 2, Lane::Backfill, async || {
        let answer = admin
            .backfill(pb::BackfillRequest {
                items: vec![
                    pb::BackfillItem {
                        entity_type: "label".into(),
                        mbid: LABEL.into(),
                        depth: 0,
                    },
                    pb::BackfillItem {
                        entity_type: "artist".into(),
                        mbid: ARTIST.into(),
                        depth: 1,
                    },
                ],
                force: false,
            })
            .await
            .expect("backfill is accepted while the broker is down")
            .into_inner();
        assert_eq!((answer.published, answer.skipped), (2, 0));
    })
    .await;
    assert_eq!(
        entities(&jobs),
        [
            (EntityType::Artist, mbid(ARTIST)),
            (EntityType::Label, mbid(LABEL))
        ]
    );
}

#[tokio::test]
async fn a_catalog_completion_waits_in_the_outbox() {
    let app = spawn(0, &[]).await;
    let mut catalog = CatalogServiceClient::connect(format!("http://{}", app.addr))
        .await
        .unwrap();
    let jobs = with_broker_down(&app, 1, Lane::Refresh, async || {
        let page = catalog
            .browse_artist_release_groups(pb::BrowseRequest {
                mbid: ARTIST.into(),
                ..pb::BrowseRequest::default()
            })
            .await
            .expect("a browse is answered while the broker is down")
            .into_inner();
        assert!(page.list.unwrap().completion_queued);
    })
    .await;
    assert_eq!(entities(&jobs), [(EntityType::Artist, mbid(ARTIST))]);
}

#[tokio::test]
async fn an_ingest_worker_backfill_waits_in_the_outbox() {
    let app = spawn(0, &[]).await;
    let config = app.config.clone();
    let jobs = with_broker_down(&app, 1, Lane::Backfill, async || {
        let input = format!("label {LABEL}\n");
        let summary = backfill::run(
            &config,
            input.as_bytes(),
            &BackfillOptions::default(),
            Progress::Off,
        )
        .await
        .expect("a backfill runs while the broker is down");
        assert_eq!((summary.published, summary.staged), (0, 1), "{summary}");
    })
    .await;
    assert_eq!(entities(&jobs), [(EntityType::Label, mbid(LABEL))]);
}

/// The worker is fetching a release (its upstream answer slowed down) when
/// the broker goes: the release is stored, its children are asked for and
/// wait in the outbox; when the broker is back each child is fetched once,
/// and the release's own redelivered job changes nothing.
#[tokio::test]
async fn a_crawls_children_wait_in_the_outbox() {
    let app = spawn(1, &[]).await;
    let mut reports = app.reports();
    app.musicbrainz
        .delay_lookups(EntityType::Release, RELEASE, Duration::from_secs(2))
        .await;
    app.broker
        .publish(
            &FetchJob::new(EntityType::Release, mbid(RELEASE)).with_depth(1),
            Lane::Backfill,
        )
        .await;
    // The worker has the job and waits on MusicBrainz: now the broker goes.
    // (The stand-in's request log has no event to await: polled, for up to
    // 24 s.)
    let mut asked = false;
    for _ in 0..1200 {
        if app
            .musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await
            > 0
        {
            asked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(asked, "the worker never asked MusicBrainz for the release");
    let broker = app.broker_proxy.as_ref().unwrap();
    broker.cut();
    outbox_holds(&app, 2).await;
    broker.restore();

    let children: Vec<(EntityType, Mbid)> = app
        .db
        .connect()
        .await
        .query(
            "SELECT 'recording', recording_mbid FROM track WHERE release_mbid = $1 \
             UNION SELECT 'label', label_mbid FROM release_label WHERE release_mbid = $1",
            &[&mbid(RELEASE).as_uuid()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let t: String = r.get(0);
            (t.parse().unwrap(), Mbid::from_uuid(r.get(1)))
        })
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    // Every report until both children are done, so a failure says what
    // the worker did instead.
    let mut seen = Vec::new();
    let mut done = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while done.len() < children.len() {
        let report = tokio::time::timeout_at(deadline, reports.recv())
            .await
            .unwrap_or_else(|_| panic!("children not fetched within 60 s; reports: {seen:#?}"));
        let Ok(report) = report else { continue };
        if let Some(key) = report.entity
            && children.contains(&key)
            && matches!(
                report.outcome,
                JobOutcome::Stored { .. } | JobOutcome::NotFound
            )
        {
            done.insert(key);
        }
        seen.push(format!(
            "{:?} {:?} {:?}",
            report.entity, report.lane, report.outcome
        ));
    }
    outbox_holds(&app, 0).await;
    for (entity_type, child) in &children {
        assert_eq!(
            app.musicbrainz
                .lookups_of(*entity_type, &child.to_string())
                .await,
            1,
            "{entity_type} {child} fetched once"
        );
    }
    assert_eq!(
        app.musicbrainz
            .lookups_of(EntityType::Release, RELEASE)
            .await,
        1
    );
}
