//! Validated tier lists and the graduated and volume walks over them.

use rust_decimal::Decimal;

use crate::arith;
use crate::error::{PricingError, ProblemCode, Problems};
use crate::model::def::TierDef;

/// More tiers than any real price list has; bounds the per-event work of
/// marginal attribution, which walks the tiers for every event.
pub const MAX_TIERS: usize = 100;

/// One validated tier. It covers quantities in `(previous up_to, up_to]`; the
/// first tier starts at and includes zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub(crate) up_to: Option<Decimal>,
    pub(crate) unit_amount: Decimal,
    pub(crate) flat_amount: Decimal,
}

impl Tier {
    /// The inclusive upper bound in units; `None` for the open last tier.
    pub fn up_to(&self) -> Option<Decimal> {
        self.up_to
    }
    /// Minor units per unit in this tier.
    pub fn unit_amount(&self) -> Decimal {
        self.unit_amount
    }
    /// Minor units charged once when the tier is used.
    pub fn flat_amount(&self) -> Decimal {
        self.flat_amount
    }
}

/// A non-empty list of at most [`MAX_TIERS`] tiers with non-negative prices,
/// strictly increasing non-negative bounds, and an open last tier (only). The open
/// tier is held apart so that every quantity has a tier by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers {
    bounded: Vec<Tier>,
    open: Tier,
}

/// The part of a quantity that lies in one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub index: usize,
    pub tier: Tier,
    pub from: Decimal,
    pub units: Decimal,
}

impl Tiers {
    pub(crate) fn parse(defs: &[TierDef], problems: &mut Problems) -> Option<Tiers> {
        let before = problems.len();
        if defs.is_empty() {
            problems.push("/tiers", ProblemCode::EmptyTiers);
        }
        if defs.len() > MAX_TIERS {
            problems.push("/tiers", ProblemCode::TooManyTiers);
        }
        let mut previous: Option<Decimal> = None;
        for (index, def) in defs.iter().enumerate() {
            let path = format!("/tiers/{index}");
            check_prices(def, &path, problems);
            let is_last = index + 1 == defs.len();
            match def.up_to {
                None if !is_last => {
                    problems.push(format!("{path}/up_to"), ProblemCode::OpenTierNotLast)
                }
                None => {}
                Some(_) if is_last => {
                    problems.push(format!("{path}/up_to"), ProblemCode::LastTierMustBeOpen)
                }
                Some(bound) => {
                    check_bound(bound, previous, &format!("{path}/up_to"), problems);
                    previous = Some(bound);
                }
            }
        }
        let (open, bounded) = defs.split_last()?;
        (problems.len() == before).then(|| Tiers {
            bounded: bounded.iter().map(tier_of).collect(),
            open: tier_of(open),
        })
    }

    /// The tiers in order, the open one last.
    pub fn iter(&self) -> impl Iterator<Item = &Tier> {
        self.bounded.iter().chain(std::iter::once(&self.open))
    }

    /// The number of tiers, the open one included: 1..=[`MAX_TIERS`].
    pub fn len(&self) -> usize {
        self.bounded.len() + 1
    }

    /// Never true: validation requires a tier. Present for clippy's `len` pairing.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn to_defs(&self) -> Vec<TierDef> {
        let def = |t: &Tier| TierDef {
            up_to: t.up_to,
            unit_amount: t.unit_amount,
            flat_amount: t.flat_amount,
        };
        self.iter().map(def).collect()
    }

    /// The tiers a graduated price charges for `quantity`: every tier the quantity
    /// reaches, with the units inside it. The first tier is always reached (its flat
    /// amount is owed even at zero, as with Stripe); a later one when the quantity
    /// exceeds the previous bound, so 1000.5 over a bound of 1000 puts 0.5 units in
    /// the next tier.
    pub(crate) fn graduated(&self, quantity: Decimal) -> Result<Vec<Segment>, PricingError> {
        let mut segments = Vec::new();
        let mut from = Decimal::ZERO;
        for (index, tier) in self.iter().enumerate() {
            if index > 0 && quantity <= from {
                break;
            }
            let top = tier.up_to.map_or(quantity, |bound| bound.min(quantity));
            let units = arith::sub(top, from)?.max(Decimal::ZERO);
            segments.push(Segment {
                index,
                tier: *tier,
                from,
                units,
            });
            match tier.up_to {
                Some(bound) => from = bound,
                None => break,
            }
        }
        Ok(segments)
    }

    /// The tier a volume price uses: the first whose inclusive bound holds the
    /// quantity (1000 is in `up_to: 1000`, 1000.5 is in the next one).
    pub(crate) fn volume(&self, quantity: Decimal) -> Segment {
        let mut from = Decimal::ZERO;
        for (index, tier) in self.bounded.iter().enumerate() {
            match tier.up_to {
                Some(bound) if quantity > bound => from = bound,
                _ => {
                    return Segment {
                        index,
                        tier: *tier,
                        from,
                        units: quantity,
                    };
                }
            }
        }
        Segment {
            index: self.bounded.len(),
            tier: self.open,
            from,
            units: quantity,
        }
    }
}

fn tier_of(def: &TierDef) -> Tier {
    Tier {
        up_to: def.up_to,
        unit_amount: def.unit_amount,
        flat_amount: def.flat_amount,
    }
}

fn check_prices(def: &TierDef, path: &str, problems: &mut Problems) {
    if def.unit_amount.is_sign_negative() && !def.unit_amount.is_zero() {
        problems.push(format!("{path}/unit_amount"), ProblemCode::NegativeAmount);
    }
    if def.flat_amount.is_sign_negative() && !def.flat_amount.is_zero() {
        problems.push(format!("{path}/flat_amount"), ProblemCode::NegativeAmount);
    }
}

fn check_bound(bound: Decimal, previous: Option<Decimal>, path: &str, problems: &mut Problems) {
    if bound < Decimal::ZERO {
        problems.push(path, ProblemCode::NegativeBound);
    } else if previous.is_some_and(|previous| bound <= previous) {
        problems.push(path, ProblemCode::TiersNotIncreasing);
    }
}
