//! `ingest-worker backfill`: fills the cache in bulk by publishing one fetch
//! job per listed entity to the backfill lane, the lowest-priority lane, so
//! workers still serve interactive lookups first. The input holds one
//! `<entity-type> <mbid>` per line (or a plain MBID when a default type is
//! given); blank lines and `#` comments are ignored, and malformed lines are
//! reported as `line N: <reason>` on stderr and skipped. Entities the cache
//! already holds fresh are skipped unless forced. Jobs are asked for through
//! `FetchRequests`, the path every producer uses, in batches: an entity
//! with a fetch already pending is not asked for twice, a job counted as
//! published was confirmed by the broker, and while the broker is down jobs
//! wait in the outbox for the relay of any running query-api or worker. A
//! database failure stops the run; the error carries the counts so far.

use std::fmt;
use std::io::{self, BufRead};

use musicmeta_shared::amqp::{JobPublisher, Topology};

use crate::progress::{Reporter, Unit};
use musicmeta_shared::config::Config;
use musicmeta_shared::db::{self, DbError, PgStore, redirects};
use musicmeta_shared::fetch_requests::{FetchRequests, Request, Requested};
use musicmeta_shared::jobs::{FetchJob, Lane, MAX_DEPTH};
use musicmeta_shared::mbid::{EntityType, Mbid};

/// Jobs asked for in one transaction and one round of publishes.
const BATCH: usize = 500;

/// How a backfill run is to treat its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillOptions {
    /// The type of lines that hold only an MBID; lines that name a type must
    /// agree with it.
    pub entity_type: Option<EntityType>,
    /// The crawl depth of every job (0..=[`MAX_DEPTH`]).
    pub depth: u8,
    /// Count what would be published, publish nothing.
    pub dry_run: bool,
    /// Publish fresh entities too, as forced jobs the worker refetches.
    pub force: bool,
}

pub use crate::progress::Progress;

/// A line that was skipped because it is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number in the input.
    pub line: usize,
    pub reason: String,
}

/// What a run did (or, with `dry_run`, would have done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillSummary {
    pub dry_run: bool,
    /// Jobs the broker confirmed (with `dry_run`: jobs that would be published).
    pub published: usize,
    /// Entities skipped because the cache holds them fresh.
    pub skipped: usize,
    /// Entities skipped because a fetch of them is pending already.
    pub pending: usize,
    /// Jobs left in the outbox because the broker did not confirm them; the
    /// relay of a running query-api or worker publishes them.
    pub staged: usize,
    /// Malformed lines, in input order.
    pub rejected: Vec<Rejection>,
}

impl fmt::Display for BackfillSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (publish, skip) = if self.dry_run {
            ("would publish", "would skip")
        } else {
            ("published", "skipped")
        };
        write!(
            f,
            "{publish} {}, {skip} {} (already fresh)",
            self.published, self.skipped
        )?;
        if self.pending > 0 {
            write!(f, ", {skip} {} (fetch already pending)", self.pending)?;
        }
        if self.staged > 0 {
            write!(
                f,
                ", staged {} (broker unavailable; relayed when it is back)",
                self.staged
            )?;
        }
        write!(f, ", rejected {}", self.rejected.len())
    }
}

/// Why a run stopped. The per-line failures carry the counts up to the
/// line that failed ([`BackfillError::summary`]).
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("depth {0} is above the maximum of {MAX_DEPTH}")]
    TooDeep(u8),
    #[error("cannot read the input: {0}")]
    Read(#[source] io::Error),
    #[error("cannot reach the database: {0}")]
    Database(#[source] DbError),
    #[error("line {line}: cannot check whether {entity_type} {mbid} is fresh: {source}")]
    FreshnessCheck {
        line: usize,
        entity_type: EntityType,
        mbid: Mbid,
        #[source]
        source: DbError,
        summary: Box<BackfillSummary>,
    },
    #[error("lines {first}-{last}: cannot ask for their fetches: {source}")]
    Request {
        first: usize,
        last: usize,
        #[source]
        source: DbError,
        summary: Box<BackfillSummary>,
    },
}

impl BackfillError {
    /// The counts up to the failure, when the run had started on its lines.
    pub fn summary(&self) -> Option<&BackfillSummary> {
        match self {
            BackfillError::FreshnessCheck { summary, .. }
            | BackfillError::Request { summary, .. } => Some(summary),
            _ => None,
        }
    }
}

/// Parses one input line: `Ok(None)` for a blank line or a `#` comment,
/// `Ok(Some(..))` for `<entity-type> <mbid>` (or a plain MBID when
/// `default_type` is given), `Err(reason)` for anything else.
pub fn parse_line(
    line: &str,
    default_type: Option<EntityType>,
) -> Result<Option<(EntityType, Mbid)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    let mbid = |s: &str| Mbid::parse(s).map_err(|e| e.to_string());
    match (fields.as_slice(), default_type) {
        ([id], Some(entity_type)) => Ok(Some((entity_type, mbid(id)?))),
        ([word], None) if word.parse::<EntityType>().is_ok() => {
            Err(format!("entity type {word:?} without an MBID"))
        }
        ([_], None) => {
            Err("a plain MBID needs --type (or write \"<entity-type> <mbid>\")".to_owned())
        }
        ([kind, id], default_type) => {
            let entity_type = kind.parse::<EntityType>().map_err(|e| e.to_string())?;
            if let Some(default_type) = default_type
                && default_type != entity_type
            {
                return Err(format!(
                    "entity type {entity_type} disagrees with --type {default_type}"
                ));
            }
            Ok(Some((entity_type, mbid(id)?)))
        }
        (fields, _) => Err(format!(
            "expected \"<entity-type> <mbid>\", found {} fields",
            fields.len()
        )),
    }
}

/// Reads every line (so the total is known), asks for a fetch of each
/// valid line whose entity is not fresh (or of every valid line with
/// `force`), and returns the counts. Malformed lines are reported on stderr
/// and counted.
pub async fn run(
    config: &Config,
    input: impl BufRead,
    options: &BackfillOptions,
    progress: Progress,
) -> Result<BackfillSummary, BackfillError> {
    if options.depth > MAX_DEPTH {
        return Err(BackfillError::TooDeep(options.depth));
    }
    let lines = read_lines(input).map_err(BackfillError::Read)?;
    // A forced dry run needs nothing: it only counts.
    let pool = if options.force && options.dry_run {
        None
    } else {
        let pool = db::build_pool(&config.database).map_err(BackfillError::Database)?;
        db::check(&pool).await.map_err(BackfillError::Database)?;
        Some(pool)
    };
    let store = pool.clone().filter(|_| !options.force).map(PgStore::new);
    let publisher = std::sync::Arc::new(JobPublisher::new(
        config.amqp.endpoints(),
        Topology::from_config(&config.amqp),
    ));
    let requests = pool
        .filter(|_| !options.dry_run)
        .map(|pool| FetchRequests::new(pool, publisher.clone(), config));

    let mut summary = BackfillSummary {
        dry_run: options.dry_run,
        ..BackfillSummary::default()
    };
    let mut reporter = Reporter::start(progress, lines.len() as u64, Unit::Lines);
    let mut batch = Batch::default();
    let mut failure = None;
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        reporter.advance(number as u64);
        let parsed = match line {
            Some(text) => parse_line(text, options.entity_type),
            None => Err("not valid UTF-8".to_owned()),
        };
        let (entity_type, mbid) = match parsed {
            Ok(Some(entry)) => entry,
            Ok(None) => continue,
            Err(reason) => {
                reporter.note(&format!("line {number}: {reason}"));
                summary.rejected.push(Rejection {
                    line: number,
                    reason,
                });
                continue;
            }
        };
        if let Some(store) = &store {
            match redirects::is_fresh(store, &config.cache, entity_type, mbid).await {
                Ok(true) => {
                    summary.skipped += 1;
                    continue;
                }
                Ok(false) => {}
                Err(source) => {
                    failure = Some(Failure::FreshnessCheck {
                        line: number,
                        entity_type,
                        mbid,
                        source,
                    });
                    break;
                }
            }
        }
        let mut job = FetchJob::new(entity_type, mbid).with_depth(options.depth);
        if options.force {
            job = job.forced();
        }
        batch.push(number, Request::fetch(job, Lane::Backfill));
        if batch.len() >= BATCH
            && let Err(f) = batch.send(requests.as_ref(), &mut summary).await
        {
            failure = Some(f);
            break;
        }
    }
    if failure.is_none()
        && let Err(f) = batch.send(requests.as_ref(), &mut summary).await
    {
        failure = Some(f);
    }
    reporter.finish();
    publisher.close().await;
    match failure {
        None => Ok(summary),
        Some(failure) => Err(failure.into_error(summary)),
    }
}

/// Requests waiting to be sent, with the input lines they came from.
#[derive(Default)]
struct Batch {
    lines: Vec<usize>,
    requests: Vec<Request>,
}

impl Batch {
    fn push(&mut self, line: usize, request: Request) {
        self.lines.push(line);
        self.requests.push(request);
    }

    fn len(&self) -> usize {
        self.requests.len()
    }

    /// Asks for the batch's fetches (or, in a dry run, counts them) and
    /// empties it.
    async fn send(
        &mut self,
        requests: Option<&FetchRequests>,
        summary: &mut BackfillSummary,
    ) -> Result<(), Failure> {
        let lines = std::mem::take(&mut self.lines);
        let batch = std::mem::take(&mut self.requests);
        let Some(requests) = requests else {
            summary.published += batch.len();
            return Ok(());
        };
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Ok(());
        };
        let outcome = requests
            .request_all(batch)
            .await
            .map_err(|source| Failure::Request {
                first: *first,
                last: *last,
                source,
            })?;
        for requested in outcome {
            match requested {
                Requested::Queued => summary.published += 1,
                Requested::AlreadyPending => summary.pending += 1,
                Requested::Staged => summary.staged += 1,
            }
        }
        Ok(())
    }
}

/// A failure on a line, before the summary is attached.
enum Failure {
    FreshnessCheck {
        line: usize,
        entity_type: EntityType,
        mbid: Mbid,
        source: DbError,
    },
    Request {
        first: usize,
        last: usize,
        source: DbError,
    },
}

impl Failure {
    fn into_error(self, summary: BackfillSummary) -> BackfillError {
        let summary = Box::new(summary);
        match self {
            Failure::FreshnessCheck {
                line,
                entity_type,
                mbid,
                source,
            } => BackfillError::FreshnessCheck {
                line,
                entity_type,
                mbid,
                source,
                summary,
            },
            Failure::Request {
                first,
                last,
                source,
            } => BackfillError::Request {
                first,
                last,
                source,
                summary,
            },
        }
    }
}

/// Every line of the input; `None` for a line that is not UTF-8 (rejected,
/// not fatal). A read error is fatal.
fn read_lines(input: impl BufRead) -> io::Result<Vec<Option<String>>> {
    input
        .split(b'\n')
        .map(|line| line.map(|bytes| String::from_utf8(bytes).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MBID: &str = "46f0f4cd-8aab-4b33-b698-f459faf64190";

    fn mbid() -> Mbid {
        Mbid::parse(MBID).unwrap()
    }

    #[test]
    fn parses_typed_lines() {
        assert_eq!(
            parse_line(&format!("label {MBID}"), None),
            Ok(Some((EntityType::Label, mbid())))
        );
        assert_eq!(
            parse_line(&format!("  release-group\t{MBID}  \r"), None),
            Ok(Some((EntityType::ReleaseGroup, mbid())))
        );
        // Agreeing with --type is fine.
        assert_eq!(
            parse_line(&format!("label {MBID}"), Some(EntityType::Label)),
            Ok(Some((EntityType::Label, mbid())))
        );
        assert_eq!(
            parse_line(&MBID.to_uppercase(), Some(EntityType::Artist)),
            Ok(Some((EntityType::Artist, mbid())))
        );
    }

    #[test]
    fn ignores_blank_lines_and_comments() {
        for line in [
            "",
            "   ",
            "\t\r",
            "# a comment",
            "   # indented",
            "#label x",
        ] {
            assert_eq!(parse_line(line, None), Ok(None), "{line:?}");
            assert_eq!(parse_line(line, Some(EntityType::Label)), Ok(None));
        }
    }

    #[test]
    fn rejects_malformed_lines() {
        let reason = |line: &str, t| parse_line(line, t).unwrap_err();
        assert!(reason(&format!("work {MBID}"), None).contains("unknown entity type"));
        assert!(reason("label not-an-mbid", None).contains("36-character"));
        assert!(reason(MBID, None).contains("--type"));
        assert!(reason("label", None).contains("without an MBID"));
        assert!(reason(&format!("label {MBID} extra"), None).contains("3 fields"));
        assert!(reason(&format!("label {MBID} # Warp"), None).contains("4 fields"));
        assert!(
            reason(&format!("artist {MBID}"), Some(EntityType::Label))
                .contains("disagrees with --type label")
        );
        assert!(reason("not-an-mbid", Some(EntityType::Label)).contains("36-character"));
        assert!(reason(&format!("Label {MBID}"), None).contains("unknown entity type"));
    }

    #[test]
    fn reads_lines_keeping_bad_utf8_as_rejectable() {
        let input: &[u8] = b"label x\n\xff\xfe\r\nlast";
        let lines = read_lines(input).unwrap();
        assert_eq!(
            lines,
            vec![Some("label x".to_owned()), None, Some("last".to_owned())]
        );
    }

    #[test]
    fn summary_wording() {
        let mut summary = BackfillSummary {
            dry_run: false,
            published: 3,
            skipped: 2,
            rejected: vec![Rejection {
                line: 4,
                reason: "x".into(),
            }],
            ..BackfillSummary::default()
        };
        assert_eq!(
            summary.to_string(),
            "published 3, skipped 2 (already fresh), rejected 1"
        );
        summary.dry_run = true;
        assert_eq!(
            summary.to_string(),
            "would publish 3, would skip 2 (already fresh), rejected 1"
        );
        summary.dry_run = false;
        (summary.pending, summary.staged) = (1, 4);
        assert_eq!(
            summary.to_string(),
            "published 3, skipped 2 (already fresh), skipped 1 (fetch already pending), \
             staged 4 (broker unavailable; relayed when it is back), rejected 1"
        );
    }
}
