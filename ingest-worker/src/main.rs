//! `ingest-worker` command line: `run` (default), `migrate`, `backfill`,
//! `import-dump`, `rederive`, `dead-letters` or `status`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use musicmeta_ingest_worker::Worker;
use musicmeta_ingest_worker::backfill::{self, BackfillOptions, Progress};
use musicmeta_ingest_worker::import::{self, ImportOptions};
use musicmeta_ingest_worker::{dead_letters, rederive};
use musicmeta_shared::jobs::MAX_DEPTH;
use musicmeta_shared::mbid::EntityType;
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
    /// List dead letters (jobs given up on, with the reason) or put them back.
    DeadLetters {
        /// Move them back to their lanes instead of listing them.
        #[arg(long)]
        requeue: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show queue depths per lane, workers alive, jobs done and failed and
    /// the upstream request rate over the last minute.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask for fetches of a list of entities on the backfill lane.
    ///
    /// Reads FILE (or standard input) with one `<entity-type> <mbid>` per
    /// line, e.g. `release-group 05ce100c-eddf-4967-8d7e-33fc0883fe39`; entity
    /// types are artist, release-group, release, recording and label. With
    /// --type, a line may hold just the MBID. Blank lines and lines starting
    /// with `#` are ignored; malformed lines are reported on stderr as
    /// `line N: <reason>` and skipped. Entities the cache holds fresh are
    /// skipped unless --force. Workers take backfill jobs after interactive
    /// lookups and refreshes.
    ///
    /// Prints `published P, skipped S (already fresh), rejected R` on stdout
    /// (plus entities whose fetch was pending already, and jobs staged for
    /// the relay while the broker is down) and progress on stderr. Exit
    /// status: 0 when every job was asked for, even if some lines were
    /// rejected (check the count); 1 when the input or the database fails
    /// (the counts so far are printed first); 2 for bad arguments or
    /// configuration.
    Backfill(BackfillArgs),
    /// Fill what this version keeps of each entity (relationships, ratings,
    /// release events, disc IDs...) for rows cached by an older version,
    /// from the MusicBrainz answer each row keeps; asks MusicBrainz
    /// nothing and leaves freshness alone. Safe beside running workers;
    /// resumes where it stopped. Prints what it did.
    Rederive,
    /// Seed the cache from MusicBrainz's JSON data dumps.
    ///
    /// Each PATH is a dump archive (`release.tar.xz`, `artist.tar.xz`, ...,
    /// from https://data.metabrainz.org/pub/musicbrainz/data/json-dumps/)
    /// or an extracted entity file (`mbdump/release`, with the dump's
    /// `TIMESTAMP` beside its folder or --dumped-at). Streams each file into
    /// the same tables a fetch fills, in batches, with the dump's time as
    /// the fetch time; rows fetched after the dump are left alone. Bad lines
    /// are reported as `file:line: reason` and counted, never fatal.
    /// Resumable: Ctrl-C (or a crash) keeps what was committed and the next
    /// run goes on after it; a file imported to its end is not read again.
    ///
    /// Prints a summary on stdout. Exit status: 0 when every file was read
    /// to its end (check the bad-line count), 1 on an unreadable file or a
    /// database failure, 2 for bad arguments, 130 when interrupted.
    ImportDump(ImportDumpArgs),
}

#[derive(Args)]
struct ImportDumpArgs {
    /// Dump archives or extracted entity files; several types in one run.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Lines per transaction.
    #[arg(long, default_value_t = import::DEFAULT_BATCH, value_parser = clap::value_parser!(u64).range(1..=100_000).map(|n| n as usize))]
    batch: usize,
    /// Batches stored at once, each in its own transaction on its own
    /// database connection. More than the database server has cores gains
    /// nothing.
    #[arg(long, default_value_t = import::IN_FLIGHT, value_parser = clap::value_parser!(u64).range(1..=64).map(|n| n as usize))]
    in_flight: usize,
    /// Leave out tags, genres, ratings and annotations, which MusicBrainz
    /// licenses under CC BY-NC-SA (the rest is CC0).
    #[arg(long)]
    core_only: bool,
    /// The dump's time (its TIMESTAMP, e.g. `2026-11-28 00:00:10+00`), for
    /// entity files without a TIMESTAMP file beside them.
    #[arg(long, value_name = "TIME")]
    dumped_at: Option<String>,
}

#[derive(Args)]
struct BackfillArgs {
    /// Entity type of lines that hold only an MBID; lines naming a type must agree with it.
    #[arg(
        long = "type",
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new(EntityType::ALL.map(EntityType::as_str))
            .try_map(|name| name.parse::<EntityType>())
    )]
    entity_type: Option<EntityType>,
    /// Also fetch related entities this many levels deep (0: only the listed ones).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=i64::from(MAX_DEPTH))
    )]
    depth: u8,
    /// Publish nothing; report what would be published, skipped and rejected.
    #[arg(long)]
    dry_run: bool,
    /// Publish jobs for fresh entities too; workers fetch them again.
    #[arg(long)]
    force: bool,
    /// File of `<entity-type> <mbid>` lines; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse();
    let command = args.command.unwrap_or(Command::Run);
    let config = cli::load_config_or_exit("ingest-worker", args.config.as_deref());
    // A backfill prints its summary on stdout; keep its logs to warnings.
    let level = if matches!(command, Command::Backfill(_) | Command::ImportDump(_)) {
        "warn"
    } else {
        "info"
    };
    let _telemetry = telemetry::init("ingest-worker", level, &config.telemetry)?;
    match command {
        Command::Migrate => cli::migrate(&config)
            .await
            .context("migrating the database")?,
        Command::Run => {
            let worker = match Worker::build(config).await {
                Ok(worker) => worker,
                Err(musicmeta_ingest_worker::WorkerError::Config(error)) => {
                    cli::exit_config_error("ingest-worker", &error)
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
        Command::DeadLetters { requeue, limit } => {
            if requeue {
                let moved = dead_letters::requeue(&config.amqp, limit)
                    .await
                    .context("requeueing dead letters")?;
                println!("requeued {moved} dead letter(s)");
            } else {
                for letter in dead_letters::list(&config.amqp, limit)
                    .await
                    .context("listing dead letters")?
                {
                    println!("{}", serde_json::to_string(&letter)?);
                }
            }
        }
        Command::ImportDump(args) => {
            let stop = CancellationToken::new();
            let trigger = stop.clone();
            tokio::spawn(async move {
                musicmeta_shared::shutdown::signal().await;
                trigger.cancel();
            });
            let options = ImportOptions {
                batch: args.batch,
                in_flight: args.in_flight,
                core_only: args.core_only,
                dumped_at: args.dumped_at,
            };
            // The import's progress table may be newer than the database.
            let pool = musicmeta_shared::db::build_pool(&config.database)?;
            musicmeta_shared::db::migrate::run(&pool)
                .await
                .context("migrating the database")?;
            let summary = import::run(
                &config.database,
                &args.paths,
                &options,
                Progress::Auto,
                stop,
            )
            .await
            .context("import stopped")?;
            println!("{summary}");
            if summary.interrupted {
                std::process::exit(130);
            }
        }
        Command::Rederive => {
            let pool = musicmeta_shared::db::build_pool(&config.database)?;
            let done = rederive::run(&pool)
                .await
                .context("rederiving stored entities")?;
            println!("{done}");
        }
        Command::Status { json } => {
            let pool = musicmeta_shared::db::build_pool(&config.database)?;
            let status = musicmeta_shared::status::collect(&pool, &config.amqp)
                .await
                .context("reading the fleet status")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{status}");
            }
        }
        Command::Backfill(args) => {
            let input: Box<dyn BufRead> = match &args.file {
                Some(path) if path.as_os_str() != "-" => Box::new(BufReader::new(
                    File::open(path).with_context(|| format!("opening {}", path.display()))?,
                )),
                _ => Box::new(std::io::stdin().lock()),
            };
            let options = BackfillOptions {
                entity_type: args.entity_type,
                depth: args.depth,
                dry_run: args.dry_run,
                force: args.force,
            };
            match backfill::run(&config, input, &options, Progress::Auto).await {
                Ok(summary) => println!("{summary}"),
                Err(error) => {
                    if let Some(summary) = error.summary() {
                        println!("{summary}");
                    }
                    return Err(error).context("backfill stopped");
                }
            }
        }
    }
    Ok(())
}
