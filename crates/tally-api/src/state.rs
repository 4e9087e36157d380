//! `AppState`: what every handler and middleware shares.

use std::sync::Arc;
use std::time::Duration;

use tally_billing::Billing;
use tally_store::Store;

use crate::idempotency::Cleanup;
use crate::keycache::{DEFAULT_KEY_CACHE_TTL, KeyCache};
use crate::metrics::Metrics;
use crate::ratelimit::{RateLimitConfig, RateLimiter};

/// Largest body of most routes: a single event is at most 64 KiB, catalog
/// objects are smaller still.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// Largest body of `POST /v1/events/batch`: 5 000 events of typical size fit
/// with room to spare.
pub const DEFAULT_BATCH_BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// Server settings the API enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// Requests per second and burst, per key.
    pub rate_limit: RateLimitConfig,
    /// Largest request body, in bytes (413 above).
    pub body_limit_bytes: usize,
    /// Largest body of `POST /v1/events/batch`, in bytes.
    pub batch_body_limit_bytes: usize,
    /// How long a key's account is remembered between store lookups (0: never).
    pub key_cache_ttl: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_limit: RateLimitConfig::default(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            batch_body_limit_bytes: DEFAULT_BATCH_BODY_LIMIT_BYTES,
            key_cache_ttl: DEFAULT_KEY_CACHE_TTL,
        }
    }
}

/// The shared state of the router; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    billing: Billing,
    config: ApiConfig,
    limiter: RateLimiter,
    keys: KeyCache,
    metrics: Metrics,
    idempotency_cleanup: Cleanup,
}

impl AppState {
    /// The state of a router over `billing` with these settings; limiter, key cache and metrics
    /// start empty.
    pub fn new(billing: Billing, config: ApiConfig) -> Self {
        let limiter = RateLimiter::new(config.rate_limit);
        let keys = KeyCache::new(config.key_cache_ttl);
        Self {
            inner: Arc::new(Inner {
                billing,
                config,
                limiter,
                keys,
                metrics: Metrics::default(),
                idempotency_cleanup: Cleanup::default(),
            }),
        }
    }

    /// The service the handlers call.
    pub fn billing(&self) -> &Billing {
        &self.inner.billing
    }

    /// The store behind the service, for authentication and idempotency keys.
    pub fn store(&self) -> &Arc<dyn Store> {
        self.inner.billing.store()
    }

    /// The settings the router was built with.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The per-key rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The cache of API keys' accounts.
    pub fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    /// The Prometheus counters served at `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// When this server last deleted expired idempotency keys.
    pub fn idempotency_cleanup(&self) -> &Cleanup {
        &self.inner.idempotency_cleanup
    }
}
