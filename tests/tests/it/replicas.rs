//! Reading from a PostgreSQL streaming replica (`database.read_urls`): each
//! test starts a primary and a `pg_basebackup -R` replica of its own on this
//! machine, fills through the primary and reads through query-api. With the
//! replica's replay paused, every answer must still be there and never
//! older than a fill query-api has heard of; a replica that lags or goes
//! down is reported and no longer read from.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_musicbrainz::parse_entity;
use musicmeta_proto::v1 as pb;
use musicmeta_proto::v1::admin_service_client::AdminServiceClient;
use musicmeta_query_api::auth::AttachToken;
use musicmeta_shared::db::{self, write};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::replica::PgPair;
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const RELEASE: &str = "7c07f9a1-381f-4c00-8d17-2acc537597f8"; // BEYONCÉ
const LABEL: &str = "82935ddb-a9d6-45a7-85e3-0b0add51fa1c"; // City Slang
const ADMIN_TOKEN: &str = "admin-token-for-replica-tests";
/// Lookups per phase; each one reads the database (the hot tier is off).
const READS: usize = 25;

type Admin = AdminServiceClient<InterceptedService<Channel, AttachToken>>;

struct Setup {
    pair: PgPair,
    app: TestApp,
    admin: Admin,
}

/// A pair, and query-api reading its replica with the hot tier off (so
/// every lookup reads the database) and `/metrics` served.
async fn setup(max_lag_ms: u64) -> Setup {
    assert!(
        PgPair::available(),
        "PostgreSQL's server programs are not installed"
    );
    let pair = tokio::task::spawn_blocking(PgPair::start).await.unwrap();
    let app = TestApp::spawn_with(TestOptions {
        database_server: Some(pair.primary_admin_url()),
        read_servers: vec![pair.replica_server()],
        env: vec![
            (
                "MUSICMETA_METRICS__LISTEN_ADDR".into(),
                "127.0.0.1:0".into(),
            ),
            ("MUSICMETA_CACHE__HOT_CAPACITY_MB".into(), "0".into()),
            ("MUSICMETA_GRPC__ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            (
                "MUSICMETA_DATABASE__MAX_REPLICA_LAG_MS".into(),
                max_lag_ms.to_string(),
            ),
        ],
        ..TestOptions::default()
    })
    .await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let admin =
        AdminServiceClient::with_interceptor(channel, AttachToken::new(ADMIN_TOKEN).unwrap());
    let mut setup = Setup { pair, app, admin };
    setup.replica_becomes("serving").await;
    setup
}

impl Setup {
    /// The replica's state as GetStatus reports it.
    async fn replica_state(&mut self) -> String {
        let status = self
            .admin
            .get_status(pb::GetStatusRequest {})
            .await
            .expect("GetStatus")
            .into_inner();
        assert_eq!(status.replicas.len(), 1, "one replica configured");
        let replica = &status.replicas[0];
        assert_eq!(
            replica.name,
            format!("127.0.0.1:{}", self.pair.replica_port)
        );
        replica.state.clone()
    }

    /// Waits until GetStatus reports the replica `state`. The monitor's
    /// checks give no event to await, so this polls, with a deadline.
    async fn replica_becomes(&mut self, state: &str) {
        let mut last = String::new();
        let reached = until(Duration::from_secs(30), async || {
            last = self.replica_state().await;
            last == state
        })
        .await;
        assert!(reached, "replica still {last:?}, not {state:?}");
    }

    /// Reads answered by each server so far (`musicmeta_db_reads_total`).
    async fn reads(&self) -> (f64, f64) {
        let metrics = scrape(self.app.metrics_addr.unwrap()).await;
        let of = |server: &str| {
            metrics
                .get(&format!("musicmeta_db_reads_total{{server=\"{server}\"}}"))
                .copied()
                .unwrap_or(0.0)
        };
        (of("primary"), of("replica"))
    }

    async fn release_title(&self) -> String {
        let mut client = self.app.client().await;
        let answer = client
            .get_release(pb::GetReleaseRequest {
                mbid: RELEASE.into(),
            })
            .await
            .expect("the release is answered")
            .into_inner();
        answer.release.unwrap().title
    }

    async fn label_name(&self) -> String {
        let mut client = self.app.client().await;
        let answer = client
            .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
            .await
            .expect("the label is answered")
            .into_inner();
        answer.label.unwrap().name
    }

    /// `sql`'s one text value on the replica, in the test's database.
    async fn on_replica(&self, sql: &str) -> Option<String> {
        self.pair
            .replica(&self.app.db.name)
            .await
            .query_opt(sql, &[])
            .await
            .expect("query the replica")
            .map(|row| row.get(0))
    }
}

/// Polls `check` until it holds or `limit` passes; true when it held.
async fn until(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn scrape(addr: std::net::SocketAddr) -> HashMap<String, f64> {
    musicmeta_tests::app::scrape_metrics(addr).await
}

/// Runs `lookup` [`READS`] times; every answer must be `want`.
async fn read_all<F: Future<Output = String>>(want: &str, mut lookup: impl FnMut() -> F) {
    for i in 0..READS {
        let got = lookup().await;
        assert_eq!(got, want, "read {i} of {READS}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_use_the_replica_and_never_answer_older_than_a_fill() {
    let mut s = setup(60_000).await;
    let json = fixtures::lookup_json(EntityType::Release, RELEASE);
    let title = json["title"].as_str().unwrap().to_owned();

    // A miss, filled through the primary; the woken call and every read
    // after it are answered, and the replica answers them.
    assert_eq!(s.release_title().await, title);
    let (_, replica_before) = s.reads().await;
    read_all(&title, || s.release_title()).await;
    let (_, replica_after) = s.reads().await;
    assert!(
        replica_after - replica_before >= READS as f64,
        "{READS} lookups read the replica {} times",
        replica_after - replica_before
    );

    // Replay paused: the replica sees nothing new from here on.
    s.pair.pause_replay().await;
    assert_eq!(
        s.on_replica("SELECT pg_is_wal_replay_paused()::text").await,
        Some("true".into())
    );
    let (primary_before, _) = s.reads().await;

    // A miss filled now is answered, by the call that waited and by every
    // read after it, though the replica does not hold it.
    let label = fixtures::lookup_json(EntityType::Label, LABEL);
    let name = label["name"].as_str().unwrap().to_owned();
    assert_eq!(s.label_name().await, name);
    read_all(&name, || s.label_name()).await;
    assert_eq!(
        s.on_replica(&format!("SELECT name FROM label WHERE mbid = '{LABEL}'"))
            .await,
        None,
        "the paused replica does not have the label"
    );

    // A refresh that changes the release: once query-api has answered the
    // new title, it never answers the old one again, though the replica
    // still holds it.
    let mut edited = json.clone();
    let new_title = format!("{title} (remastered)");
    edited["title"] = serde_json::Value::String(new_title.clone());
    s.app
        .musicbrainz
        .serve_body(
            EntityType::Release,
            RELEASE,
            serde_json::to_vec(&edited).unwrap(),
        )
        .await;
    let mut reports = s.app.workers[0].subscribe();
    let refreshed = s
        .admin
        .refresh(pb::RefreshRequest {
            entity_type: "release".into(),
            mbids: vec![RELEASE.into()],
            lane: pb::AdminLane::Refresh.into(),
        })
        .await
        .expect("refresh accepted")
        .into_inner();
    assert_eq!(refreshed.published, 1);
    let release = Mbid::parse(RELEASE).unwrap();
    next_report(
        &mut reports,
        |r| matches!(r.outcome, JobOutcome::Stored { stored } if stored == release),
    )
    .await;
    let heard = until(Duration::from_secs(10), async || {
        s.release_title().await == new_title
    })
    .await;
    assert!(heard, "query-api answers the refreshed title");
    read_all(&new_title, || s.release_title()).await;
    assert_eq!(
        s.on_replica(&format!(
            "SELECT title FROM release WHERE mbid = '{RELEASE}'"
        ))
        .await,
        Some(title.clone()),
        "the paused replica still holds the old title"
    );
    let (primary_after, _) = s.reads().await;
    eprintln!(
        "replay paused: {} lookups answered, none missing or stale; {} primary reads",
        2 * READS + 2,
        primary_after - primary_before
    );
    assert!(primary_after - primary_before >= (2 * READS) as f64);

    // Replay resumed: once the replica has caught up, reads return to it.
    s.pair.resume_replay().await;
    let (_, replica_before) = s.reads().await;
    let back = until(Duration::from_secs(10), async || {
        assert_eq!(s.release_title().await, new_title);
        s.reads().await.1 > replica_before
    })
    .await;
    assert!(back, "reads return to the replica after it catches up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_or_stopped_replica_is_reported_and_not_read() {
    let mut s = setup(200).await;
    let title = fixtures::lookup_json(EntityType::Release, RELEASE)["title"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = fixtures::lookup_json(EntityType::Label, LABEL)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.release_title().await, title);

    // Replay paused while the primary writes on (a fill): the replica falls
    // more than 200 ms behind and is reported lagging.
    s.pair.pause_replay().await;
    assert_eq!(s.label_name().await, name);
    s.replica_becomes("lagging").await;
    let metrics = scrape(s.app.metrics_addr.unwrap()).await;
    let serving = format!(
        "musicmeta_db_replica_serving{{replica=\"127.0.0.1:{}\"}}",
        s.pair.replica_port
    );
    assert_eq!(metrics.get(&serving), Some(&0.0));
    let (_, replica_before) = s.reads().await;
    read_all(&title, || s.release_title()).await;
    assert_eq!(
        s.reads().await.1,
        replica_before,
        "a lagging replica is not read"
    );

    s.pair.resume_replay().await;
    s.replica_becomes("serving").await;

    // Stopped: reported down, and every lookup is still answered.
    tokio::task::block_in_place(|| s.pair.stop_replica());
    s.replica_becomes("down").await;
    read_all(&title, || s.release_title()).await;
    read_all(&name, || s.label_name()).await;

    // Started again: read from again.
    tokio::task::block_in_place(|| s.pair.start_replica());
    s.replica_becomes("serving").await;
    let (_, replica_before) = s.reads().await;
    read_all(&title, || s.release_title()).await;
    assert!(
        s.reads().await.1 > replica_before,
        "the replica is read again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_the_replica_lacks_is_read_from_the_primary_not_fetched() {
    let mut s = setup(60_000).await;
    // Caught up with every fill query-api heard of (none), then paused.
    s.pair.pause_replay().await;
    // A label written on the primary without a fill notification, as
    // `import-dump` writes: query-api's floor does not cover it.
    let entity = parse_entity(
        EntityType::Label,
        &std::fs::read(fixtures::lookup_path(EntityType::Label, LABEL)).unwrap(),
    )
    .unwrap();
    let pool = db::build_pool(&s.app.db.config()).unwrap();
    let mut primary = pool.get().await.unwrap();
    let tx = primary.transaction().await.unwrap();
    write::upsert_entity_at(&tx, &entity, &serde_json::json!({}), None, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        s.replica_state().await,
        "serving",
        "the paused replica is within its allowed lag"
    );

    // The replica says "no such label"; the primary is asked before that
    // counts as a miss, so nothing is fetched.
    let name = fixtures::lookup_json(EntityType::Label, LABEL)["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, replica_before) = s.reads().await;
    read_all(&name, || s.label_name()).await;
    assert!(s.reads().await.1 > replica_before, "the replica was asked");
    assert_eq!(
        s.app.musicbrainz.lookups_of(EntityType::Label, LABEL).await,
        0,
        "a row the primary holds is not fetched again"
    );
}
