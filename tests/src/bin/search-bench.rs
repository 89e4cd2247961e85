//! `search-bench`: search latency on a large cache. Seeds a throwaway,
//! migrated database with artists synthesised from the recorded ones (fresh
//! MBIDs; names recombined from varied words of every recorded name and
//! title, a few recorded names extended or misspelt, and one alias for
//! every tenth), then times
//! artist searches the way `SearchArtists` runs them (the same statement
//! and credit loading, first page of 25) and prints p50/p90/p99 and the plan
//! of a typical query. The database is dropped at the end.
//!
//!   cargo run --release -p musicmeta-tests --bin search-bench -- --artists 100000 --rounds 30
//!
//! Needs the test PostgreSQL (`MUSICMETA_TEST_PG`, as the tests).

use std::path::Path;
use std::time::{Duration, Instant};

use musicmeta_shared::catalog::SearchFilter;
use musicmeta_shared::db::{self, search};
use musicmeta_shared::mbid::EntityType;
use musicmeta_tests::database::TestDatabase;
use musicmeta_tests::fixtures;
use uuid::Uuid;

#[derive(clap::Parser)]
#[command(version, about = "Measure search latency on a cache of many artists")]
struct Args {
    /// Artists to seed (besides the recorded ones).
    #[arg(long, default_value_t = 100_000)]
    artists: usize,
    /// Times each query is run.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

/// Realistic queries: exact names, typos, prefixes, single words, an alias,
/// non-Latin script, and accents the user left out.
const QUERIES: [&str; 14] = [
    "bob dylan",
    "the beatles",
    "beatels",
    "paul mcartny",
    "leonard coen",
    "ed sheer",
    "john",
    "psy",
    "robert zimmerman",
    "محمد منير",
    "rick astley",
    "johann sebastian",
    "george harison",
    "lures",
];

/// A recorded artist, the seed of many synthetic ones.
#[derive(Clone)]
struct Recorded {
    name: String,
    sort_name: String,
    artist_type: Option<String>,
    country: Option<String>,
    begin: Option<String>,
}

fn recorded_artists() -> Vec<Recorded> {
    let dir = fixtures::dir().join("artist");
    let mut out: Vec<Recorded> = std::fs::read_dir(&dir)
        .expect("artist fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| read_artist(&p))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

fn read_artist(path: &Path) -> Option<Recorded> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(Recorded {
        name: text("name")?,
        sort_name: text("sort-name").unwrap_or_default(),
        artist_type: text("type"),
        country: text("country"),
        begin: v
            .pointer("/life-span/begin")
            .and_then(|x| x.as_str())
            .map(str::to_owned),
    })
}

/// Every word of every recorded name and title, to recombine.
fn recorded_words() -> Vec<String> {
    let mut words = Vec::new();
    for kind in ["artist", "label", "release-group", "recording", "release"] {
        let Ok(entries) = std::fs::read_dir(fixtures::dir().join(kind)) else {
            continue;
        };
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            for key in ["name", "title"] {
                if let Some(s) = v.get(key).and_then(|x| x.as_str()) {
                    words.extend(s.split_whitespace().map(str::to_owned));
                }
            }
        }
    }
    words.sort();
    words.dedup();
    words
}

/// A well-spread pseudo-random number for item `i` and purpose `salt`, so
/// runs seed the same cache.
fn pick(i: usize, salt: u64, n: usize) -> usize {
    let x =
        (i as u64 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((x ^ (x >> 31)) % n as u64) as usize
}

/// Swaps two neighbouring characters: a typo.
fn misspell(name: &str, i: usize) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() > 3 {
        let at = 1 + pick(i, 7, chars.len() - 2);
        chars.swap(at, at - 1);
    }
    chars.into_iter().collect()
}

/// Varies a word: swaps, drops or doubles a letter, or adds a syllable, so
/// the synthetic names draw on a vocabulary far larger than the recorded one.
fn vary(word: &str, i: usize, salt: u64) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    match pick(i, salt, 6) {
        0 if n > 3 => {
            let at = 1 + pick(i, salt + 1, n - 1);
            chars.swap(at, at - 1);
        }
        1 if n > 3 => {
            chars.remove(pick(i, salt + 1, n));
        }
        2 if n > 1 => {
            let at = pick(i, salt + 1, n);
            chars.insert(at, chars[at]);
        }
        3 => chars.extend(["a", "o", "ie", "en", "er", "ix"][pick(i, salt + 2, 6)].chars()),
        _ => {}
    }
    chars.into_iter().collect()
}

/// One synthetic artist: 1 in 50 a recorded name with a word added, 1 in 50
/// a recorded name misspelt, the rest two or three varied recorded words.
fn synthesise(i: usize, seeds: &[Recorded], words: &[String]) -> (Recorded, Option<String>) {
    let mut a = seeds[pick(i, 1, seeds.len())].clone();
    let word = |salt: u64| vary(&words[pick(i, salt, words.len())], i, salt + 100);
    a.name = match i % 50 {
        0 => format!("{} {}", a.name, word(2)),
        1 => misspell(&a.name, i),
        _ if pick(i, 5, 3) == 0 => format!("{} {} {}", word(2), word(3), word(4)),
        _ => format!("{} {}", word(2), word(3)),
    };
    a.sort_name = a.name.clone();
    let alias = i
        .is_multiple_of(10)
        .then(|| format!("{} {}", word(6), word(7)));
    (a, alias)
}

async fn seed(pool: &deadpool_postgres::Pool, count: usize) {
    let seeds = recorded_artists();
    let words = recorded_words();
    println!(
        "seeding {count} artists from {} recorded artists and {} recorded words",
        seeds.len(),
        words.len()
    );
    let client = pool.get().await.expect("connection");
    let insert = client
        .prepare(
            "INSERT INTO artist (mbid, name, sort_name, artist_type, country, begin_date, fetched_at) \
             SELECT *, now() FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])",
        )
        .await
        .expect("prepare");
    let alias = client
        .prepare(
            "INSERT INTO entity_alias (entity_type, mbid, position, name) \
             SELECT 'artist', m, 0, n FROM unnest($1::uuid[], $2::text[]) AS a(m, n)",
        )
        .await
        .expect("prepare");
    let namespace = Uuid::NAMESPACE_OID;
    for chunk in (0..count + seeds.len()).collect::<Vec<_>>().chunks(10_000) {
        let mut ids: Vec<Uuid> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut sort_names: Vec<String> = Vec::new();
        let mut types: Vec<Option<String>> = Vec::new();
        let mut countries: Vec<Option<String>> = Vec::new();
        let mut begins: Vec<Option<String>> = Vec::new();
        let mut aliases: (Vec<Uuid>, Vec<String>) = Default::default();
        for &i in chunk {
            // The recorded artists themselves, then the synthetic ones.
            let (a, al) = match seeds.get(i) {
                Some(s) => (s.clone(), None),
                None => synthesise(i, &seeds, &words),
            };
            let mbid = Uuid::new_v5(&namespace, format!("search-bench-artist-{i}").as_bytes());
            ids.push(mbid);
            names.push(a.name);
            sort_names.push(a.sort_name);
            types.push(a.artist_type);
            countries.push(a.country);
            begins.push(a.begin);
            if let Some(name) = al {
                aliases.0.push(mbid);
                aliases.1.push(name);
            }
        }
        client
            .execute(
                &insert,
                &[&ids, &names, &sort_names, &types, &countries, &begins],
            )
            .await
            .expect("insert artists");
        client
            .execute(&alias, &[&aliases.0, &aliases.1])
            .await
            .expect("insert aliases");
    }
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum analyze");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let Args { artists, rounds } = <Args as clap::Parser>::parse();
    let db = TestDatabase::migrated().await;
    let pool = db::build_pool(&db.config()).expect("pool");
    let started = Instant::now();
    seed(&pool, artists).await;
    let total = pool
        .get()
        .await
        .expect("connection")
        .query_one("SELECT count(*) FROM artist", &[])
        .await
        .expect("count")
        .get::<_, i64>(0);
    println!(
        "seeded {total} artists in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let filter = SearchFilter::default();
    // Warm the caches and the prepared statements.
    for q in QUERIES {
        search::search(&pool, EntityType::Artist, q, &filter, None, 26)
            .await
            .expect("search");
    }
    let mut all = Vec::new();
    println!();
    println!("| query | candidates by name | hits (page 1) | top hit | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for q in QUERIES {
        let mut times = Vec::with_capacity(rounds);
        let mut hits = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            hits = search::search(&pool, EntityType::Artist, q, &filter, None, 26)
                .await
                .expect("search");
            times.push(t.elapsed());
        }
        times.sort();
        all.extend(&times);
        let candidates = search::count_candidates(&pool, EntityType::Artist, q)
            .await
            .expect("count");
        let top = hits
            .first()
            .map(|h| match &h.summary {
                musicmeta_shared::catalog::Summary::Artist(a) => a.name.clone(),
                _ => String::new(),
            })
            .unwrap_or_default();
        println!(
            "| {q} | {candidates} | {} | {top} | {} | {} |",
            hits.len().min(25),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
    }
    all.sort();
    println!();
    println!(
        "all {} searches on {total} artists: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.9)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap_or(&Duration::ZERO)),
    );
    println!();
    println!("plan of SearchArtists(\"beatels\"):");
    let plan = search::explain(&pool, EntityType::Artist, "beatels", &filter, 26, true)
        .await
        .expect("explain");
    println!("{plan}");
    drop(pool);
}
