//! A short-lived cache of API key → account, so a busy key does not cost a store
//! read per request. Only keys the store knows are cached (unknown keys cannot
//! fill it), and an entry lives `ttl` at most: a revoked key stops working
//! within that delay. A zero `ttl` turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tally_store::{AccountId, ApiKeyHash};

/// Default lifetime of a cached key.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(10);

/// The accounts of API keys seen recently, by key hash, so that most requests skip the store
/// lookup. A revoked key keeps working until its entry expires.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<ApiKeyHash, (AccountId, Instant)>>,
}

impl KeyCache {
    /// A cache keeping entries for `ttl`; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The account of `key` if it was cached less than `ttl` before `now`.
    pub fn get(&self, key: &ApiKeyHash, now: Instant) -> Option<AccountId> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (account, at) = entries.get(key)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| account.clone())
    }

    /// Remembers that `key` opens `account`, as of `now`.
    pub fn insert(&self, key: ApiKeyHash, account: AccountId, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Expired entries of keys no longer used are dropped now and then, so the
        // map stays as small as the set of keys in use.
        if entries.len() >= 1024 {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
        }
        entries.insert(key, (account, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = KeyCache::new(Duration::from_secs(10));
        let key = ApiKeyHash::of_secret("k");
        let account = AccountId::random();
        let t0 = Instant::now();
        assert_eq!(cache.get(&key, t0), None);
        cache.insert(key.clone(), account.clone(), t0);
        assert_eq!(cache.get(&key, t0 + Duration::from_secs(9)), Some(account));
        assert_eq!(cache.get(&key, t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let key = ApiKeyHash::of_secret("k");
        let t0 = Instant::now();
        cache.insert(key.clone(), AccountId::random(), t0);
        assert_eq!(cache.get(&key, t0), None);
    }
}
