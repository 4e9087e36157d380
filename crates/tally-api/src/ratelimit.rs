//! Rate limits: a token bucket per API key, and per client address one for
//! failed authentications and one for the portal's and the console's pages,
//! in process memory.
//!
//! Each key's bucket holds at most `burst` tokens and refills at `per_second`; a
//! request takes one token or is refused with the time until the next one. The
//! clock is passed in, so the arithmetic is tested without sleeping. Limits are
//! per process: several servers behind one balancer each grant the full budget,
//! which is the usual trade for not paying a shared round trip per request.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How many failed authentications (a missing, malformed or unknown key) one
/// client address may make: `max_failures` at once, regained evenly over `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthFailureLimit {
    /// Failures allowed in a burst; 0 turns the limit off.
    pub max_failures: u32,
    /// Time in which a full allowance comes back.
    pub window: Duration,
}

impl Default for AuthFailureLimit {
    /// A client with a wrong key finds out within a few tries; a scan of keys
    /// gets 30 guesses a minute per address.
    fn default() -> Self {
        Self {
            max_failures: 30,
            window: Duration::from_secs(60),
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

/// Token buckets of every key seen (API key hashes, or client addresses).
#[derive(Debug)]
pub struct RateLimiter<K = ApiKeyHash> {
    burst: u32,
    per_second: f64,
    buckets: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Bucket>,
    /// The size at which full buckets are next dropped (a full bucket is the
    /// same as none), so keys seen once do not pile up; it doubles with what
    /// is kept, so the sweeps cost a constant per new key.
    prune_at: usize,
}

/// The fewest buckets that trigger a sweep.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter<ApiKeyHash> {
    /// A limiter with no bucket yet; each key's bucket starts full.
    pub fn new(config: RateLimitConfig) -> Self {
        Self::with_rate(config.burst, f64::from(config.per_second.max(1)))
    }
}

/// How many portal and console pages one client address may ask for: the
/// pages take no API key, so their cost (a page prices a period and reads
/// its usage day by day) is bounded per address instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageRateLimit {
    /// Pages added to the budget per minute; 0 turns the limit off.
    pub per_minute: u32,
    /// The longest burst of pages at once.
    pub burst: u32,
}

impl Default for PageRateLimit {
    /// Far above a person clicking through pages and downloads, far below a
    /// script fetching them in a loop.
    fn default() -> Self {
        Self {
            per_minute: 300,
            burst: 50,
        }
    }
}

impl RateLimiter<IpAddr> {
    /// The limiter of portal and console pages per client address.
    pub fn for_pages(limit: PageRateLimit) -> Self {
        Self::with_rate(limit.burst, f64::from(limit.per_minute.max(1)) / 60.0)
    }

    /// The limiter of failed authentications per client address.
    pub fn for_auth_failures(limit: AuthFailureLimit) -> Self {
        let window = limit.window.as_secs_f64().max(0.001);
        Self::with_rate(
            limit.max_failures,
            f64::from(limit.max_failures.max(1)) / window,
        )
    }
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    fn with_rate(burst: u32, per_second: f64) -> Self {
        Self {
            burst: burst.max(1),
            per_second,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                prune_at: PRUNE_ABOVE,
            }),
        }
    }

    /// Takes one token from `key`'s bucket at `now`, if there is one.
    pub fn check(&self, key: &K, now: Instant) -> Decision {
        self.decide(key, now, 1.0)
    }

    /// Whether `key`'s bucket has a token at `now`, taking none.
    pub fn peek(&self, key: &K, now: Instant) -> Decision {
        self.decide(key, now, 0.0)
    }

    fn decide(&self, key: &K, now: Instant, cost: f64) -> Decision {
        let capacity = f64::from(self.burst);
        let rate = self.per_second;
        // A poisoned lock only means another request panicked mid-update; the
        // buckets are still plain numbers, so keep using them.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = &mut *buckets;
        if buckets.map.len() >= buckets.prune_at && !buckets.map.contains_key(key) {
            let map = &mut buckets.map;
            map.retain(|_, bucket| refilled(bucket, now, rate, capacity) < capacity);
            buckets.prune_at = PRUNE_ABOVE.max(2 * map.len());
        }
        let bucket = buckets.map.entry(key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, rate, capacity);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= cost;
        }
        let tokens = bucket.tokens;
        Decision {
            allowed,
            limit: self.burst,
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

/// The tokens of `bucket` at `now`.
fn refilled(bucket: &Bucket, now: Instant, rate: f64, capacity: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(capacity)
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
    fn failures_come_back_over_the_window_and_a_peek_takes_nothing() {
        let limiter = RateLimiter::for_auth_failures(AuthFailureLimit {
            max_failures: 2,
            window: Duration::from_secs(60),
        });
        let address: IpAddr = [192, 0, 2, 1].into();
        let t0 = Instant::now();
        assert!(limiter.peek(&address, t0).allowed);
        assert!(limiter.check(&address, t0).allowed);
        assert!(limiter.check(&address, t0).allowed);
        let refused = limiter.peek(&address, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 30);
        assert!(!limiter.peek(&address, t0 + Duration::from_secs(29)).allowed);
        assert!(limiter.peek(&address, t0 + Duration::from_secs(30)).allowed);
    }

    #[test]
    fn full_buckets_are_dropped_when_many_are_kept() {
        let limiter = limiter(1, 1);
        let t0 = Instant::now();
        for i in 0..PRUNE_ABOVE {
            limiter.check(&ApiKeyHash::of_secret(&i.to_string()), t0);
        }
        let later = t0 + Duration::from_secs(2);
        assert!(limiter.check(&ApiKeyHash::of_secret("new"), later).allowed);
        let kept = limiter.buckets.lock().unwrap().map.len();
        assert_eq!(kept, 1);
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
