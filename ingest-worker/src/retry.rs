//! When a transiently failed job comes back: the retry tier and jittered
//! delay of its next attempt, or the verdict that its attempts are used up.
//!
//! Attempt `n` (1-based, from the job's `x-musicmeta-attempt` header) failed:
//! if `n` reached `retry.max_attempts` the job is dead-lettered; otherwise a
//! copy waits in retry tier `min(n, RETRY_TIERS)`, whose nominal delay is
//! `first_delay × 4^(tier − 1)`, capped at `max_delay`. The copy's delay is
//! drawn uniformly between half the nominal delay and all of it ("equal
//! jitter"): jobs that failed together in a 503 storm come back spread out,
//! while the delay still grows with every attempt. The queues behind the
//! tiers are described in `musicmeta_shared::amqp`.

use std::time::Duration;

use musicmeta_shared::amqp::{RETRY_TIERS, Retry};
use musicmeta_shared::config::RetryConfig;
use musicmeta_shared::jobs::Lane;

/// How much longer each tier waits than the one before.
const GROWTH: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &RetryConfig) -> Self {
        Self {
            max_attempts: config.max_attempts,
            first_delay: Duration::from_millis(config.first_delay_ms),
            max_delay: Duration::from_millis(config.max_delay_ms),
        }
    }

    /// The nominal (un-jittered) delay of `tier`.
    pub fn tier_delay(&self, tier: u32) -> Duration {
        let factor = GROWTH.saturating_pow(tier.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// What follows the failure of attempt `attempt` of a job from `lane`:
    /// a retry, or `None` when the attempts are used up.
    pub fn after_failure(&self, lane: Lane, attempt: u32) -> Option<Retry> {
        if attempt >= self.max_attempts {
            return None;
        }
        let tier = attempt.clamp(1, RETRY_TIERS);
        Some(Retry {
            lane,
            tier,
            attempt: attempt + 1,
            delay: jittered(self.tier_delay(tier)),
        })
    }
}

/// Uniform between half of `nominal` and all of it, to the millisecond.
fn jittered(nominal: Duration) -> Duration {
    let ms = u64::try_from(nominal.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(fastrand::u64(ms.div_ceil(2)..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, first_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy::from_config(&RetryConfig {
            max_attempts,
            first_delay_ms: first_ms,
            max_delay_ms: max_ms,
        })
    }

    #[test]
    fn tiers_grow_fourfold_up_to_the_cap() {
        let p = policy(8, 1_000, 300_000);
        let delays: Vec<u64> = (1..=RETRY_TIERS)
            .map(|t| p.tier_delay(t).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1_000, 4_000, 16_000, 64_000, 256_000, 300_000]);
    }

    #[test]
    fn each_attempt_goes_one_tier_up_then_stays_in_the_last() {
        let p = policy(10, 1_000, 10_000_000);
        let tiers: Vec<u32> = (1..10)
            .map(|n| p.after_failure(Lane::Refresh, n).unwrap().tier)
            .collect();
        assert_eq!(tiers, [1, 2, 3, 4, 5, 6, 6, 6, 6]);
        let retry = p.after_failure(Lane::Refresh, 3).unwrap();
        assert_eq!((retry.lane, retry.attempt), (Lane::Refresh, 4));
    }

    #[test]
    fn delays_are_jittered_within_the_upper_half_of_the_tier() {
        let p = policy(8, 1_000, 300_000);
        let delays: Vec<Duration> = (0..200)
            .map(|_| p.after_failure(Lane::Backfill, 2).unwrap().delay)
            .collect();
        let nominal = p.tier_delay(2);
        assert!(delays.iter().all(|d| *d >= nominal / 2 && *d <= nominal));
        // 200 draws from 2001 values: all equal would mean no jitter at all.
        assert!(delays.iter().any(|d| *d != delays[0]));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let p = policy(3, 10, 1_000);
        assert!(p.after_failure(Lane::Interactive, 2).is_some());
        assert!(p.after_failure(Lane::Interactive, 3).is_none());
        assert!(
            policy(1, 10, 1_000)
                .after_failure(Lane::Interactive, 1)
                .is_none()
        );
    }

    #[test]
    fn tiny_delays_stay_positive() {
        let p = policy(8, 1, 1);
        assert_eq!(
            p.after_failure(Lane::Backfill, 1).unwrap().delay,
            Duration::from_millis(1)
        );
    }
}
