//! The optional per-client request rate (`http.client_rate_limit`), so one
//! tagger cannot starve another: each client IP address has its own
//! budget, and what exceeds it gets MusicBrainz's 503 with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

#[derive(Debug)]
pub(super) struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl ClientLimiter {
    /// `None` for a rate of 0 or less (no limit) or one governor cannot
    /// express.
    pub(super) fn new(per_second: f64) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let quota = if per_second >= 1.0 {
            let rate = NonZeroU32::new(per_second.round() as u32)?;
            Quota::per_second(rate)
        } else {
            Quota::with_period(Duration::from_secs_f64(1.0 / per_second))?
        };
        Some(Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        })
    }

    /// `Err(wait)` when `client` is over its rate.
    pub(super) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_budget() {
        let limiter = ClientLimiter::new(1.0).unwrap();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limiter.check(a).is_ok());
        assert!(
            limiter.check(a).is_err(),
            "a second request in the same second"
        );
        assert!(limiter.check(b).is_ok(), "another client is not held back");
        assert!(ClientLimiter::new(0.0).is_none());
    }
}
