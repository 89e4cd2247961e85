//! `ingest-worker` command line: `run` (default) or `migrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use musicmeta_ingest_worker::Worker;
use musicmeta_shared::config::Config;
use musicmeta_shared::{db, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    version,
    about = "Fetches MusicBrainz entities for the musicmeta cache"
)]
struct Cli {
    /// YAML configuration file; values can be overridden from the environment.
    #[arg(long, short, env = "MUSICMETA_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume fetch jobs until SIGINT/SIGTERM (the default).
    Run,
    /// Apply pending database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ingest-worker: {error}");
            std::process::exit(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Migrate => {
            let pool = db::build_pool(&config.database)?;
            let applied = db::migrate::run(&pool)
                .await
                .context("migrating the database")?;
            println!("applied {} migration(s): {applied:?}", applied.len());
        }
        Command::Run => {
            let worker = match Worker::build(config).await {
                Ok(worker) => worker,
                Err(musicmeta_ingest_worker::WorkerError::Config(error)) => {
                    eprintln!("ingest-worker: {error}");
                    std::process::exit(2);
                }
                Err(error) => return Err(error).context("starting ingest-worker"),
            };
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                musicmeta_shared::shutdown::signal().await;
                trigger.cancel();
            });
            worker.run(shutdown).await?;
        }
    }
    Ok(())
}
