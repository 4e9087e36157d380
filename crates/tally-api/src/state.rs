//! `AppState`: what every handler and middleware shares.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;

use tally_billing::Billing;
use tally_store::Store;
use tally_web::PortalConfig;

use crate::idempotency::Cleanup;
use crate::keycache::{DEFAULT_KEY_CACHE_TTL, KeyCache};
use crate::metrics::Metrics;
use crate::ratelimit::{AuthFailureLimit, PageRateLimit, RateLimitConfig, RateLimiter};

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
    /// Failed authentications allowed per client address before `/v1` answers
    /// 429 to that address.
    pub auth_failure_limit: AuthFailureLimit,
    /// A header set by a trusted reverse proxy whose last address is the
    /// client's (`x-forwarded-for`); without it, the connection's peer address
    /// (axum's `ConnectInfo<SocketAddr>`) is the client's, and a request with
    /// neither is not limited per address.
    pub client_ip_header: Option<HeaderName>,
    /// The customer portal: the secret its links are signed with and the
    /// public address they start with (default: a secret generated now).
    pub portal: PortalConfig,
    /// Portal and console pages per client address (429 above).
    pub page_rate_limit: PageRateLimit,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_limit: RateLimitConfig::default(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            batch_body_limit_bytes: DEFAULT_BATCH_BODY_LIMIT_BYTES,
            key_cache_ttl: DEFAULT_KEY_CACHE_TTL,
            auth_failure_limit: AuthFailureLimit::default(),
            client_ip_header: None,
            portal: PortalConfig::default(),
            page_rate_limit: PageRateLimit::default(),
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
    auth_failures: RateLimiter<IpAddr>,
    pages: RateLimiter<IpAddr>,
    keys: KeyCache,
    metrics: Metrics,
    idempotency_cleanup: Cleanup,
}

impl AppState {
    /// The state of a router over `billing` with these settings; limiter, key cache and metrics
    /// start empty.
    pub fn new(billing: Billing, config: ApiConfig) -> Self {
        let limiter = RateLimiter::new(config.rate_limit);
        let auth_failures = RateLimiter::for_auth_failures(config.auth_failure_limit);
        let pages = RateLimiter::for_pages(config.page_rate_limit);
        let keys = KeyCache::new(config.key_cache_ttl);
        Self {
            inner: Arc::new(Inner {
                billing,
                config,
                limiter,
                auth_failures,
                pages,
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

    /// Failed authentications per client address.
    pub fn auth_failures(&self) -> &RateLimiter<IpAddr> {
        &self.inner.auth_failures
    }

    /// Portal and console pages per client address.
    pub fn pages(&self) -> &RateLimiter<IpAddr> {
        &self.inner.pages
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
