//! `ingest-worker import-dump`: seeds the cache from MusicBrainz's JSON data
//! dumps instead of the one-request-a-second web service.
//!
//! A dump is one `<entity>.tar.xz` per entity type, holding `TIMESTAMP`
//! (when the dump was made) and `mbdump/<entity>`: one entity per line, in
//! the ws/2 JSON shape with its includes. This reads archives (or entity
//! files already extracted) as streams, never a whole file in memory: a
//! reader thread decompresses and parses lines into batches, and the async
//! side stores several batches at once ([`IN_FLIGHT`] by default), each in
//! one transaction on its own connection together with the record of its
//! lines (`shared/src/db/dumps.rs`), so Ctrl-C or a crash loses nothing and
//! the next run reads only the lines no batch committed. Stored rows carry
//! the dump's time as their fetch time. A line that does not read as
//! an entity is counted and reported with its position (`file:line:
//! reason`) and never stops the import. Entity types without typed tables
//! (work, area, ...) are skipped and counted.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use deadpool_postgres::Pool;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use musicmeta_musicbrainz::model::parse_entity;
use musicmeta_shared::config::DatabaseConfig;
use musicmeta_shared::db::{self, DbError, dumps};
use musicmeta_shared::domain::{Document, Entity};
use musicmeta_shared::mbid::EntityType;
use tokio::sync::{RwLock, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::progress::{Progress, Reporter, Unit, rate};

/// Lines per transaction.
pub const DEFAULT_BATCH: usize = 500;
/// Batches stored at once by default, each on its own connection: with
/// one, the import was bound by one PostgreSQL backend on one core; two
/// stored 1.4× as many releases a second on two cores (docs/benchmarks.md).
pub const IN_FLIGHT: usize = 2;
/// Attempts at a batch that PostgreSQL aborted to break a deadlock. Batches
/// in flight together upsert the stubs of shared artists, labels and
/// recordings (Various Artists, `[no label]`) in their own orders, so they
/// can deadlock each other; a batch that lost once is stored again alone
/// (see [`store`]), and only a deadlock with another program (a worker's
/// fill) can make it lose again.
const ATTEMPTS: u32 = 5;
/// The keys MusicBrainz licenses under CC BY-NC-SA rather than CC0.
const NON_CC0_KEYS: [&str; 4] = ["tags", "genres", "rating", "annotation"];
/// Statistics are gathered (ANALYZE) when this many entities are stored,
/// and again each time four times as many are: the planner of an empty or
/// young cache would otherwise keep scanning tables that grew under it
/// (measured: 87 releases/s falling to 64/s over 5,000 without it).
const FIRST_ANALYZE: u64 = 500;
/// The other entity files of a dump, which have no typed tables.
const UNTYPED_DUMPS: [&str; 6] = ["area", "event", "instrument", "place", "series", "work"];
/// How many bad lines are listed one by one; the rest are only counted.
const LISTED_BAD_LINES: u64 = 100;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub batch: usize,
    /// Batches stored at once (at least 1).
    pub in_flight: usize,
    /// Leave out tags, genres, ratings and annotations (CC BY-NC-SA).
    pub core_only: bool,
    /// The dump's time, for entity files without a `TIMESTAMP` beside them.
    pub dumped_at: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch: DEFAULT_BATCH,
            in_flight: IN_FLIGHT,
            core_only: false,
            dumped_at: None,
        }
    }
}

/// What a run did, over all its files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Dump files (archive members or entity files) read in this run.
    pub files: u64,
    /// Read to their end before: not read again.
    pub already_done: u64,
    /// Of types without typed tables (work, area, ...): not read.
    pub unsupported: u64,
    pub stored: u64,
    /// Left alone: the cache held a newer fetch.
    pub newer: u64,
    pub bad: u64,
    /// Stopped before the end (Ctrl-C); the next run resumes.
    pub interrupted: bool,
    pub seconds: f64,
}

impl Summary {
    /// Entities stored per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.stored as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stored {} ({:.0}/s), left {} newer, bad lines {}, files {} (already imported {}, \
             skipped {} of types without typed tables)",
            self.stored,
            self.rate(),
            self.newer,
            self.bad,
            self.files,
            self.already_done,
            self.unsupported
        )?;
        if self.interrupted {
            f.write_str("; interrupted: run again to resume")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{0}: the dump's time is unknown; give --dumped-at (the TIMESTAMP of the dump)")]
    NoTimestamp(String),
    #[error("{0}: not a dump file (expected <entity>.tar.xz, or an mbdump/<entity> file)")]
    NotADump(String),
    #[error("{source_name}: the dump's TIMESTAMP {timestamp:?} is not a time")]
    BadTimestamp {
        source_name: String,
        timestamp: String,
    },
    #[error(transparent)]
    Database(#[from] DbError),
}

/// The dump's time, as the dump writes it (`2026-11-28 00:00:10.1+00`);
/// PostgreSQL reads it.
#[derive(Debug, Clone)]
enum DumpTime {
    Text(String),
    At(SystemTime),
}

/// What the reader thread tells the storing side.
enum Message {
    /// A dump file begins; the reply says where it stands.
    Begin {
        source: String,
        entity_type: EntityType,
        dumped_at: DumpTime,
        reply: oneshot::Sender<Option<dumps::ImportState>>,
    },
    Batch {
        items: Vec<(Entity, Document)>,
        /// The lines of the file this batch covers.
        lines: dumps::Lines,
        bad: Vec<(u64, String)>,
    },
    End,
    Unsupported,
    Failed(ImportError),
}

pub async fn run(
    database: &DatabaseConfig,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: Progress,
    stop: CancellationToken,
) -> Result<Summary, ImportError> {
    let in_flight_max = options.in_flight.max(1);
    // A connection for each batch in flight and one for the file's progress.
    let database = DatabaseConfig {
        max_connections: database.max_connections.max(in_flight_max + 1),
        ..database.clone()
    };
    let pool = db::build_pool(&database)?;
    db::check(&pool).await?;
    let total: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::channel::<Message>(2);
    let reader = {
        let paths = paths.to_vec();
        let options = options.clone();
        let read_bytes = read_bytes.clone();
        std::thread::spawn(move || read_all(&paths, &options, &read_bytes, &tx))
    };

    let started = Instant::now();
    let mut reporter = Reporter::start(progress, total, Unit::Bytes);
    let mut summary = Summary::default();
    let mut client = pool.get().await.map_err(DbError::from)?;
    let mut current: Option<(String, EntityType, SystemTime)> = None;
    let mut listed = 0;
    let mut next_analyze = FIRST_ANALYZE;
    // Batches being stored. A file begins and ends only with none in
    // flight, so its totals and `finished` see every batch.
    let mut in_flight = FuturesUnordered::new();
    let turns = Arc::new(RwLock::new(()));
    let result = loop {
        let message = tokio::select! {
            // Settle stored batches first, so their slots free up.
            biased;
            Some(stored) = in_flight.next() => {
                match settle(&mut summary, stored, &client, &mut next_analyze).await {
                    Ok(()) => {
                        reporter.advance(read_bytes.load(Ordering::Relaxed));
                        reporter.detail(format!(
                            "{} entities, {:.0}/s",
                            summary.stored,
                            rate(summary.stored, started.elapsed())
                        ));
                        continue;
                    }
                    Err(e) => break Err(e),
                }
            }
            () = stop.cancelled() => {
                summary.interrupted = true;
                break Ok(());
            }
            message = rx.recv(), if in_flight.len() < in_flight_max => message,
        };
        let Some(message) = message else {
            break Ok(());
        };
        match message {
            Message::Begin {
                source,
                entity_type,
                dumped_at,
                reply,
            } => {
                if let Err(e) =
                    drain(&mut in_flight, &mut summary, &client, &mut next_analyze).await
                {
                    break Err(e);
                }
                let at = match dumped_at {
                    DumpTime::At(at) => at,
                    DumpTime::Text(text) => {
                        match client
                            .query_one("SELECT $1::text::timestamptz", &[&text])
                            .await
                        {
                            Ok(row) => row.get(0),
                            Err(_) => {
                                break Err(ImportError::BadTimestamp {
                                    source_name: source,
                                    timestamp: text,
                                });
                            }
                        }
                    }
                };
                let state = match dumps::begin(&mut client, &source, at).await {
                    Ok(state) => state,
                    Err(e) => break Err(e.into()),
                };
                if state.finished {
                    summary.already_done += 1;
                    reporter.note(&format!("{source}: imported before; not read again"));
                    let _ = reply.send(None);
                } else {
                    summary.files += 1;
                    if state.lines > 0 || !state.done.is_empty() {
                        reporter.note(&format!(
                            "{source}: resuming after line {}{}",
                            state.lines,
                            if state.done.is_empty() {
                                String::new()
                            } else {
                                format!(", {} later batches done", state.done.len())
                            }
                        ));
                    }
                    current = Some((source, entity_type, at));
                    let _ = reply.send(Some(state));
                }
            }
            Message::Batch { items, lines, bad } => {
                let Some((source, entity_type, at)) = &current else {
                    continue;
                };
                for (line, reason) in &bad {
                    if listed < LISTED_BAD_LINES {
                        reporter.note(&format!("{source}:{line}: {reason}"));
                    }
                    listed += 1;
                }
                in_flight.push(store(
                    pool.clone(),
                    turns.clone(),
                    Batch {
                        source: source.clone(),
                        entity_type: *entity_type,
                        dumped_at: *at,
                        items,
                        lines,
                        bad: bad.len() as i64,
                    },
                ));
            }
            Message::End => {
                if let Err(e) =
                    drain(&mut in_flight, &mut summary, &client, &mut next_analyze).await
                {
                    break Err(e);
                }
                if let Some((source, _, _)) = current.take()
                    && let Err(e) = dumps::finish(&mut client, &source).await
                {
                    break Err(e.into());
                }
            }
            Message::Unsupported => summary.unsupported += 1,
            Message::Failed(error) => break Err(error),
        }
    };
    // What is in flight commits (or fails) before the run ends: an
    // interrupted run keeps every batch it started.
    let drained = drain(&mut in_flight, &mut summary, &client, &mut next_analyze).await;
    let result = result.and(drained);
    // Dropping the receiver stops the reader at its next batch; joined off
    // the runtime's threads, as it may be inside a long line.
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    if listed > LISTED_BAD_LINES {
        reporter.note(&format!(
            "{} more bad lines not listed",
            listed - LISTED_BAD_LINES
        ));
    }
    reporter.advance(read_bytes.load(Ordering::Relaxed));
    reporter.finish();
    summary.seconds = started.elapsed().as_secs_f64();
    result.map(|()| summary)
}

/// One batch to store.
struct Batch {
    source: String,
    entity_type: EntityType,
    dumped_at: SystemTime,
    items: Vec<(Entity, Document)>,
    lines: dumps::Lines,
    bad: i64,
}

/// Stores `batch` in its own transaction on its own connection. Batches
/// share `turns` while they store; one chosen as a deadlock's victim takes
/// it for itself, so it is stored again once the others in flight have
/// committed, and while it is, no other batch starts: it cannot deadlock
/// with them again.
async fn store(
    pool: Pool,
    turns: Arc<RwLock<()>>,
    batch: Batch,
) -> Result<(dumps::BatchOutcome, i64), ImportError> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    let mut attempt = 1;
    loop {
        // Held until this attempt's transaction has ended.
        let (_shared, _alone) = if attempt == 1 {
            (Some(turns.read().await), None)
        } else {
            (None, Some(turns.write().await))
        };
        let stored = async {
            let tx = client.transaction().await?;
            let outcome = dumps::store_batch(
                &tx,
                &batch.source,
                batch.entity_type,
                batch.dumped_at,
                &batch.items,
                batch.lines,
                batch.bad,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, DbError>(outcome)
        }
        .await;
        match stored {
            Err(e) if attempt < ATTEMPTS && e.is_deadlock() => {
                tracing::debug!(source = %batch.source, first_line = batch.lines.first, attempt, "batch chosen as a deadlock's victim; storing it again");
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
            Ok(outcome) => return Ok((outcome, batch.bad)),
        }
    }
}

/// Counts a stored batch, and gathers statistics when the cache has grown
/// enough since the last time.
async fn settle(
    summary: &mut Summary,
    stored: Result<(dumps::BatchOutcome, i64), ImportError>,
    client: &deadpool_postgres::Client,
    next_analyze: &mut u64,
) -> Result<(), ImportError> {
    let (outcome, bad) = stored?;
    summary.stored += outcome.stored as u64;
    summary.newer += outcome.newer as u64;
    summary.bad += bad as u64;
    if summary.stored >= *next_analyze {
        *next_analyze = summary.stored.saturating_mul(4);
        client
            .batch_execute("ANALYZE")
            .await
            .map_err(DbError::from)?;
    }
    Ok(())
}

/// Waits for every batch in flight and counts them; the first error wins,
/// after the others settled.
async fn drain(
    in_flight: &mut FuturesUnordered<
        impl Future<Output = Result<(dumps::BatchOutcome, i64), ImportError>>,
    >,
    summary: &mut Summary,
    client: &deadpool_postgres::Client,
    next_analyze: &mut u64,
) -> Result<(), ImportError> {
    let mut result = Ok(());
    while let Some(stored) = in_flight.next().await {
        let settled = settle(summary, stored, client, next_analyze).await;
        result = result.and(settled);
    }
    result
}

/// Counts the bytes read from the file, for the progress bar.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The reader thread: every path in turn. Returns when done, on a fatal
/// error (sent), or when the storing side hung up.
fn read_all(
    paths: &[PathBuf],
    options: &ImportOptions,
    count: &Arc<AtomicU64>,
    tx: &mpsc::Sender<Message>,
) {
    for path in paths {
        let shown = path.display().to_string();
        let opened = File::open(path).map(|inner| {
            BufReader::with_capacity(
                1 << 20,
                Counted {
                    inner,
                    count: count.clone(),
                },
            )
        });
        let file = match opened {
            Ok(file) => file,
            Err(source) => {
                let _ = tx.blocking_send(Message::Failed(ImportError::Read {
                    path: shown,
                    source,
                }));
                return;
            }
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let outcome = if name.ends_with(".tar.xz") {
            read_archive(
                &shown,
                name,
                liblzma::read::XzDecoder::new(file),
                options,
                tx,
            )
        } else if name.ends_with(".tar") {
            read_archive(&shown, name, file, options, tx)
        } else {
            read_entity_file(path, &shown, file, options, tx)
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                let _ = tx.blocking_send(Message::Failed(error));
                return;
            }
        }
    }
}

/// Reads the members of one archive. `Ok(false)`: the storing side hung up.
fn read_archive(
    shown: &str,
    name: &str,
    input: impl Read,
    options: &ImportOptions,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, ImportError> {
    let failed = |source| ImportError::Read {
        path: shown.to_owned(),
        source,
    };
    let mut archive = tar::Archive::new(input);
    let mut timestamp = options.dumped_at.clone().map(DumpTime::Text);
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let member = entry.path().map_err(failed)?.to_string_lossy().into_owned();
        if member == "TIMESTAMP" {
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(failed)?;
            timestamp = Some(DumpTime::Text(text.trim().to_owned()));
            continue;
        }
        let Some(kind) = member.strip_prefix("mbdump/") else {
            continue;
        };
        let Ok(entity_type) = EntityType::from_str(kind) else {
            if tx.blocking_send(Message::Unsupported).is_err() {
                return Ok(false);
            }
            continue;
        };
        // MusicBrainz writes TIMESTAMP first; should a dump not, the
        // member's own time stands in for it.
        let dumped_at = match &timestamp {
            Some(t) => t.clone(),
            None => match entry.header().mtime() {
                Ok(secs) => {
                    DumpTime::At(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                }
                Err(_) => return Err(ImportError::NoTimestamp(shown.to_owned())),
            },
        };
        let source = format!("{name}:{member}");
        if !read_lines(
            source,
            entity_type,
            dumped_at,
            BufReader::new(&mut entry),
            options,
            tx,
        )? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads an extracted entity file (`mbdump/release`), whose type is its
/// name and whose dump time is `--dumped-at` or the `TIMESTAMP` beside its
/// folder.
fn read_entity_file(
    path: &Path,
    shown: &str,
    input: impl BufRead,
    options: &ImportOptions,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, ImportError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Ok(entity_type) = EntityType::from_str(name) else {
        if UNTYPED_DUMPS.contains(&name) {
            return Ok(tx.blocking_send(Message::Unsupported).is_ok());
        }
        return Err(ImportError::NotADump(shown.to_owned()));
    };
    let dumped_at = match &options.dumped_at {
        Some(text) => DumpTime::Text(text.clone()),
        None => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let beside = [dir.join("TIMESTAMP"), dir.join("..").join("TIMESTAMP")];
            match beside.iter().find_map(|p| std::fs::read_to_string(p).ok()) {
                Some(text) => DumpTime::Text(text.trim().to_owned()),
                None => return Err(ImportError::NoTimestamp(shown.to_owned())),
            }
        }
    };
    let source = path
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| shown.to_owned());
    read_lines(source, entity_type, dumped_at, input, options, tx)
}

/// Reads one dump file's lines in batches, after those a previous run
/// committed. `Ok(false)`: the storing side hung up.
fn read_lines(
    source: String,
    entity_type: EntityType,
    dumped_at: DumpTime,
    mut input: impl BufRead,
    options: &ImportOptions,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, ImportError> {
    let (reply, state) = oneshot::channel();
    let begin = Message::Begin {
        source: source.clone(),
        entity_type,
        dumped_at,
        reply,
    };
    if tx.blocking_send(begin).is_err() {
        return Ok(false);
    }
    let Ok(state) = state.blocking_recv() else {
        return Ok(false);
    };
    let Some(state) = state else {
        return Ok(true);
    };
    let skip = u64::try_from(state.lines).unwrap_or(0);
    let done = |number: u64| {
        let number = i64::try_from(number).unwrap_or(i64::MAX);
        state
            .done
            .iter()
            .any(|&(first, last)| (first..=last).contains(&number))
    };
    let failed = |e| ImportError::Read {
        path: source.clone(),
        source: e,
    };
    let mut number: u64 = 0;
    // The first line of the batch being gathered.
    let mut first = skip + 1;
    let mut line = Vec::new();
    let mut items = Vec::with_capacity(options.batch);
    let mut bad = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(failed)?;
        let end = n == 0;
        if !end {
            number += 1;
            if number > skip && !done(number) {
                match read_entity(entity_type, &line, options.core_only) {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => {}
                    Err(reason) => bad.push((number, reason)),
                }
            }
        }
        if end || items.len() + bad.len() >= options.batch {
            if !items.is_empty() || !bad.is_empty() || (end && number > skip) {
                let batch = Message::Batch {
                    items: std::mem::replace(&mut items, Vec::with_capacity(options.batch)),
                    lines: dumps::Lines {
                        first: i64::try_from(first).unwrap_or(i64::MAX),
                        last: i64::try_from(number).unwrap_or(i64::MAX),
                    },
                    bad: std::mem::take(&mut bad),
                };
                if tx.blocking_send(batch).is_err() {
                    return Ok(false);
                }
                first = number + 1;
            }
            if end {
                return Ok(tx.blocking_send(Message::End).is_ok());
            }
        }
    }
}

/// One line as an entity and the document it is stored with; `None` for a
/// blank line; the reason when it does not read.
fn read_entity(
    entity_type: EntityType,
    line: &[u8],
    core_only: bool,
) -> Result<Option<(Entity, Document)>, String> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    let body = if core_only {
        let mut value: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
        strip_non_cc0(&mut value);
        value.to_string().into_bytes()
    } else {
        line.to_vec()
    };
    let entity = parse_entity(entity_type, &body).map_err(|e| e.to_string())?;
    Ok(Some((entity, Document::new(body))))
}

/// Removes the CC BY-NC-SA parts everywhere in an entity.
fn strip_non_cc0(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in NON_CC0_KEYS {
                map.remove(key);
            }
            map.values_mut().for_each(strip_non_cc0);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_non_cc0),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_only_leaves_out_tags_genres_ratings_and_annotations_everywhere() {
        let mut value = serde_json::json!({
            "id": "x", "tags": [1], "annotation": "a", "rating": {"value": 5},
            "release-group": {"genres": [2], "title": "t"},
            "media": [{"tracks": [{"recording": {"tags": [3], "title": "r"}}]}]
        });
        strip_non_cc0(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "id": "x", "release-group": {"title": "t"},
                "media": [{"tracks": [{"recording": {"title": "r"}}]}]
            })
        );
    }

    #[test]
    fn blank_lines_are_nothing_and_bad_lines_say_why() {
        assert_eq!(read_entity(EntityType::Artist, b"  \r\n", false), Ok(None));
        let bad = read_entity(EntityType::Artist, b"{\"name\": \"x\"}\n", false).unwrap_err();
        assert!(bad.contains("no entity id"), "{bad}");
        let bad = read_entity(EntityType::Artist, b"{oops\n", true).unwrap_err();
        assert!(bad.starts_with("not JSON"), "{bad}");
    }
}
