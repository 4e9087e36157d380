//! Per-key rate limits: a token bucket per API key, in process memory.
//!
//! Each key's bucket holds at most `burst` tokens and refills at `per_second`; a
//! request takes one token or is refused with the time until the next one. The
//! clock is passed in, so the arithmetic is tested without sleeping. Limits are
//! per process: several servers behind one balancer each grant the full budget,
//! which is the usual trade for not paying a shared round trip per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use tally_store::ApiKeyHash;

/// How many requests a key may make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Tokens added per second.
    pub per_second: u32,
    /// Bucket capacity: the longest burst a key may send at once.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    /// Generous, so benchmarks measure the engine and not the limiter.
    fn default() -> Self {
        Self {
            per_second: 10_000,
            burst: 20_000,
        }
    }
}

/// What the limiter decided for one request, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (else a 429).
    pub allowed: bool,
    /// Bucket capacity (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the bucket is full again (`X-RateLimit-Reset`).
    pub reset_secs: u64,
    /// Seconds until one token is available; set when refused (`Retry-After`).
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of every key seen.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<ApiKeyHash, Bucket>>,
}

impl RateLimiter {
    /// A limiter with no bucket yet; each key's bucket starts full.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket at `now`, if there is one.
    pub fn check(&self, key: &ApiKeyHash, now: Instant) -> Decision {
        let capacity = f64::from(self.config.burst.max(1));
        let rate = f64::from(self.config.per_second.max(1));
        // A poisoned lock only means another request panicked mid-update; the
        // buckets are still plain numbers, so keep using them.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        drop(buckets);
        Decision {
            allowed,
            limit: self.config.burst.max(1),
            remaining: tokens.floor() as u32,
            reset_secs: secs_ceil((capacity - tokens) / rate),
            retry_after_secs: if allowed {
                0
            } else {
                secs_ceil((1.0 - tokens) / rate).max(1)
            },
        }
    }
}

fn secs_ceil(secs: f64) -> u64 {
    // Token counts are bounded by the burst, so this never saturates in practice.
    secs.max(0.0).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig { per_second, burst })
    }

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let limiter = limiter(1, 2);
        let key = ApiKeyHash::of_secret("k");
        let t0 = Instant::now();
        let first = limiter.check(&key, t0);
        assert!(first.allowed);
        assert_eq!((first.limit, first.remaining), (2, 1));
        assert!(limiter.check(&key, t0).allowed);
        let refused = limiter.check(&key, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 2);
        assert!(limiter.check(&key, t0 + Duration::from_secs(1)).allowed);
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let limiter = limiter(1, 1);
        let t0 = Instant::now();
        assert!(limiter.check(&ApiKeyHash::of_secret("a"), t0).allowed);
        assert!(!limiter.check(&ApiKeyHash::of_secret("a"), t0).allowed);
        assert!(limiter.check(&ApiKeyHash::of_secret("b"), t0).allowed);
    }
}
