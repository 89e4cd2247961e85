//! `query-api` command line: `serve` (default) or `migrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use musicmeta_query_api::{Application, StartError, client};
use musicmeta_shared::mbid::EntityType;
use musicmeta_shared::{cli, telemetry};

/// jemalloc, built to give freed pages back to the system at once
/// (`dirty_decay_ms:0`, `.cargo/config.toml`). The hot tier turns over
/// thousands of copies a second of every size from 1 to 70 kB; glibc's
/// malloc kept the holes they left, so resident size peaked at ~1.7× the
/// tier's budget (docs/benchmarks.md, "Round five").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Look an entity up through a running query-api and print the answer
    /// as proto3 JSON (as grpcurl prints it), one object per call.
    Lookup {
        /// artist, release-group, release, recording or label.
        entity_type: EntityType,
        mbid: String,
        /// The query-api to ask.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Deadline of the call; a miss waits for its fill up to this long.
        #[arg(long, default_value_t = 15_000)]
        timeout_ms: u64,
        /// Bearer token, when the server sets `grpc.lookup_token`.
        #[arg(long, env = "MUSICMETA_LOOKUP_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    // The client needs no configuration file and logs nothing.
    if let Some(Command::Lookup {
        entity_type,
        mbid,
        addr,
        timeout_ms,
        token,
    }) = args.command
    {
        let timeout = std::time::Duration::from_millis(timeout_ms);
        match client::run(&addr, entity_type, mbid, timeout, token.as_deref()).await {
            Ok(answer) => println!("{answer}"),
            Err(status) => {
                eprintln!(
                    "query-api lookup: {:?}: {}",
                    status.code(),
                    status.message()
                );
                std::process::exit(1);
            }
        }
        return Ok(());
    }
    let config = cli::load_config_or_exit("query-api", args.config.as_deref());
    let _telemetry = telemetry::init("query-api", "info", &config.telemetry)?;
    match args.command.unwrap_or(Command::Serve) {
        Command::Migrate => cli::migrate(&config)
            .await
            .context("migrating the database")?,
        Command::Lookup { .. } => unreachable!("handled before loading configuration"),
        Command::Serve => {
            let app = match Application::build(config).await {
                Ok(app) => app,
                // Found at start (a short token, a TLS file): still a
                // configuration mistake, so the same one line and status 2.
                Err(StartError::Config(error)) => cli::exit_config_error("query-api", &error),
                Err(error) => return Err(error).context("starting query-api"),
            };
            app.run_until_stopped(musicmeta_shared::shutdown::signal())
                .await?;
        }
    }
    Ok(())
}
