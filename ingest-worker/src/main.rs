//! `ingest-worker` command line: `run` (default) or `migrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use musicmeta_ingest_worker::Worker;
use musicmeta_shared::{cli, telemetry};
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
    let args = Cli::parse();
    telemetry::init();
    let config = cli::load_config_or_exit("ingest-worker", args.config.as_deref());
    match args.command.unwrap_or(Command::Run) {
        Command::Migrate => cli::migrate(&config)
            .await
            .context("migrating the database")?,
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
