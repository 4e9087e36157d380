//! When a failed attempt is tried again: exponential backoff with jitter.
//!
//! After the `n`-th failed attempt of a run, the next one waits
//! `min(base × 2^(n−1), max)`, stretched by a random factor in `[1, 1.5)`.
//! The jitter spreads the retries of many messages that failed together
//! (an endpoint down for a minute) instead of sending them back in one
//! burst; it only ever lengthens a wait, so each wait below the cap is
//! longer than the one before it.

use std::time::Duration;

use rand::Rng;

/// The wait after the `run_attempt`-th failed attempt of a run (1-based).
pub fn retry_delay<R: Rng + ?Sized>(
    run_attempt: u32,
    base: Duration,
    max: Duration,
    rng: &mut R,
) -> Duration {
    let doublings = run_attempt.saturating_sub(1).min(31);
    let exponential = base.saturating_mul(1u32 << doublings).min(max);
    exponential.mul_f64(1.0 + rng.random_range(0.0..0.5))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn waits_double_below_the_cap_and_stay_near_it_after() {
        let mut rng = StdRng::seed_from_u64(3);
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(3600));
        let mut previous = Duration::ZERO;
        for n in 1..=8 {
            let wait = retry_delay(n, base, max, &mut rng);
            let floor = base * (1 << (n - 1));
            assert!(wait >= floor && wait < floor.mul_f64(1.5), "{n}: {wait:?}");
            assert!(wait > previous, "{n}: {wait:?} after {previous:?}");
            previous = wait;
        }
        for n in [10, 20, 40, u32::MAX] {
            let wait = retry_delay(n, base, max, &mut rng);
            assert!(wait >= max && wait < max.mul_f64(1.5), "{n}: {wait:?}");
        }
    }
}
