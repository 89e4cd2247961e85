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
//!
//! Beyond `--synthesized` releases (5,000), the rest are copies made in
//! SQL, about a thousand releases a second on two cores instead of a
//! hundred: each round, on one of the connections, copies every synthesized
//! release with its release group, media, tracks, recordings, ISRCs,
//! credits, labels and annotations, every MBID mapped to `md5(mbid/round)`
//! (artists and labels are shared, as on real releases of one artist).
//! Triggers and foreign-key checks are off for the copy
//! (`session_replication_role = replica`): the database is new, so no
//! stored answer exists to void. A copy's `raw` document still names its
//! original's MBIDs; the gRPC reads, which the scaling series measures, do
//! not read it.

#[path = "../synth.rs"]
mod synth;

use std::collections::{BTreeMap, HashSet};
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
    /// How many of them are synthesized and stored through the production
    /// upsert; the rest are copies of those, made in SQL (see the module
    /// docs). 0: all synthesized.
    #[arg(long, default_value_t = 5_000)]
    synthesized: u64,
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
    let synthesized = match args.synthesized {
        0 => args.releases,
        n => n.min(args.releases),
    };
    let end = args.first + synthesized;
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
    let copied = if args.releases > synthesized {
        copy_releases(
            &pool,
            args.connections,
            &stored.releases,
            args.releases - synthesized,
        )
        .await?
    } else {
        Vec::new()
    };
    let copies = copied.len();
    stored.releases.extend(copied);
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
                "synthesized": synthesized,
                "copies": copies,
                "connections": args.connections,
                "seconds": seconds,
                "releases_per_s": rate,
            })
        );
    } else {
        println!(
            "seed: stored {} releases ({copies} of them copies) and {} artists (from {} recorded releases) in {seconds:.1} s: {rate:.0} releases/s over {} connections",
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

/// Which rows a copy round takes, per table: those belonging to the first
/// `$2` synthesized releases (the `seed_*` sets), and the columns holding
/// MBIDs to map to the copy's.
const COPIED: &[(&str, &str, &[&str])] = &[
    (
        "release_group",
        "mbid IN (SELECT mbid FROM seed_group WHERE n < $2)",
        &["mbid"],
    ),
    (
        "recording",
        "mbid IN (SELECT mbid FROM seed_recording WHERE n < $2)",
        &["mbid"],
    ),
    (
        "recording_isrc",
        "recording_mbid IN (SELECT mbid FROM seed_recording WHERE n < $2)",
        &["recording_mbid"],
    ),
    (
        "release",
        "mbid IN (SELECT mbid FROM seed_release WHERE n < $2)",
        &["mbid", "release_group_mbid"],
    ),
    (
        "medium",
        "release_mbid IN (SELECT mbid FROM seed_release WHERE n < $2)",
        &["release_mbid"],
    ),
    (
        "track",
        "release_mbid IN (SELECT mbid FROM seed_release WHERE n < $2)",
        &["mbid", "release_mbid", "recording_mbid"],
    ),
    (
        "release_label",
        "release_mbid IN (SELECT mbid FROM seed_release WHERE n < $2)",
        &["release_mbid"],
    ),
    (
        "artist_credit",
        "(entity_type, mbid) IN (SELECT kind, mbid FROM seed_owned WHERE n < $2)",
        &["mbid"],
    ),
    (
        "entity_alias",
        "(entity_type, mbid) IN (SELECT kind, mbid FROM seed_owned WHERE n < $2)",
        &["mbid"],
    ),
    (
        "entity_tag",
        "(entity_type, mbid) IN (SELECT kind, mbid FROM seed_owned WHERE n < $2)",
        &["mbid"],
    ),
    (
        "entity_url",
        "(entity_type, mbid) IN (SELECT kind, mbid FROM seed_owned WHERE n < $2)",
        &["mbid"],
    ),
];

/// Adds `count` copies of the `synthesized` releases (see the module docs),
/// in rounds of one copy of each, one transaction a round, the rounds spread
/// over the pool's connections (a round is one backend's work, and rounds
/// touch disjoint rows); their MBIDs, in round order.
async fn copy_releases(
    pool: &deadpool_postgres::Pool,
    connections: usize,
    synthesized: &[Uuid],
    count: u64,
) -> anyhow::Result<Vec<Uuid>> {
    let per_round = u64::try_from(synthesized.len())?;
    anyhow::ensure!(per_round > 0, "no stored release to copy");
    let rounds = count.div_ceil(per_round);
    let next = Arc::new(AtomicU64::new(1));
    let synthesized = Arc::new(synthesized.to_vec());
    let mut copiers = Vec::new();
    for _ in 0..connections.min(usize::try_from(rounds)?) {
        let (pool, next, synthesized) = (pool.clone(), next.clone(), synthesized.clone());
        copiers.push(tokio::spawn(async move {
            let client = pool.get().await?;
            let statements = prepare_copy(&client, &synthesized).await?;
            let keys_sql =
                "SELECT pg_temp.seed_copy(mbid, $1) FROM seed_release WHERE n < $2 ORDER BY n";
            let mut copied = Vec::new();
            loop {
                let round = next.fetch_add(1, Ordering::Relaxed);
                if round > rounds {
                    break;
                }
                let take = i32::try_from(per_round.min(count - (round - 1) * per_round))?;
                let round = i32::try_from(round)?;
                client.batch_execute("BEGIN").await?;
                for sql in &statements {
                    client.execute(sql.as_str(), &[&round, &take]).await?;
                }
                client.batch_execute("COMMIT").await?;
                let keys = client.query(keys_sql, &[&round, &take]).await?;
                copied.push((round, keys.iter().map(|r| r.get(0)).collect::<Vec<Uuid>>()));
            }
            client
                .batch_execute("RESET session_replication_role")
                .await?;
            Ok::<_, anyhow::Error>(copied)
        }));
    }
    let mut by_round = BTreeMap::new();
    for copier in copiers {
        by_round.extend(copier.await??);
    }
    pool.get().await?.batch_execute("ANALYZE").await?;
    Ok(by_round.into_values().flatten().collect())
}

/// Sets a connection up to copy: triggers and foreign-key checks off, the
/// MBID mapping, and the sets of rows each table's copy takes (temporary,
/// so per connection); the copy statements, one per table, with `$1` the
/// round and `$2` how many of the synthesized releases it copies.
async fn prepare_copy(
    client: &deadpool_postgres::Client,
    synthesized: &[Uuid],
) -> anyhow::Result<Vec<String>> {
    client
        .execute(
            "CREATE TEMP TABLE seed_release AS SELECT mbid, (ord - 1)::int AS n \
             FROM unnest($1::uuid[]) WITH ORDINALITY AS u (mbid, ord)",
            &[&synthesized],
        )
        .await?;
    client
        .batch_execute(
            "SET session_replication_role = replica;
             CREATE FUNCTION pg_temp.seed_copy(u uuid, k int) RETURNS uuid
               LANGUAGE sql IMMUTABLE AS $$ SELECT md5(u::text || '/' || k::text)::uuid $$;
             CREATE TEMP TABLE seed_group AS
               SELECT DISTINCT ON (r.release_group_mbid) r.release_group_mbid AS mbid, s.n
               FROM release r JOIN seed_release s USING (mbid)
               WHERE r.release_group_mbid IS NOT NULL ORDER BY r.release_group_mbid, s.n;
             CREATE TEMP TABLE seed_track AS
               SELECT t.mbid, s.n FROM track t JOIN seed_release s ON s.mbid = t.release_mbid;
             CREATE TEMP TABLE seed_recording AS
               SELECT DISTINCT ON (t.recording_mbid) t.recording_mbid AS mbid, s.n
               FROM track t JOIN seed_release s ON s.mbid = t.release_mbid
               ORDER BY t.recording_mbid, s.n;
             CREATE TEMP TABLE seed_owned AS
               SELECT 'release' AS kind, mbid, n FROM seed_release
               UNION ALL SELECT 'track', mbid, n FROM seed_track
               UNION ALL SELECT 'recording', mbid, n FROM seed_recording
               UNION ALL SELECT 'release-group', mbid, n FROM seed_group;
             CREATE INDEX ON seed_owned (kind, mbid);
             ANALYZE seed_release, seed_group, seed_track, seed_recording, seed_owned;",
        )
        .await?;
    let mut statements = Vec::new();
    for (table, rows, mapped) in COPIED {
        let columns: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
                &[table],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let values: Vec<String> = columns
            .iter()
            .map(|c| match mapped.contains(&c.as_str()) {
                true => format!("pg_temp.seed_copy({c}, $1)"),
                false => c.clone(),
            })
            .collect();
        // Names from the schema and this table, not from input.
        statements.push(format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {table} WHERE {rows}",
            columns.join(", "),
            values.join(", "),
        ));
    }
    Ok(statements)
}

fn write_keys(path: &std::path::Path, keys: &[Uuid]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for key in keys {
        writeln!(out, "{key}")?;
    }
    out.flush()
}
