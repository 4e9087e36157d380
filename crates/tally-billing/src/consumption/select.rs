//! Which shares receive a unit of the rounding residue, found in bounded
//! memory.
//!
//! Largest remainder gives a unit to the `rank` largest fractional parts,
//! earliest first on ties. What the third pass needs is only the fraction `T`
//! at which that stops and how many shares exactly at `T` still get a unit.
//! A [`Selector`] keeps the distinct fractions exactly while there are at most
//! [`EXACT_LIMIT`] of them (always so for `count` aggregations: one per tier
//! crossed). Past that it counts fractions in [`BUCKETS`] equal buckets of
//! the range, picks the bucket that holds `T`, and asks for one more pass
//! over the shares restricted to that bucket; each pass divides the range by
//! 1024, and after [`MAX_LEVELS`] narrowings it keeps every distinct fraction
//! left (by then the range is narrower than `Decimal`'s resolution). Memory:
//! `EXACT_LIMIT` map entries and `BUCKETS` counters, whatever the number of
//! events.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

/// Buckets of a narrowing pass.
pub const BUCKETS: usize = 1024;
/// Distinct fractions kept exactly before a pass falls back to buckets.
pub const EXACT_LIMIT: usize = 4096;
/// Narrowings before the exact map stops being bounded.
pub const MAX_LEVELS: usize = 8;

/// A bucket chosen by an earlier pass.
#[derive(Debug, Clone)]
struct Level {
    lo: Decimal,
    width: Decimal,
    chosen: usize,
}

/// What a pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The threshold fraction and how many shares exactly at it get a unit;
    /// `None` when no share does.
    Found(Option<(Decimal, u64)>),
    /// Run another pass over the same shares, then select again.
    Narrowed,
}

/// Finds which shares get the units of residue left after flooring every share, in bounded
/// memory: fractions are kept exactly up to a limit, then counted in buckets and narrowed pass
/// by pass.
#[derive(Debug, Clone)]
pub struct Selector {
    levels: Vec<Level>,
    lo: Decimal,
    width: Decimal,
    /// `None` once more than `limit` distinct fractions were seen this pass.
    exact: Option<BTreeMap<Decimal, u64>>,
    buckets: Vec<u64>,
    limit: usize,
    /// Units still to place among the fractions of the current range.
    rank: u64,
}

impl Selector {
    /// A selector keeping at most `limit` distinct fractions exactly.
    pub fn new(limit: usize) -> Self {
        Selector {
            levels: Vec::new(),
            lo: Decimal::ZERO,
            width: Decimal::ONE,
            exact: Some(BTreeMap::new()),
            buckets: vec![0; BUCKETS],
            limit,
            rank: 0,
        }
    }

    /// Counts one share's fractional part (in `[0, 1)`).
    pub fn observe(&mut self, fraction: Decimal) {
        let within = self
            .levels
            .iter()
            .all(|level| index(level.lo, level.width, fraction) == level.chosen);
        if !within {
            return;
        }
        let narrowable = self.narrowable();
        if let Some(exact) = &mut self.exact {
            *exact.entry(fraction).or_default() += 1;
            if exact.len() > self.limit && narrowable {
                self.exact = None;
            }
        }
        if let Some(count) = self.buckets.get_mut(index(self.lo, self.width, fraction)) {
            *count += 1;
        }
    }

    /// Sets how many of the largest fractions get a unit (before any pass).
    pub fn start(&mut self, rank: u64) {
        self.rank = rank;
    }

    /// After a pass: the threshold, or a narrower range to pass over again.
    pub fn select(&mut self) -> Selection {
        if self.rank == 0 {
            return Selection::Found(None);
        }
        if let Some(exact) = &self.exact {
            return Selection::Found(threshold(exact, self.rank));
        }
        let mut left = self.rank;
        for (bucket, &count) in self.buckets.iter().enumerate().rev() {
            if left <= count {
                self.narrow(bucket, left);
                return Selection::Narrowed;
            }
            left -= count;
        }
        // More units than shares: cannot happen when the rank is a residue
        // below the number of shares; give none rather than guess.
        Selection::Found(None)
    }

    fn narrow(&mut self, bucket: usize, rank: u64) {
        let width = self.width / Decimal::from(BUCKETS);
        self.levels.push(Level {
            lo: self.lo,
            width: self.width,
            chosen: bucket,
        });
        self.lo += width * Decimal::from(bucket);
        self.width = width;
        self.rank = rank;
        self.exact = Some(BTreeMap::new());
        self.buckets.iter_mut().for_each(|count| *count = 0);
    }

    /// Whether another narrowing still splits the range.
    fn narrowable(&self) -> bool {
        self.levels.len() < MAX_LEVELS && !(self.width / Decimal::from(BUCKETS)).is_zero()
    }
}

/// The bucket of `fraction` in `[lo, lo + width)`, clamped: monotonic in
/// `fraction`, so buckets keep the fractions' order whatever the rounding.
fn index(lo: Decimal, width: Decimal, fraction: Decimal) -> usize {
    let scaled = fraction
        .checked_sub(lo)
        .and_then(|offset| offset.checked_mul(Decimal::from(BUCKETS)))
        .and_then(|offset| offset.checked_div(width));
    match scaled {
        Some(scaled) if scaled > Decimal::ZERO => usize::try_from(scaled.floor())
            .unwrap_or(BUCKETS - 1)
            .min(BUCKETS - 1),
        _ => 0,
    }
}

/// The fraction at which the `rank` largest stop, and how many shares exactly
/// at it get a unit.
fn threshold(fractions: &BTreeMap<Decimal, u64>, rank: u64) -> Option<(Decimal, u64)> {
    let mut left = rank;
    for (&fraction, &count) in fractions.iter().rev() {
        if left <= count {
            return Some((fraction, left));
        }
        left -= count;
    }
    None
}
