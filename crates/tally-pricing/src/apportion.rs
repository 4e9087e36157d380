//! Largest-remainder apportionment: exact amounts to whole minor units that add
//! up to a given total.

use rust_decimal::Decimal;

use crate::arith;
use crate::error::PricingError;

/// Splits `target` minor units over items whose exact shares are `raw`.
///
/// Each item gets its share rounded down, and the residue goes one unit at a time
/// to the items with the largest fractional parts; ties go to the earliest item.
/// When `target` is the rounded sum of `raw`, the residue is between 0 and the
/// number of items with a fractional part, so an item with a whole share (zero
/// included) keeps it exactly. Should `raw` not add up to `target` (the last
/// digit of an inexact division), the residue is still spread in the same order,
/// so the result always adds up to `target`. Empty input gives an empty split.
pub(crate) fn largest_remainder(raw: &[Decimal], target: i64) -> Result<Vec<i64>, PricingError> {
    let Ok(count) = i128::try_from(raw.len()) else {
        return Err(PricingError::Overflow);
    };
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut floors = Vec::with_capacity(raw.len());
    let mut order = Vec::with_capacity(raw.len());
    let mut floor_sum: i128 = 0;
    for (index, &share) in raw.iter().enumerate() {
        let floor = share.floor();
        let minor = i64::try_from(floor).map_err(|_| PricingError::Overflow)?;
        floor_sum += i128::from(minor);
        floors.push(minor);
        order.push((arith::sub(share, floor)?, index));
    }
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let residue = i128::from(target) - floor_sum;
    let each = residue.div_euclid(count);
    let extra = residue.rem_euclid(count);
    let mut bonus = vec![each; raw.len()];
    for &(_, index) in order.iter().take(usize::try_from(extra).unwrap_or(0)) {
        if let Some(slot) = bonus.get_mut(index) {
            *slot += 1;
        }
    }
    floors
        .iter()
        .zip(bonus)
        .map(|(&floor, bonus)| {
            i64::try_from(i128::from(floor) + bonus).map_err(|_| PricingError::Overflow)
        })
        .collect()
}
