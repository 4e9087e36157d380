//! Time and randomness, injected so that every use case is deterministic in tests.

use std::sync::Mutex;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tally_event::Timestamp;

/// Where the engine reads "now".
pub trait Clock: Send + Sync {
    /// The current instant, UTC milliseconds.
    fn now(&self) -> Timestamp;
}

/// The system clock, truncated to the millisecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = chrono::Utc::now().timestamp_millis();
        // A system clock outside years 1970..=9999 is broken; the epoch keeps
        // the engine answering rather than panicking.
        Timestamp::from_millis(ms)
            .or_else(|_| Timestamp::from_millis(0))
            .expect("the epoch is a valid timestamp")
    }
}

/// A clock that says what it is told (tests, replays).
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> Self {
        FixedClock(Mutex::new(at))
    }

    /// Moves the clock to `at` (backwards too).
    pub fn set(&self, at: Timestamp) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The random generator every new id (`cus_`, `evt_`, `agf_`, `cal_`, …) is drawn
/// from: seeded from the OS in production, from a number in tests.
#[derive(Debug)]
pub struct Ids(Mutex<StdRng>);

impl Ids {
    /// A generator seeded from the operating system: unpredictable ids.
    pub fn from_os() -> Self {
        Ids(Mutex::new(StdRng::from_os_rng()))
    }

    /// A generator seeded from `seed`: the same ids in the same order on every run.
    pub fn seeded(seed: u64) -> Self {
        Ids(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    /// Runs `f` with the generator; batch callers draw all their ids in one call.
    pub fn with<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut rng)
    }
}

impl Default for Ids {
    fn default() -> Self {
        Ids::from_os()
    }
}
