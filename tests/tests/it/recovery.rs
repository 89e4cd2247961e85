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
use musicmeta_tests::{TestApp, TestOptions};
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
