//! `fleet-bench`: how the worker fleet's throughput and upstream load move
//! with the number of workers and the request budget. For each setting it
//! starts a fresh musicmeta (own database and queues, the stand-in
//! MusicBrainz), queues a backlog of backfill jobs, starts the workers and
//! measures until the backlog is done.
//!
//!   cargo run --release -p musicmeta-tests --bin fleet-bench -- --jobs 300 --budgets 20,100000 --workers 1,2,3
//!
//! Defaults: 300 jobs, budgets 20 and 100000 (limiter effectively off),
//! 1, 2 and 3 workers. Jobs are unknown MBIDs (the stand-in answers 404
//! at once), so the database side is one small transaction per job.

use std::time::{Duration, Instant};

use musicmeta_ingest_worker::JobOutcome;
use musicmeta_shared::jobs::{FetchJob, Lane};
use musicmeta_shared::mbid::{EntityType, Mbid};
use musicmeta_tests::{TestApp, TestOptions};

#[derive(clap::Parser)]
#[command(
    version,
    about = "Measure worker throughput and upstream load by budget and worker count"
)]
struct Args {
    /// Jobs in the backlog of each run.
    #[arg(long, default_value_t = 300)]
    jobs: usize,
    /// Request budgets (requests/s) to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [20.0, 100_000.0])]
    budgets: Vec<f64>,
    /// Worker counts to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 3])]
    workers: Vec<usize>,
}

#[tokio::main]
async fn main() {
    let Args {
        jobs,
        budgets,
        workers,
    } = <Args as clap::Parser>::parse();
    println!(
        "| budget (req/s) | workers | jobs | wall time | jobs/s | upstream req/s (mean) | busiest 5 s window (req/s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &budget in &budgets {
        for &n in &workers {
            let mut app = TestApp::spawn_with(TestOptions {
                workers: 0,
                env: vec![(
                    "MUSICMETA_MUSICBRAINZ__REQUESTS_PER_SECOND".into(),
                    budget.to_string(),
                )],
                ..TestOptions::default()
            })
            .await;
            let backlog: Vec<FetchJob> = (0..jobs)
                .map(|_| FetchJob::new(EntityType::Label, Mbid::from_uuid(uuid::Uuid::new_v4())))
                .collect();
            app.broker.publish_many(&backlog, Lane::Backfill).await;
            let started = Instant::now();
            for _ in 0..n {
                app.start_worker().await;
            }
            let mut reports: Vec<_> = app.workers.iter().map(|w| w.subscribe()).collect();
            let mut done = 0;
            while done < jobs {
                let (next, _, _) =
                    futures::future::select_all(reports.iter_mut().map(|r| Box::pin(r.recv())))
                        .await;
                if matches!(next, Ok(ref r) if r.outcome == JobOutcome::NotFound) {
                    done += 1;
                }
            }
            let wall = started.elapsed();
            let arrivals = app.musicbrainz.arrivals();
            let span =
                (*arrivals.last().unwrap_or(&started) - arrivals[0]).max(Duration::from_millis(1));
            let mean = (arrivals.len().saturating_sub(1)) as f64 / span.as_secs_f64();
            let window = Duration::from_secs(5);
            let busiest = arrivals
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    arrivals[i..]
                        .iter()
                        .take_while(|u| **u - *t < window)
                        .count()
                })
                .max()
                .unwrap_or(0);
            let busiest_rate = if span >= window {
                busiest as f64 / 5.0
            } else {
                mean
            };
            println!(
                "| {budget} | {n} | {jobs} | {:.2} s | {:.1} | {mean:.2} | {busiest_rate:.2} |",
                wall.as_secs_f64(),
                jobs as f64 / wall.as_secs_f64()
            );
            app.stop_workers().await;
        }
    }
}
