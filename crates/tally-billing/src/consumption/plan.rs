//! The pure core of per-event attribution over a stream: what one event adds
//! to the quantity, its exact share of the amount, and which events receive a
//! unit of the rounding residue, without holding the events.
//!
//! `tally_pricing::attribute` needs every share at once to spread the residue
//! by largest remainder. Here a [`Plan`] is built from passes over the events
//! (the first totals the quantity, the second sums the shares' floors and
//! finds which fractional parts receive the residue, see [`super::select`])
//! and then hands out amounts in a last pass that equal `attribute`'s to the
//! unit: the residue goes to the largest fractional parts, earliest event
//! first on ties. All the last pass needs is a threshold fraction and how
//! many shares exactly at it still get a unit, so memory does not grow with
//! the number of events.

use rust_decimal::Decimal;
use tally_pricing::{AttributionRule, PriceModel, PricingError, price, price_events, round_minor};

use super::select::{EXACT_LIMIT, Selection, Selector};

/// What one selected event brings to a price group's walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    /// Its contribution to the quantity (0 for an event not behind it); for a
    /// percentage model, the value its fee is computed from.
    pub quantity: Decimal,
    /// Whether it is behind the quantity (shares under `EqualShares`; has a
    /// usable value under `OwnFee`).
    pub behind: bool,
}

/// The totals of the first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// The sum of the contributions pushed; a caller may replace it with the
    /// aggregation's result (non-additive operations). Priced floored at zero.
    /// For percentage, the sum of the values.
    pub quantity: Decimal,
    /// Events behind the quantity.
    pub behind: u64,
    /// Exact sum of the per-event fees (percentage only).
    pub fees: Decimal,
}

impl Totals {
    /// Counts one judged event of the first pass.
    pub fn push(&mut self, model: &PriceModel, judged: Judged) -> Result<(), PricingError> {
        if judged.behind {
            self.behind += 1;
            if model.percentage_property().is_some() {
                self.fees = checked(self.fees.checked_add(fee(model, judged.quantity)?))?;
            }
        }
        self.quantity = checked(self.quantity.checked_add(judged.quantity))?;
        Ok(())
    }
}

/// Exact per-event shares, in walk order.
#[derive(Debug, Clone)]
pub struct Shares {
    model: PriceModel,
    rule: AttributionRule,
    /// Total exact amount of the line.
    amount: Decimal,
    quantity: Decimal,
    equal_share: Decimal,
    behind: u64,
    /// The exact amount at quantity zero.
    zero: Decimal,
    running: Decimal,
    before: Decimal,
}

impl Shares {
    /// The exact amount at quantity zero: the marginal walk's starting point
    /// and its unattributed part (0 under the other rules).
    fn start(&self) -> Decimal {
        match self.rule {
            AttributionRule::Marginal => self.zero,
            _ => Decimal::ZERO,
        }
    }

    /// The exact share of the next event.
    pub fn next(&mut self, judged: Judged) -> Result<Decimal, PricingError> {
        match self.rule {
            AttributionRule::Marginal => {
                self.running = checked(self.running.checked_add(judged.quantity))?;
                let after = amount_at(&self.model, self.running.max(Decimal::ZERO))?;
                let share = checked(after.checked_sub(self.before))?;
                self.before = after;
                Ok(share)
            }
            AttributionRule::ProRata if self.quantity.is_zero() => Ok(Decimal::ZERO),
            AttributionRule::ProRata => {
                let ratio = checked(judged.quantity.checked_div(self.quantity))?;
                checked(self.amount.checked_mul(ratio))
            }
            AttributionRule::OwnFee if judged.behind => fee(&self.model, judged.quantity),
            AttributionRule::EqualShares if judged.behind => Ok(self.equal_share),
            AttributionRule::OwnFee | AttributionRule::EqualShares => Ok(Decimal::ZERO),
        }
    }
}

/// The line a walk adds up to, and how to spread its residue.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How the amount is spread.
    pub rule: AttributionRule,
    /// The priced quantity.
    pub quantity: Decimal,
    /// Exact amount of the line.
    pub amount: Decimal,
    /// The line's subtotal: `unattributed + Σ per-event amounts`.
    pub subtotal: i64,
    /// The part no event carries (see `tally_pricing::Attribution`).
    pub unattributed: i64,
    /// Rows in the walk (selected events).
    pub rows: u64,
    each: i128,
    threshold: Option<(Decimal, u64)>,
    /// Units at the threshold already given (by the zero-quantity item).
    given_at_start: u64,
    shares: Shares,
}

/// Builds a [`Plan`]: `new` from the first pass's totals, `push` every row's
/// judgement in walk order (second pass), then `finish`. Should the shares
/// have too many distinct fractions, `finish` asks for more passes
/// ([`Planning::Refine`]; see [`super::select`]).
pub struct PlanBuilder {
    shares: Shares,
    subtotal: i64,
    rows: u64,
    items: u64,
    floor_sum: i128,
    selector: Selector,
}

/// A finished plan, or a request for one more pass over the same events.
/// Both boxed: a plan is a few hundred bytes, a refiner twice that.
pub enum Planning {
    /// The plan is complete.
    Done(Box<Plan>),
    /// The shares need one more pass over the same events.
    Refine(Box<Refiner>),
}

impl PlanBuilder {
    /// A builder from the first pass's totals, keeping up to the default number of distinct
    /// fractions exactly.
    pub fn new(
        model: &PriceModel,
        rule: AttributionRule,
        totals: Totals,
    ) -> Result<Self, PricingError> {
        PlanBuilder::with_exact_limit(model, rule, totals, EXACT_LIMIT)
    }

    /// As `new`, keeping at most `limit` distinct fractions exactly (tests
    /// use a small one to run the narrowing passes).
    pub fn with_exact_limit(
        model: &PriceModel,
        rule: AttributionRule,
        totals: Totals,
        limit: usize,
    ) -> Result<Self, PricingError> {
        let quantity = totals.quantity.max(Decimal::ZERO);
        let amount = match model.percentage_property() {
            Some(_) => totals.fees,
            None => amount_at(model, quantity)?,
        };
        let equal_share = match totals.behind {
            0 => Decimal::ZERO,
            behind => checked(amount.checked_div(Decimal::from(behind)))?,
        };
        let zero = amount_at_zero(model)?;
        let shares = Shares {
            model: model.clone(),
            rule,
            amount,
            quantity: totals.quantity,
            equal_share,
            behind: totals.behind,
            zero,
            running: Decimal::ZERO,
            before: zero,
        };
        let mut builder = PlanBuilder {
            subtotal: round_minor(amount)?,
            shares,
            rows: 0,
            items: 0,
            floor_sum: 0,
            selector: Selector::new(limit),
        };
        if rule == AttributionRule::Marginal {
            builder.count(builder.shares.start())?;
        }
        Ok(builder)
    }

    /// Adds the next event's share, in walk order (second pass).
    pub fn push(&mut self, judged: Judged) -> Result<(), PricingError> {
        let share = self.shares.next(judged)?;
        self.rows += 1;
        self.count(share)
    }

    fn count(&mut self, share: Decimal) -> Result<(), PricingError> {
        let floor = share.floor();
        self.floor_sum += i128::from(minor(floor)?);
        self.items += 1;
        self.selector.observe(share - floor);
        Ok(())
    }

    /// The plan, or a request for one more pass when the shares had too many distinct fractions
    /// to place the residue exactly.
    pub fn finish(mut self) -> Result<Planning, PricingError> {
        let mut shares = self.shares.clone();
        shares.running = Decimal::ZERO;
        shares.before = shares.zero;
        let empty = self.items == 0 || self.shares_nothing();
        let residue = i128::from(self.subtotal) - self.floor_sum;
        let (each, extra) = match i128::from(self.items) {
            _ if empty => (0, 0),
            0 => (0, 0),
            n => (residue.div_euclid(n), residue.rem_euclid(n)),
        };
        let plan = Plan {
            rule: shares.rule,
            quantity: shares.quantity.max(Decimal::ZERO),
            amount: shares.amount,
            subtotal: self.subtotal,
            unattributed: if empty { self.subtotal } else { 0 },
            rows: self.rows,
            each,
            threshold: None,
            given_at_start: 0,
            shares,
        };
        self.selector
            .start(u64::try_from(extra).map_err(|_| PricingError::Overflow)?);
        Refiner::select(plan, self.selector)
    }

    /// Pro rata over no quantity, equal shares over no event behind it.
    fn shares_nothing(&self) -> bool {
        match self.shares.rule {
            AttributionRule::ProRata => self.shares.quantity.is_zero(),
            AttributionRule::EqualShares => self.shares.behind == 0,
            AttributionRule::Marginal | AttributionRule::OwnFee => false,
        }
    }
}

/// One more pass over the same judgements, in the same order, narrowing the
/// residue's threshold.
pub struct Refiner {
    plan: Plan,
    shares: Shares,
    selector: Selector,
}

impl Refiner {
    fn select(mut plan: Plan, mut selector: Selector) -> Result<Planning, PricingError> {
        match selector.select() {
            Selection::Found(threshold) => {
                plan.threshold = threshold;
                if plan.rule == AttributionRule::Marginal {
                    let mut spread = plan.spread();
                    plan.unattributed = spread.amount(plan.shares.start())?;
                    plan.given_at_start = spread.given;
                }
                Ok(Planning::Done(Box::new(plan)))
            }
            Selection::Narrowed => {
                let shares = plan.shares.clone();
                if plan.rule == AttributionRule::Marginal {
                    let start = shares.start();
                    selector.observe(start - start.floor());
                }
                Ok(Planning::Refine(Box::new(Refiner {
                    plan,
                    shares,
                    selector,
                })))
            }
        }
    }

    /// Observes the next event's share, in walk order (another pass).
    pub fn push(&mut self, judged: Judged) -> Result<(), PricingError> {
        let share = self.shares.next(judged)?;
        self.selector.observe(share - share.floor());
        Ok(())
    }

    /// The plan, or a request for yet another pass.
    pub fn finish(self) -> Result<Planning, PricingError> {
        Refiner::select(self.plan, self.selector)
    }
}

impl Plan {
    /// The exact shares of the walk, from its first event.
    pub fn shares(&self) -> Shares {
        self.shares.clone()
    }

    /// Hands out whole amounts for the shares of the third pass, in walk order.
    pub fn spread(&self) -> Spread {
        Spread {
            each: self.each,
            threshold: self.threshold,
            given: self.given_at_start,
        }
    }
}

/// The residue spreading of one walk.
#[derive(Debug, Clone)]
pub struct Spread {
    each: i128,
    threshold: Option<(Decimal, u64)>,
    given: u64,
}

impl Spread {
    /// The whole amount of the next share.
    pub fn amount(&mut self, share: Decimal) -> Result<i64, PricingError> {
        let floor = share.floor();
        let fraction = share - floor;
        let bonus = match self.threshold {
            Some((at, _)) if fraction > at => 1,
            Some((at, units)) if fraction == at && self.given < units => {
                self.given += 1;
                1
            }
            _ => 0,
        };
        let whole = i128::from(minor(floor)?) + self.each + bonus;
        i64::try_from(whole).map_err(|_| PricingError::Overflow)
    }
}

fn amount_at(model: &PriceModel, quantity: Decimal) -> Result<Decimal, PricingError> {
    Ok(price(model, quantity)?.amount)
}

/// A percentage model has no amount at zero; every other model's is its price.
fn amount_at_zero(model: &PriceModel) -> Result<Decimal, PricingError> {
    match model.percentage_property() {
        Some(_) => Ok(Decimal::ZERO),
        None => amount_at(model, Decimal::ZERO),
    }
}

fn fee(model: &PriceModel, value: Decimal) -> Result<Decimal, PricingError> {
    Ok(price_events(model, &[value])?.amount)
}

fn minor(floor: Decimal) -> Result<i64, PricingError> {
    i64::try_from(floor).map_err(|_| PricingError::Overflow)
}

fn checked(value: Option<Decimal>) -> Result<Decimal, PricingError> {
    value.ok_or(PricingError::Overflow)
}
