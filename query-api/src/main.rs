//! `query-api` command line: `serve` (default) or `migrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use musicmeta_query_api::Application;
use musicmeta_shared::config::Config;
use musicmeta_shared::{db, telemetry};

#[derive(Parser)]
#[command(
    version,
    about = "gRPC lookups of MusicBrainz entities from the musicmeta cache"
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
    /// Serve gRPC until SIGINT/SIGTERM (the default).
    Serve,
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
            eprintln!("query-api: {error}");
            std::process::exit(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let pool = db::build_pool(&config.database)?;
            let applied = db::migrate::run(&pool)
                .await
                .context("migrating the database")?;
            println!("applied {} migration(s): {applied:?}", applied.len());
        }
        Command::Serve => {
            let app = Application::build(config)
                .await
                .context("starting query-api")?;
            app.run_until_stopped(musicmeta_shared::shutdown::signal())
                .await?;
        }
    }
    Ok(())
}
