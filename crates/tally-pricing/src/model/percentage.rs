//! Percentage pricing: a fee per event, as payment processors charge.

use rust_decimal::Decimal;

use crate::arith;
use crate::error::{PricingError, ProblemCode, Problems};
use crate::model::def::PriceModelDef;
use crate::model::{is_negative, non_negative};

/// Per event: `clamp(rate % × value + fixed_amount, floor, cap)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Percentage {
    rate: Decimal,
    property: String,
    fixed_amount: Decimal,
    floor: Option<Decimal>,
    cap: Option<Decimal>,
}

/// One event's fee and how the floor or cap changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fee {
    /// `rate % × value`.
    pub proportional: Decimal,
    /// The fee after the fixed amount and the clamp.
    pub amount: Decimal,
    /// `amount - (proportional + fixed)`: positive when the floor lifted the fee,
    /// negative when the cap cut it.
    pub clamp: Decimal,
}

impl Percentage {
    pub(crate) fn parse(def: &PriceModelDef, problems: &mut Problems) -> Option<Percentage> {
        let PriceModelDef::Percentage {
            rate,
            property,
            fixed_amount,
            per_event_floor,
            per_event_cap,
        } = def
        else {
            return None;
        };
        if is_negative(*rate) {
            problems.push("/rate", ProblemCode::NegativeRate);
        }
        if property.trim().is_empty() {
            problems.push("/property", ProblemCode::EmptyProperty);
        }
        non_negative(*fixed_amount, "/fixed_amount", problems);
        for (bound, path) in [
            (per_event_floor, "/per_event_floor"),
            (per_event_cap, "/per_event_cap"),
        ] {
            if let Some(bound) = bound {
                non_negative(*bound, path, problems);
            }
        }
        if let (Some(floor), Some(cap)) = (per_event_floor, per_event_cap)
            && floor > cap
        {
            problems.push("/per_event_floor", ProblemCode::FloorAboveCap);
        }
        Some(Percentage {
            rate: *rate,
            property: property.clone(),
            fixed_amount: *fixed_amount,
            floor: *per_event_floor,
            cap: *per_event_cap,
        })
    }

    pub(crate) fn def(&self) -> PriceModelDef {
        PriceModelDef::Percentage {
            rate: self.rate,
            property: self.property.clone(),
            fixed_amount: self.fixed_amount,
            per_event_floor: self.floor,
            per_event_cap: self.cap,
        }
    }

    /// Percent of each event's value (`2.9` is 2.9 %).
    pub fn rate(&self) -> Decimal {
        self.rate
    }

    /// The record property holding each event's value, in minor units.
    pub fn property(&self) -> &str {
        &self.property
    }

    /// Minor units added to each event's fee before the clamp.
    pub fn fixed_amount(&self) -> Decimal {
        self.fixed_amount
    }

    /// The smallest fee per event, in minor units, if any.
    pub fn per_event_floor(&self) -> Option<Decimal> {
        self.floor
    }

    /// The largest fee per event, in minor units, if any.
    pub fn per_event_cap(&self) -> Option<Decimal> {
        self.cap
    }

    /// The multiplier applied to a value: `rate / 100`.
    pub(crate) fn unit_rate(&self) -> Result<Decimal, PricingError> {
        arith::div(self.rate, Decimal::ONE_HUNDRED)
    }

    /// One event's fee. A negative value (a refund) gives a negative proportional
    /// part; the floor, when set, still applies to the result.
    pub(crate) fn fee(&self, value: Decimal) -> Result<Fee, PricingError> {
        let proportional = arith::mul(self.unit_rate()?, value)?;
        let raw = arith::add(proportional, self.fixed_amount)?;
        let mut amount = raw;
        if let Some(floor) = self.floor {
            amount = amount.max(floor);
        }
        if let Some(cap) = self.cap {
            amount = amount.min(cap);
        }
        let clamp = arith::sub(amount, raw)?;
        Ok(Fee {
            proportional,
            amount,
            clamp,
        })
    }
}
