//! The upstream request gate: who may send the next MusicBrainz request,
//! and when.
//!
//! Two rules at once:
//! - **Priority.** Requests waiting in this process are admitted highest
//!   lane first ([`Lane::Interactive`] before refresh before backfill), FIFO
//!   within a lane. The choice is made when a slot comes up, so an
//!   interactive request that arrives behind a thousand waiting backfill
//!   requests is sent in the very next slot.
//! - **One budget for all workers.** Slots come from the `rate_budget` row
//!   in PostgreSQL: each reservation moves `next_slot` on by
//!   1/requests_per_second under a row lock, so N workers together keep to
//!   the configured rate. A 503 pushes `next_slot` past its Retry-After, so
//!   every worker slows down, not only the one that saw it. governor still
//!   shapes each process (and is all there is without a database).
//!
//! A rate of 0 means no limit (a private mirror): every request is admitted
//! at once, with no dispatcher and no database round trip; a 503 still
//! pauses this process.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::warn;

use musicmeta_shared::db::with_client;
use musicmeta_shared::jobs::Lane;

/// Hands out request slots; cheap to clone. The dispatcher task stops when
/// the last clone is dropped.
#[derive(Debug, Clone)]
pub struct RateGate {
    inner: Arc<Inner>,
    _stop: Arc<DropGuard>,
}

#[derive(Debug)]
struct Inner {
    queue: Mutex<Queue>,
    wake: Notify,
    limiter: DefaultDirectRateLimiter,
    period: Duration,
    paused_until: Mutex<Option<Instant>>,
    /// Rate 0: admit at once (only a 503's pause holds requests back).
    unlimited: bool,
    shared: Option<SharedBudget>,
    /// Requests admitted so far (for status views).
    admitted: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    next_seq: u64,
    waiting: BinaryHeap<Reverse<(Lane, u64, Ticket)>>,
}

/// A waiter's wake-up; ordered by nothing (lane and sequence decide).
#[derive(Debug)]
struct Ticket(oneshot::Sender<()>);

impl PartialEq for Ticket {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Ticket {}
impl PartialOrd for Ticket {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ticket {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

#[derive(Debug)]
struct SharedBudget {
    pool: Pool,
    name: String,
}

impl RateGate {
    /// A gate for this process alone (governor only).
    pub fn local(requests_per_second: f64) -> Self {
        Self::build(requests_per_second, None)
    }

    /// A gate whose slots are shared, through PostgreSQL, with every other
    /// process using the same `name` on the same database.
    pub fn shared(requests_per_second: f64, pool: Pool, name: impl Into<String>) -> Self {
        Self::build(
            requests_per_second,
            Some(SharedBudget {
                pool,
                name: name.into(),
            }),
        )
    }

    fn build(requests_per_second: f64, shared: Option<SharedBudget>) -> Self {
        let unlimited = requests_per_second == 0.0;
        let period = if unlimited {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / requests_per_second)
        };
        // A burst of one: requests are spaced evenly, never bunched.
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            limiter: RateLimiter::direct(quota),
            period,
            paused_until: Mutex::new(None),
            unlimited,
            // Without a limit there is no budget to share.
            shared: shared.filter(|_| !unlimited),
            admitted: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        if !unlimited {
            tokio::spawn(dispatch(inner.clone(), stop.clone()));
        }
        Self {
            inner,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Waits until this request may be sent.
    pub async fn admit(&self, lane: Lane) {
        let asked = Instant::now();
        if self.inner.unlimited {
            wait_out_pause(&self.inner).await;
            self.inner.admitted.fetch_add(1, Ordering::Relaxed);
        } else {
            let (tx, rx) = oneshot::channel();
            {
                let mut queue = lock(&self.inner.queue);
                let seq = queue.next_seq;
                queue.next_seq += 1;
                queue.waiting.push(Reverse((lane, seq, Ticket(tx))));
            }
            self.inner.wake.notify_one();
            // The dispatcher only stops when every gate handle (ours too) is gone.
            let _ = rx.await;
        }
        metrics::histogram!(musicmeta_shared::prometheus::names::RATE_LIMIT_WAIT, "lane" => lane.as_str())
            .record(asked.elapsed().as_secs_f64());
    }

    /// Upstream asked us to slow down: no request, from this process or
    /// (with a shared budget) any other, is sent for `wait`.
    pub async fn slow_down(&self, wait: Duration) {
        let until = Instant::now() + wait;
        {
            let mut paused = lock(&self.inner.paused_until);
            if paused.is_none_or(|t| t < until) {
                *paused = Some(until);
            }
        }
        if let Some(shared) = &self.inner.shared
            && let Err(error) = push_back(shared, wait).await
        {
            warn!(%error, "could not slow the shared budget down; slowing this worker only");
        }
    }

    /// Requests waiting for a slot.
    pub fn waiting(&self) -> usize {
        lock(&self.inner.queue).waiting.len()
    }

    /// Requests admitted since this gate was built.
    pub fn admitted(&self) -> u64 {
        self.inner.admitted.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Admits one waiter per slot, highest lane first.
async fn dispatch(inner: Arc<Inner>, stop: CancellationToken) {
    loop {
        // Sleep until someone waits.
        while lock(&inner.queue).waiting.is_empty() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = inner.wake.notified() => {}
            }
        }
        let slot = async {
            wait_out_pause(&inner).await;
            inner.limiter.until_ready().await;
            if let Some(shared) = &inner.shared {
                // A slot that a pause (another worker's 503) overtook is
                // given up: wait the pause out and reserve again.
                loop {
                    match reserve(shared, inner.period).await {
                        Ok(wait) => tokio::time::sleep(wait).await,
                        Err(error) => {
                            warn!(%error, "shared rate budget unavailable; using this worker's limit alone");
                            break;
                        }
                    }
                    match pause_left(shared).await {
                        Ok(left) if !left.is_zero() => tokio::time::sleep(left).await,
                        _ => break,
                    }
                }
            }
            // A 503 may have arrived while we waited for the slot.
            wait_out_pause(&inner).await;
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = slot => {}
        }
        // The slot is taken now, by whoever ranks highest at this moment.
        loop {
            let next = lock(&inner.queue).waiting.pop();
            match next {
                // A waiter that gave up (its job was cancelled) passes the slot on.
                Some(Reverse((_, _, Ticket(tx)))) => {
                    if tx.send(()).is_ok() {
                        inner.admitted.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                None => break,
            }
        }
    }
}

async fn wait_out_pause(inner: &Inner) {
    loop {
        let until = *lock(&inner.paused_until);
        match until {
            Some(t) if t > Instant::now() => tokio::time::sleep_until(t.into()).await,
            _ => return,
        }
    }
}

/// Reserves the next shared slot; returns how long to wait for it.
async fn reserve(
    shared: &SharedBudget,
    period: Duration,
) -> Result<Duration, musicmeta_shared::db::DbError> {
    with_client(&shared.pool, |client| async move {
        let stmt = client
            .prepare_cached(
                "INSERT INTO rate_budget AS b (name, next_slot) \
                   VALUES ($1, clock_timestamp() + make_interval(secs => $2)) \
                 ON CONFLICT (name) DO UPDATE SET next_slot = \
                   greatest(b.next_slot, clock_timestamp()) + make_interval(secs => $2) \
                 RETURNING extract(epoch FROM \
                   (next_slot - make_interval(secs => $2) - clock_timestamp()))::float8",
            )
            .await?;
        let row = client
            .query_one(&stmt, &[&shared.name, &period.as_secs_f64()])
            .await?;
        let wait: f64 = row.get(0);
        Ok(Duration::from_secs_f64(wait.max(0.0)))
    })
    .await
}

/// How long the shared pause (set by a 503) still runs; zero when none.
async fn pause_left(shared: &SharedBudget) -> Result<Duration, musicmeta_shared::db::DbError> {
    with_client(&shared.pool, |client| async move {
        let stmt = client
            .prepare_cached(
                "SELECT extract(epoch FROM greatest(paused_until - clock_timestamp(), interval '0'))::float8 \
                 FROM rate_budget WHERE name = $1",
            )
            .await?;
        let left: Option<f64> = client
            .query_opt(&stmt, &[&shared.name])
            .await?
            .map(|r| r.get(0));
        Ok(Duration::from_secs_f64(left.unwrap_or(0.0).max(0.0)))
    })
    .await
}

async fn push_back(
    shared: &SharedBudget,
    wait: Duration,
) -> Result<(), musicmeta_shared::db::DbError> {
    with_client(&shared.pool, |client| async move {
        let stmt = client
            .prepare_cached(
                "INSERT INTO rate_budget AS b (name, next_slot, paused_until) \
                   VALUES ($1, clock_timestamp() + make_interval(secs => $2), \
                           clock_timestamp() + make_interval(secs => $2)) \
                 ON CONFLICT (name) DO UPDATE SET \
                   next_slot = greatest(b.next_slot, clock_timestamp() + make_interval(secs => $2)), \
                   paused_until = greatest(b.paused_until, clock_timestamp() + make_interval(secs => $2))",
            )
            .await?;
        client
            .execute(&stmt, &[&shared.name, &wait.as_secs_f64()])
            .await?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_the_highest_lane_first() {
        let gate = RateGate::local(20.0);
        // Take the first slot so the rest queue up behind the limiter.
        gate.admit(Lane::Backfill).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, lane) in [
            Lane::Backfill,
            Lane::Backfill,
            Lane::Refresh,
            Lane::Interactive,
        ]
        .into_iter()
        .enumerate()
        {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                gate.admit(lane).await;
                lock(&order).push((lane, i));
            }));
            // Let each enqueue before the next, so FIFO order is defined.
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order: Vec<Lane> = lock(&order).iter().map(|(l, _)| *l).collect();
        assert_eq!(
            order,
            [
                Lane::Interactive,
                Lane::Refresh,
                Lane::Backfill,
                Lane::Backfill
            ]
        );
    }

    #[tokio::test]
    async fn rate_zero_admits_at_once_but_still_slows_down() {
        use futures::FutureExt;
        let gate = RateGate::local(0.0);
        // Admitted on the first poll: nothing to wait for, not even a timer.
        for _ in 0..1000 {
            assert!(gate.admit(Lane::Backfill).now_or_never().is_some());
        }
        assert_eq!(gate.admitted(), 1000);
        gate.slow_down(Duration::from_millis(200)).await;
        assert!(gate.admit(Lane::Backfill).now_or_never().is_none());
        // A lower bound, as below: a slow machine only lengthens it.
        let paused = Instant::now();
        gate.admit(Lane::Interactive).await;
        assert!(paused.elapsed() >= Duration::from_millis(150));
    }

    /// A lower bound the gate promises; a slow machine only lengthens it.
    #[tokio::test]
    async fn slow_down_delays_the_next_slot() {
        let gate = RateGate::local(1000.0);
        gate.admit(Lane::Backfill).await;
        let before = Instant::now();
        gate.slow_down(Duration::from_millis(300)).await;
        gate.admit(Lane::Interactive).await;
        assert!(before.elapsed() >= Duration::from_millis(300));
    }
}
