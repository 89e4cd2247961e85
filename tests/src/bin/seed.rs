//! `seed`: fills a musicmeta database with N synthesized releases for the
//! benchmarks. Each release is a recorded lookup from
//! `tests/fixtures/musicbrainz/release/` with fresh deterministic MBIDs
//! (release `i` always gets the same ones), stored with its tracks,
//! recordings, credits, labels and release group through the production
//! upsert (`db::write::upsert_entity`); each artist its release credits is
//! stored in full too (a recorded artist under the new MBID and credited
//! name), so `GetArtist` has hits. Batches of releases share a transaction;
//! a few connections write at once; ANALYZE runs every few thousand
//! releases, as autovacuum would.
//!
//!   seed --database-url postgres://postgres@127.0.0.1:5432/musicmeta_bench \
//!        --releases 100000 --keys-dir target/bench
//!
//! writes `releases.txt` and `artists.txt` (one MBID a line) to the keys
//! folder, and prints how many releases per second were stored.

#[path = "../synth.rs"]
mod synth;

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use musicmeta_musicbrainz::model::parse_entity;
use musicmeta_shared::config::DatabaseConfig;
use musicmeta_shared::db;
use musicmeta_shared::domain::Entity;
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::fixtures;
use serde_json::Value;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    version,
    about = "Seed a musicmeta database with synthesized releases and their artists"
)]
struct Args {
    /// The (migrated) database to fill.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// How many releases to store.
    #[arg(long, default_value_t = 100_000)]
    releases: u64,
    /// Number of the first release; releases are numbered, so a second run
    /// from where the first ended adds new ones instead of rewriting them.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Connections writing at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Releases per transaction.
    #[arg(long, default_value_t = 50)]
    batch: u64,
    /// Run ANALYZE after every this many releases (0: never). Autovacuum
    /// would, but may be off or behind; with statistics from a nearly empty
    /// database the cached plans of the upserts scan whole tables and
    /// seeding slows down as it grows.
    #[arg(long, default_value_t = 2000)]
    analyze_every: u64,
    /// Folder to write `releases.txt` and `artists.txt` to (created if need be).
    #[arg(long)]
    keys_dir: Option<PathBuf>,
    /// Folder of recorded responses.
    #[arg(long, default_value_os_t = fixtures::dir())]
    fixtures: PathBuf,
    /// Print the result as one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
}

/// The MBIDs one writer stored.
#[derive(Default)]
struct Stored {
    releases: Vec<Uuid>,
    artists: Vec<Uuid>,
}

/// The MBID of release number `i`.
fn release_mbid(i: u64) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("https://musicmeta.invalid/bench/release/{i}").as_bytes(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.batch > 0 && args.connections > 0,
        "--batch and --connections must be > 0"
    );
    let templates = Arc::new(
        synth::Templates::load(&args.fixtures)
            .with_context(|| format!("reading recordings in {}", args.fixtures.display()))?,
    );
    let pool = db::build_pool(&DatabaseConfig {
        max_connections: args.connections,
        timeout_ms: 10_000,
        ..DatabaseConfig::for_url(&args.database_url)
    })?;
    db::check(&pool)
        .await
        .context("connecting to the database")?;

    let started = Instant::now();
    let end = args.first + args.releases;
    let next = Arc::new(AtomicU64::new(args.first));
    let mut writers = Vec::new();
    for _ in 0..args.connections {
        let (pool, templates, next) = (pool.clone(), templates.clone(), next.clone());
        let (batch, analyze_every) = (args.batch, args.analyze_every);
        writers.push(tokio::spawn(async move {
            let mut stored = Stored::default();
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed);
                if from >= end {
                    return Ok::<_, anyhow::Error>(stored);
                }
                let mut client = pool.get().await?;
                let tx = client.transaction().await?;
                for i in from..(from + batch).min(end) {
                    store_release(&tx, &templates, i, &mut stored).await?;
                }
                tx.commit().await?;
                if analyze_every > 0 && (from + batch) / analyze_every > from / analyze_every {
                    client.batch_execute("ANALYZE").await?;
                }
            }
        }));
    }
    let mut stored = Stored::default();
    for writer in writers {
        let part = writer.await??;
        stored.releases.extend(part.releases);
        stored.artists.extend(part.artists);
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = args.releases as f64 / seconds;

    if let Some(dir) = &args.keys_dir {
        std::fs::create_dir_all(dir)?;
        write_keys(&dir.join("releases.txt"), &stored.releases)?;
        write_keys(&dir.join("artists.txt"), &stored.artists)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "releases": stored.releases.len(),
                "artists": stored.artists.len(),
                "templates": templates.release_count(),
                "connections": args.connections,
                "seconds": seconds,
                "releases_per_s": rate,
            })
        );
    } else {
        println!(
            "seed: stored {} releases and {} artists (from {} recorded releases) in {seconds:.1} s: {rate:.0} releases/s over {} connections",
            stored.releases.len(),
            stored.artists.len(),
            templates.release_count(),
            args.connections,
        );
    }
    Ok(())
}

/// Stores release number `i` and the artists of its release credits.
async fn store_release(
    tx: &deadpool_postgres::Transaction<'_>,
    templates: &synth::Templates,
    i: u64,
    stored: &mut Stored,
) -> anyhow::Result<()> {
    let mbid = release_mbid(i);
    let raw = templates.release(mbid, i);
    let entity = parse_entity(EntityType::Release, &serde_json::to_vec(&raw)?)?;
    db::write::upsert_entity(tx, &entity, &raw, None).await?;
    stored.releases.push(mbid);
    let Entity::Release(release) = &entity else {
        anyhow::bail!("release recording parsed as another entity type");
    };
    let mut seen = HashSet::new();
    for credit in &release.artist_credit {
        let artist = credit.artist.mbid.as_uuid();
        if !seen.insert(artist) {
            continue;
        }
        let mut raw = templates.artist(artist, i);
        raw["name"] = Value::String(credit.artist.name.clone());
        raw["sort-name"] = Value::String(credit.artist.sort_name.clone());
        let entity = parse_entity(EntityType::Artist, &serde_json::to_vec(&raw)?)?;
        db::write::upsert_entity(tx, &entity, &raw, None).await?;
        stored.artists.push(artist);
    }
    Ok(())
}

fn write_keys(path: &std::path::Path, keys: &[Uuid]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for key in keys {
        writeln!(out, "{key}")?;
    }
    out.flush()
}
