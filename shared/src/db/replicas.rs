//! Reading from PostgreSQL streaming replicas (`database.read_urls`) without
//! ever answering older than what the primary has told this process.
//!
//! query-api reads lookups, browse lists and search through [`Replicas`];
//! writes, claims, LISTEN and the outbox stay on the primary. Three rules
//! keep a replica's answers correct:
//!
//! - **The floor.** Before it wakes anyone, query-api's fill listener raises
//!   the floor ([`Replicas::raise_floor`]) to the primary's WAL position read
//!   after the notification arrived, which is at or past that fill's commit
//!   record. (The notifying transaction cannot carry its own commit LSN: any
//!   position it reads before `COMMIT` lies below the commit record, and a
//!   replica that has replayed up to there may not show the fill yet.) A
//!   replica serves a read only once it has replayed up to the floor, else
//!   the primary does; so neither a caller woken by a fill nor the hot tier
//!   refilled after one can read a replica older than that fill.
//! - **No row is confirmed.** A replica answering "nothing here" may only be
//!   behind: [`Replicas::find`] asks the primary before a miss is believed.
//! - **Health.** A monitor samples the primary's WAL position and every
//!   replica's replay position several times per `max_replica_lag_ms`. A
//!   replica that does not answer, has left recovery (promoted), or has not
//!   replayed what the primary wrote `max_replica_lag_ms` ago is not read
//!   from until it is back. Its state is logged on each change, exported as
//!   metrics and reported by `GetStatus`.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{Client, Pool};
use tokio_postgres::types::PgLsn;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{DbError, build_pool, with_client};
use crate::config::DatabaseConfig;
use crate::prometheus::names;

/// How a replica stands, as the monitor last found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Not checked yet: not read from.
    Starting = 0,
    /// Answering and within `max_replica_lag_ms`: read from.
    Serving = 1,
    /// Answering, but further behind the primary than allowed.
    Lagging = 2,
    /// Not answering, or no longer a replica (promoted).
    Down = 3,
}

impl ReplicaState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Serving,
            2 => Self::Lagging,
            3 => Self::Down,
            _ => Self::Starting,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Serving => "serving",
            Self::Lagging => "lagging",
            Self::Down => "down",
        }
    }
}

/// One replica's health, for operators.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStatus {
    /// `host:port` of its URL (never the credentials).
    pub name: String,
    pub state: ReplicaState,
    /// How far behind the primary it was at the last check (within one
    /// sampling interval).
    pub lag: Duration,
    /// The WAL position it had replayed, as `0/3000060`.
    pub replayed: String,
}

/// The replicas a process reads from; cheap to clone. Without any, every
/// read goes to the primary at the cost of one branch.
#[derive(Debug, Clone, Default)]
pub struct Replicas {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    replicas: Vec<Replica>,
    /// The WAL position every read must have seen ([`Replicas::raise_floor`]).
    floor: AtomicU64,
    /// Round robin over the serving replicas.
    next: AtomicUsize,
    max_lag: Duration,
    reads_primary: metrics::Counter,
    reads_replica: metrics::Counter,
}

#[derive(Debug)]
struct Replica {
    name: String,
    pool: Pool,
    state: AtomicU8,
    replayed: AtomicU64,
    lag_ms: AtomicU64,
    /// Held while asking the replica where it is, so concurrent reads above
    /// its last known position ask once, not each.
    asking: tokio::sync::Mutex<()>,
}

impl Replicas {
    /// Pools for every `database.read_urls` entry (nothing connects yet;
    /// each is read from once [`Replicas::spawn_monitor`] finds it serving).
    pub fn build(config: &DatabaseConfig) -> Result<Self, DbError> {
        if config.read_urls.is_empty() {
            return Ok(Self::default());
        }
        let replicas = config
            .read_urls
            .iter()
            .map(|url| {
                let pool = build_pool(&DatabaseConfig {
                    url: url.clone(),
                    read_urls: Vec::new(),
                    ..config.clone()
                })?;
                Ok(Replica {
                    name: server_name(url),
                    pool,
                    state: AtomicU8::new(ReplicaState::Starting as u8),
                    replayed: AtomicU64::new(0),
                    lag_ms: AtomicU64::new(0),
                    asking: tokio::sync::Mutex::new(()),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                replicas,
                floor: AtomicU64::new(0),
                next: AtomicUsize::new(0),
                max_lag: Duration::from_millis(config.max_replica_lag_ms),
                reads_primary: metrics::counter!(names::DB_READS, "server" => "primary"),
                reads_replica: metrics::counter!(names::DB_READS, "server" => "replica"),
            })),
        })
    }

    /// True when there are replicas to read from.
    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    /// No later read may see a replica that has not replayed `lsn`.
    pub fn raise_floor(&self, lsn: PgLsn) {
        if let Some(inner) = &self.inner {
            inner.floor.fetch_max(u64::from(lsn), Ordering::AcqRel);
        }
    }

    /// Each replica's state, in `database.read_urls` order.
    pub fn status(&self) -> Vec<ReplicaStatus> {
        let Some(inner) = &self.inner else {
            return Vec::new();
        };
        inner
            .replicas
            .iter()
            .map(|r| ReplicaStatus {
                name: r.name.clone(),
                state: r.state(),
                lag: Duration::from_millis(r.lag_ms.load(Ordering::Relaxed)),
                replayed: PgLsn::from(r.replayed.load(Ordering::Relaxed)).to_string(),
            })
            .collect()
    }

    /// Runs `op` on a replica that has replayed up to the floor, or on
    /// `primary` when none has (or the replica fails it).
    pub async fn read<T, F>(&self, primary: &Pool, op: impl Fn(Client) -> F) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, DbError>>,
    {
        if let Some(answer) = self.on_replica(&op).await {
            return Ok(answer);
        }
        self.count_primary();
        with_client(primary, op).await
    }

    /// As [`Replicas::read`], but a replica's `None` is asked again of the
    /// primary: a replica only behind must not turn a cached row into a miss.
    pub async fn find<T, F>(
        &self,
        primary: &Pool,
        op: impl Fn(Client) -> F,
    ) -> Result<Option<T>, DbError>
    where
        F: Future<Output = Result<Option<T>, DbError>>,
    {
        if let Some(Some(found)) = self.on_replica(&op).await {
            return Ok(Some(found));
        }
        self.count_primary();
        with_client(primary, op).await
    }

    fn count_primary(&self) {
        if let Some(inner) = &self.inner {
            inner.reads_primary.increment(1);
        }
    }

    /// `op`'s answer from a replica at the floor; `None` when no replica
    /// could give it (the caller then asks the primary).
    async fn on_replica<T, F>(&self, op: &impl Fn(Client) -> F) -> Option<T>
    where
        F: Future<Output = Result<T, DbError>>,
    {
        let inner = self.inner.as_ref()?;
        let replica = inner.pick().await?;
        match with_client(&replica.pool, op).await {
            Ok(answer) => {
                inner.reads_replica.increment(1);
                Some(answer)
            }
            Err(error) => {
                replica.failed(&error);
                None
            }
        }
    }

    /// Checks the replicas until `stop`, several times per
    /// `max_replica_lag_ms` (see the module docs).
    pub fn spawn_monitor(&self, primary: Pool, stop: CancellationToken) {
        if let Some(inner) = &self.inner {
            tokio::spawn(monitor(inner.clone(), primary, stop));
        }
    }
}

impl Inner {
    /// A serving replica that has replayed up to the floor, round robin.
    async fn pick(&self) -> Option<&Replica> {
        let floor = self.floor.load(Ordering::Acquire);
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut behind = None;
        for k in 0..n {
            let replica = &self.replicas[(start + k) % n];
            if replica.state() != ReplicaState::Serving {
                continue;
            }
            if replica.replayed.load(Ordering::Acquire) >= floor {
                return Some(replica);
            }
            behind.get_or_insert(replica);
        }
        // The monitor's view may be a moment old: ask one replica where it
        // is now (one round trip, shared by the reads that arrive meanwhile).
        let replica = behind?;
        let _asking = replica.asking.lock().await;
        if replica.replayed.load(Ordering::Acquire) >= floor {
            return Some(replica);
        }
        match replay_position(&replica.pool).await {
            Ok((true, Some(lsn))) => {
                let lsn = u64::from(lsn);
                replica.replayed.fetch_max(lsn, Ordering::AcqRel);
                (lsn >= floor).then_some(replica)
            }
            Ok(_) => {
                replica.set_state(ReplicaState::Down, "no longer in recovery");
                None
            }
            Err(error) => {
                replica.failed(&error);
                None
            }
        }
    }
}

impl Replica {
    fn state(&self) -> ReplicaState {
        ReplicaState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// A read failed here: a lost connection takes the replica out until
    /// the monitor finds it again; any other error is this read's alone.
    fn failed(&self, error: &DbError) {
        if matches!(error, DbError::Unavailable(_)) || error.is_connection_lost() {
            self.set_state(ReplicaState::Down, &error.to_string());
        } else {
            warn!(replica = %self.name, %error, "read failed on a replica; reading the primary");
        }
    }

    fn set_state(&self, state: ReplicaState, why: &str) {
        let before = ReplicaState::from_u8(self.state.swap(state as u8, Ordering::AcqRel));
        metrics::gauge!(names::DB_REPLICA_SERVING, "replica" => self.name.clone()).set(
            if state == ReplicaState::Serving {
                1.0
            } else {
                0.0
            },
        );
        if before == state {
            return;
        }
        let lag_ms = self.lag_ms.load(Ordering::Relaxed);
        if state == ReplicaState::Serving {
            info!(replica = %self.name, lag_ms, "reading from replica");
        } else {
            warn!(replica = %self.name, state = state.as_str(), lag_ms, why, "not reading from replica");
        }
    }
}

/// `pg_is_in_recovery()` and `pg_last_wal_replay_lsn()` of a replica.
async fn replay_position(pool: &Pool) -> Result<(bool, Option<PgLsn>), DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()", &[])
        .await?;
    Ok((row.get(0), row.get(1)))
}

async fn monitor(inner: Arc<Inner>, primary: Pool, stop: CancellationToken) {
    let every = (inner.max_lag / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    // The primary's position over the last `max_lag` (and a little more),
    // oldest first: a replica's lag is how long ago the primary first
    // stood past what the replica has replayed.
    let mut history: VecDeque<(Instant, u64)> = VecDeque::new();
    loop {
        let now = Instant::now();
        match primary_position(&primary).await {
            Ok(lsn) => history.push_back((now, lsn)),
            Err(error) => warn!(%error, "cannot read the primary's WAL position"),
        }
        while history
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > inner.max_lag + 2 * every)
        {
            history.pop_front();
        }
        let checks = inner.replicas.iter().map(|replica| async {
            let checked = tokio::time::timeout(every.max(Duration::from_millis(500)), async {
                replay_position(&replica.pool).await
            })
            .await;
            match checked {
                Ok(Ok((true, Some(lsn)))) => {
                    let lsn = u64::from(lsn);
                    replica.replayed.fetch_max(lsn, Ordering::AcqRel);
                    let lag = lag_behind(&history, lsn, now);
                    replica
                        .lag_ms
                        .store(lag.as_millis() as u64, Ordering::Relaxed);
                    metrics::gauge!(names::DB_REPLICA_LAG, "replica" => replica.name.clone())
                        .set(lag.as_secs_f64());
                    if lag > inner.max_lag {
                        replica.set_state(ReplicaState::Lagging, "behind the primary");
                    } else {
                        replica.set_state(ReplicaState::Serving, "caught up");
                    }
                }
                Ok(Ok(_)) => replica.set_state(ReplicaState::Down, "no longer in recovery"),
                Ok(Err(error)) => replica.set_state(ReplicaState::Down, &error.to_string()),
                Err(_) => replica.set_state(ReplicaState::Down, "does not answer"),
            }
        });
        futures::future::join_all(checks).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn primary_position(primary: &Pool) -> Result<u64, DbError> {
    let client = primary.get().await?;
    let lsn: PgLsn = client
        .query_one("SELECT pg_current_wal_lsn()", &[])
        .await?
        .get(0);
    Ok(lsn.into())
}

/// How long ago the primary first stood past `replayed`, by the samples in
/// `history` (oldest first); zero when no sample is past it.
fn lag_behind(history: &VecDeque<(Instant, u64)>, replayed: u64, now: Instant) -> Duration {
    history
        .iter()
        .find(|(_, lsn)| *lsn > replayed)
        .map_or(Duration::ZERO, |(at, _)| now.duration_since(*at))
}

/// `host:port` of a PostgreSQL URL, to name a replica without its password.
fn server_name(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return crate::config::redact_url(url);
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_how_long_ago_the_primary_passed_the_replica() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let history: VecDeque<_> = [(at(0), 100), (at(100), 200), (at(200), 300)].into();
        // Caught up, or ahead of every sample: no lag.
        assert_eq!(lag_behind(&history, 300, at(250)), Duration::ZERO);
        assert_eq!(lag_behind(&history, 400, at(250)), Duration::ZERO);
        // Replayed 200: the primary was past it from the third sample on.
        assert_eq!(
            lag_behind(&history, 200, at(250)),
            Duration::from_millis(50)
        );
        // Behind every sample: at least as old as the oldest.
        assert_eq!(
            lag_behind(&history, 50, at(250)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn replicas_are_named_without_credentials() {
        assert_eq!(
            server_name("postgres://reader:secret@replica-1:5433/musicmeta"),
            "replica-1:5433"
        );
        assert_eq!(server_name("postgres://db/musicmeta"), "db:5432");
    }

    #[tokio::test]
    async fn without_replicas_every_read_is_the_primarys() {
        let replicas = Replicas::build(&DatabaseConfig::for_url("postgres://db/x")).unwrap();
        assert!(!replicas.is_configured());
        assert!(replicas.status().is_empty());
    }
}
