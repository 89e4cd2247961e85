//! Outages of the real broker and database, and recovery without a
//! restart: each test reaches RabbitMQ and PostgreSQL through its own TCP
//! proxies, cuts them (every connection severed, new ones refused, as in a
//! server restart) and restores them.

use std::time::Duration;

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_proto::v1 as pb;
use musicmeta_shared::db::{self, outbox};
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::app::next_report;
use musicmeta_tests::{TestApp, TestOptions, fixtures};
use tonic::Code;

const LABEL: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";
const ARTIST: &str = "24f1766e-9635-4d58-a4d4-9413f9f98a4c";

fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

fn stored(
    entity_type: EntityType,
    mbid: &str,
) -> impl Fn(&musicmeta_ingest_worker::JobReport) -> bool {
    let key = (entity_type, Mbid::parse(mbid).unwrap());
    move |r| r.entity == Some(key) && matches!(r.outcome, JobOutcome::Stored { .. })
}

/// While the broker is down hits are answered, and a miss is recorded in
/// the outbox and answered UNAVAILABLE at once; when the broker is back,
/// the relay publishes it and the worker (reconnected by itself) fills it.
#[tokio::test]
async fn a_broker_outage_loses_no_miss_and_heals_without_a_restart() {
    let app = TestApp::spawn_with(TestOptions {
        through_proxies: true,
        ..TestOptions::default()
    })
    .await;
    let broker = app.broker_proxy.as_ref().unwrap();
    let mut client = app.client().await;
    let mut reports = app.reports();
    client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .expect("filled before the outage");

    broker.cut();
    for _ in 0..20 {
        let hit = client
            .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
            .await
            .expect("hits are answered while the broker is down");
        assert_eq!(hit.into_inner().label.unwrap().mbid, LABEL);
    }
    let err = client
        .get_artist(with_deadline(
            pb::GetArtistRequest {
                mbid: ARTIST.into(),
            },
            Duration::from_secs(10),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("recorded"), "{}", err.message());
    assert_eq!(app.db.count("SELECT count(*) FROM job_outbox").await, 1);
    // A second miss of the same MBID stages nothing more.
    let _ = client
        .get_artist(with_deadline(
            pb::GetArtistRequest {
                mbid: ARTIST.into(),
            },
            Duration::from_millis(500),
        ))
        .await
        .unwrap_err();
    assert_eq!(app.db.count("SELECT count(*) FROM job_outbox").await, 1);

    broker.restore();
    next_report(&mut reports, stored(EntityType::Artist, ARTIST)).await;
    let answer = client
        .get_artist(pb::GetArtistRequest {
            mbid: ARTIST.into(),
        })
        .await
        .expect("filled after the outage")
        .into_inner();
    assert_eq!(answer.artist.unwrap().mbid, ARTIST);
    assert_eq!(app.db.count("SELECT count(*) FROM job_outbox").await, 0);
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
}

/// A job staged by a query-api that died before publishing it (or whose
/// publish was never confirmed) is published by the relay of any replica.
#[tokio::test]
async fn a_job_left_in_the_outbox_is_relayed() {
    let app = TestApp::spawn().await;
    let mut reports = app.reports();
    let pool = db::build_pool(&app.db.config()).unwrap();
    let job = FetchJob::new(EntityType::Label, Mbid::parse(LABEL).unwrap());
    let mut client = pool.get().await.unwrap();
    let staging = outbox::Staging {
        claim: ("label".to_owned(), job.mbid),
        job: job.clone().into(),
        lane: Lane::Interactive,
    };
    assert_eq!(
        outbox::stage(&mut client, &[staging], Duration::from_secs(60))
            .await
            .unwrap(),
        [true]
    );

    let report = next_report(&mut reports, stored(EntityType::Label, LABEL)).await;
    assert_eq!(report.job_id, Some(job.job_id));
    assert_eq!(report.lane, Lane::Interactive);
    assert_eq!(app.db.count("SELECT count(*) FROM job_outbox").await, 0);
}

/// While PostgreSQL is down lookups answer UNAVAILABLE within their
/// deadline and a job the worker cannot store goes back to the queue; when
/// it is back, both recover by themselves and nothing is lost.
#[tokio::test]
async fn a_database_outage_is_unavailable_then_heals_without_a_restart() {
    let app = TestApp::spawn_with(TestOptions {
        through_proxies: true,
        ..TestOptions::default()
    })
    .await;
    let database = app.database_proxy.as_ref().unwrap();
    let mut client = app.client().await;
    let mut reports = app.reports();
    client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .expect("filled before the outage");

    database.cut();
    let err = client
        .get_label(with_deadline(
            pb::GetLabelRequest { mbid: LABEL.into() },
            Duration::from_secs(10),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("database"), "{}", err.message());

    let artist = Mbid::parse(ARTIST).unwrap();
    app.broker
        .publish(
            &FetchJob::new(EntityType::Artist, artist),
            Lane::Interactive,
        )
        .await;
    let failed = next_report(&mut reports, |r| {
        r.entity == Some((EntityType::Artist, artist))
    })
    .await;
    assert!(
        !matches!(
            failed.outcome,
            JobOutcome::Stored { .. } | JobOutcome::DeadLettered { .. }
        ),
        "a job that cannot be stored is tried again later: {:?}",
        failed.outcome
    );

    database.restore();
    next_report(&mut reports, stored(EntityType::Artist, ARTIST)).await;
    let hit = client
        .get_label(pb::GetLabelRequest { mbid: LABEL.into() })
        .await
        .expect("lookups recover without a restart");
    assert_eq!(hit.into_inner().label.unwrap().mbid, LABEL);
    assert_eq!(
        app.db
            .count(&format!(
                "SELECT count(*) FROM artist WHERE mbid = '{ARTIST}' AND fetched_at IS NOT NULL"
            ))
            .await,
        1
    );
    assert_eq!(app.broker.depth(&app.broker.dead_letter_queue).await, 0);
}

/// Labels the stand-in MusicBrainz has recorded, to fill and read back.
const LABELS: [&str; 7] = fixtures::RECORDED_LABELS;

/// When PostgreSQL ends the sessions a pool holds (a restart, a failover,
/// `pg_terminate_backend`), the very next lookups still succeed: a pooled
/// connection the server has closed is replaced, not reported to the
/// caller. The same holds for the worker's next job: it is stored at its
/// first attempt. (The hot tier is off, so every lookup reads PostgreSQL.)
#[tokio::test]
async fn terminated_database_sessions_cost_lookups_and_fills_nothing() {
    let app = TestApp::spawn_with(TestOptions {
        env: vec![("MUSICMETA_CACHE__HOT_CAPACITY_MB".into(), "0".into())],
        ..TestOptions::default()
    })
    .await;
    let client = app.client().await;
    let mut reports = app.reports();
    let (cached, missed) = LABELS.split_at(LABELS.len() - 1);
    // Fill, then read back at once: several pooled connections in use.
    for round in ["filled", "read back"] {
        let lookups = cached.iter().map(|mbid| {
            let mut client = client.clone();
            async move {
                client
                    .get_label(pb::GetLabelRequest {
                        mbid: (*mbid).into(),
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{mbid} {round}: {e:?}"))
            }
        });
        futures::future::join_all(lookups).await;
    }

    for attempt in 0..3 {
        // At least the API's pool; the rest may not have reconnected yet.
        let ended = app.db.terminate_sessions().await;
        assert!(ended >= 1, "sessions ended: {ended}");
        for mbid in cached {
            let mut client = client.clone();
            let hit = client
                .get_label(pb::GetLabelRequest {
                    mbid: (*mbid).into(),
                })
                .await
                .unwrap_or_else(|e| {
                    panic!("{mbid} right after the sessions ended ({attempt}): {e:?}")
                });
            assert_eq!(hit.into_inner().label.unwrap().mbid, *mbid);
        }
    }

    // A miss: the API stages it, the worker stores it, the caller is told.
    app.db.terminate_sessions().await;
    let mbid = missed[0];
    let mut client = client.clone();
    let filled = client
        .get_label(with_deadline(
            pb::GetLabelRequest { mbid: mbid.into() },
            Duration::from_secs(10),
        ))
        .await
        .expect("a miss right after the sessions ended is filled");
    assert_eq!(filled.into_inner().label.unwrap().mbid, mbid);
    let report = next_report(&mut reports, stored(EntityType::Label, mbid)).await;
    assert_eq!(report.attempt, 1, "stored at the first attempt: {report:?}");
}

/// Ends every session on `db` but the caller's while blocking this thread,
/// then waits until they are gone: a current-thread runtime's pooled
/// connections cannot notice meanwhile, so the next checkout is sure to
/// hand one out that the server has closed.
fn terminate_backends_unseen(db: &musicmeta_tests::database::TestDatabase) {
    let url = db.url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .batch_execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .await
                .unwrap();
            // Terminating only signals; wait until the sessions are gone
            // (polled: PostgreSQL announces no such event), for up to 30 s.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
                > 0
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the terminated sessions did not end within 30 s"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    })
    .join()
    .unwrap();
}

/// The repositories' own guarantee, which the worker's reads and writes
/// rely on: a pooled connection the server closed unseen costs the caller
/// nothing, for a write (a transaction) as for a read. The runtime is
/// current-thread and blocked while the sessions end, so the pool cannot
/// have noticed: without the retry both calls fail.
#[tokio::test]
async fn a_pooled_connection_closed_unseen_is_replaced_for_reads_and_writes() {
    use musicmeta_musicbrainz::parse_entity;
    use musicmeta_shared::db::{EntityRepository, EntityWriter, PgStore};
    use musicmeta_shared::domain::{FetchOutcome, Label};

    let db = musicmeta_tests::database::TestDatabase::migrated().await;
    let store = PgStore::new(db::build_pool(&db.config()).unwrap());
    let label = |mbid: &str| {
        let body = std::fs::read(musicmeta_tests::fixtures::lookup_path(
            EntityType::Label,
            mbid,
        ))
        .unwrap();
        FetchOutcome::Found {
            entity: parse_entity(EntityType::Label, &body).unwrap(),
            document: serde_json::json!({}).into(),
        }
    };
    let (first, second) = (
        Mbid::parse(LABELS[0]).unwrap(),
        Mbid::parse(LABELS[1]).unwrap(),
    );
    store
        .store(EntityType::Label, first, label(LABELS[0]))
        .await
        .expect("stored");

    terminate_backends_unseen(&db);
    store
        .store(EntityType::Label, second, label(LABELS[1]))
        .await
        .expect("a write right after the sessions ended");

    terminate_backends_unseen(&db);
    let found = EntityRepository::<Label>::find(&store, first)
        .await
        .expect("a read right after the sessions ended");
    assert_eq!(found.unwrap().entity.mbid, first);
}
