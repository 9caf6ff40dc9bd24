//! A token bucket per destination: `burst` messages at once, then one every `per / burst`.
//! Slack allows about one message per second per channel; the default follows it.

use std::time::Duration;

use tokio::time::Instant;

/// `burst` messages per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub per: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 5,
            per: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: RateLimit,
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            tokens: f64::from(rate.burst.max(1)),
            at: None,
        }
    }

    /// Takes a token now, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        let burst = f64::from(self.rate.burst.max(1));
        let per_token = self.rate.per.as_secs_f64() / burst;
        if let Some(at) = self.at {
            let refill =
                now.saturating_duration_since(at).as_secs_f64() / per_token.max(f64::EPSILON);
            self.tokens = (self.tokens + refill).min(burst);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) * per_token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady() {
        let start = Instant::now();
        let mut b = TokenBucket::new(RateLimit {
            burst: 2,
            per: Duration::from_secs(2),
        });
        assert_eq!(b.take(start), None);
        assert_eq!(b.take(start), None);
        assert_eq!(b.take(start), Some(Duration::from_secs(1)));
        assert_eq!(b.take(start + Duration::from_secs(1)), None);
    }
}
