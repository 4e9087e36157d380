//! Package pricing: a price per block of units.

use rust_decimal::Decimal;

use crate::arith;
use crate::error::{PricingError, ProblemCode, Problems};
use crate::model::def::{PackageRounding, PriceModelDef};
use crate::model::non_negative;

/// `amount` per started or completed block of `size` units. The size may be
/// fractional (a package of 0.5 GB) but is always greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    amount: Decimal,
    size: Decimal,
    rounding: PackageRounding,
}

impl Package {
    pub(crate) fn parse(def: &PriceModelDef, problems: &mut Problems) -> Option<Package> {
        let PriceModelDef::Package {
            package_amount,
            package_size,
            rounding,
        } = def
        else {
            return None;
        };
        non_negative(*package_amount, "/package_amount", problems);
        if *package_size <= Decimal::ZERO {
            problems.push("/package_size", ProblemCode::InvalidPackageSize);
        }
        Some(Package {
            amount: *package_amount,
            size: *package_size,
            rounding: *rounding,
        })
    }

    pub(crate) fn def(&self) -> PriceModelDef {
        PriceModelDef::Package {
            package_amount: self.amount,
            package_size: self.size,
            rounding: self.rounding,
        }
    }

    /// Minor units per block.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// Units per block, always greater than zero.
    pub fn size(&self) -> Decimal {
        self.size
    }

    /// Whether started or only completed blocks are charged.
    pub fn rounding(&self) -> PackageRounding {
        self.rounding
    }

    /// Blocks charged for a non-negative quantity. The remainder is computed
    /// exactly, so a quantity just past a block boundary (by 10^-20, say) still
    /// opens a new block with `up`, which a rounded division could miss.
    pub(crate) fn blocks(&self, quantity: Decimal) -> Result<Decimal, PricingError> {
        let rest = quantity
            .checked_rem(self.size)
            .ok_or(PricingError::Overflow)?;
        // `quantity - rest` is an exact multiple of the size; rounding only guards
        // against a last-digit artefact of the division.
        let whole = arith::div(arith::sub(quantity, rest)?, self.size)?.round();
        match self.rounding {
            PackageRounding::Up if !rest.is_zero() => arith::add(whole, Decimal::ONE),
            _ => Ok(whole),
        }
    }
}
