//! Price models: the serde definition and the validated form built from it.

mod def;
mod package;
mod percentage;
mod tiers;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{PricingError, ProblemCode, Problems};

pub use def::{PackageRounding, PriceModelDef, TierDef};
pub use package::Package;
pub use percentage::Percentage;
pub(crate) use tiers::Segment;
pub use tiers::{MAX_TIERS, Tier, Tiers};

/// A validated price model. The only way to get one is [`PriceModel::parse`] (or
/// `TryFrom<PriceModelDef>`, or deserializing, which validates too), so pricing
/// never re-checks tiers, signs or sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PriceModelDef", into = "PriceModelDef")]
pub struct PriceModel(pub(crate) Model);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Model {
    Flat { amount: Decimal },
    PerUnit { unit_amount: Decimal },
    Package(Package),
    Graduated(Tiers),
    Volume(Tiers),
    Percentage(Percentage),
}

/// The kind of a price model, as its `type` tag spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    /// `flat`: a fixed amount per period.
    Flat,
    /// `per_unit`: a price per unit.
    PerUnit,
    /// `package`: a price per block of units.
    Package,
    /// `graduated`: each unit priced by its tier.
    Graduated,
    /// `volume`: every unit priced by the tier the total reaches.
    Volume,
    /// `percentage`: a fee per event, from each event's value.
    Percentage,
}

impl ModelType {
    /// The `type` tag: `flat`, `per_unit`, `package`, `graduated`, `volume`,
    /// `percentage`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Flat => "flat",
            ModelType::PerUnit => "per_unit",
            ModelType::Package => "package",
            ModelType::Graduated => "graduated",
            ModelType::Volume => "volume",
            ModelType::Percentage => "percentage",
        }
    }
}

impl PriceModel {
    /// Validates a definition, reporting every problem with its JSON pointer
    /// (relative to the price object, e.g. `/tiers/1/up_to`) and code.
    ///
    /// # Errors
    ///
    /// [`PricingError::Invalid`] listing every [`Problem`](crate::Problem).
    ///
    /// # Examples
    ///
    /// ```
    /// use tally_pricing::{PriceModel, PriceModelDef, ProblemCode};
    ///
    /// let def: PriceModelDef = serde_json::from_str(
    ///     r#"{"type": "graduated", "tiers": [
    ///           {"up_to": "1000", "unit_amount": "2"},
    ///           {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]}"#,
    /// )
    /// .unwrap();
    /// let model = PriceModel::parse(&def).unwrap();
    /// assert_eq!(model.tiers().map(|tiers| tiers.len()), Some(2));
    ///
    /// // A negative price, and a bounded last tier that would leave larger quantities unpriced.
    /// let def: PriceModelDef = serde_json::from_str(
    ///     r#"{"type": "volume", "tiers": [
    ///           {"up_to": "1000", "unit_amount": "2"},
    ///           {"up_to": "500", "unit_amount": "-1"}]}"#,
    /// )
    /// .unwrap();
    /// let error = PriceModel::parse(&def).unwrap_err();
    /// let problems: Vec<_> = error.problems().iter().map(|p| (p.path.as_str(), p.code)).collect();
    /// assert_eq!(
    ///     problems,
    ///     [
    ///         ("/tiers/1/unit_amount", ProblemCode::NegativeAmount),
    ///         ("/tiers/1/up_to", ProblemCode::LastTierMustBeOpen),
    ///     ]
    /// );
    /// ```
    pub fn parse(def: &PriceModelDef) -> Result<PriceModel, PricingError> {
        let mut problems = Problems::default();
        let model = match def {
            PriceModelDef::Flat { amount } => {
                non_negative(*amount, "/amount", &mut problems);
                Some(Model::Flat { amount: *amount })
            }
            PriceModelDef::PerUnit { unit_amount } => {
                non_negative(*unit_amount, "/unit_amount", &mut problems);
                Some(Model::PerUnit {
                    unit_amount: *unit_amount,
                })
            }
            PriceModelDef::Package { .. } => Package::parse(def, &mut problems).map(Model::Package),
            PriceModelDef::Graduated { tiers } => {
                Tiers::parse(tiers, &mut problems).map(Model::Graduated)
            }
            PriceModelDef::Volume { tiers } => {
                Tiers::parse(tiers, &mut problems).map(Model::Volume)
            }
            PriceModelDef::Percentage { .. } => {
                Percentage::parse(def, &mut problems).map(Model::Percentage)
            }
        };
        problems.finish_some(model.map(PriceModel))
    }

    /// The definition this model was built from (what a store persists).
    pub fn def(&self) -> PriceModelDef {
        match &self.0 {
            Model::Flat { amount } => PriceModelDef::Flat { amount: *amount },
            Model::PerUnit { unit_amount } => PriceModelDef::PerUnit {
                unit_amount: *unit_amount,
            },
            Model::Package(package) => package.def(),
            Model::Graduated(tiers) => PriceModelDef::Graduated {
                tiers: tiers.to_defs(),
            },
            Model::Volume(tiers) => PriceModelDef::Volume {
                tiers: tiers.to_defs(),
            },
            Model::Percentage(percentage) => percentage.def(),
        }
    }

    /// Which of the six models this is.
    pub fn model_type(&self) -> ModelType {
        match &self.0 {
            Model::Flat { .. } => ModelType::Flat,
            Model::PerUnit { .. } => ModelType::PerUnit,
            Model::Package(_) => ModelType::Package,
            Model::Graduated(_) => ModelType::Graduated,
            Model::Volume(_) => ModelType::Volume,
            Model::Percentage(_) => ModelType::Percentage,
        }
    }

    /// For a percentage model, the record property whose per-event values it
    /// prices; `None` for models priced from an aggregated quantity.
    pub fn percentage_property(&self) -> Option<&str> {
        match &self.0 {
            Model::Percentage(percentage) => Some(percentage.property()),
            _ => None,
        }
    }

    /// The tiers of a graduated or volume model.
    pub fn tiers(&self) -> Option<&Tiers> {
        match &self.0 {
            Model::Graduated(tiers) | Model::Volume(tiers) => Some(tiers),
            _ => None,
        }
    }
}

impl TryFrom<PriceModelDef> for PriceModel {
    type Error = PricingError;

    fn try_from(def: PriceModelDef) -> Result<Self, Self::Error> {
        PriceModel::parse(&def)
    }
}

impl From<PriceModel> for PriceModelDef {
    fn from(model: PriceModel) -> Self {
        model.def()
    }
}

pub(crate) fn is_negative(value: Decimal) -> bool {
    value.is_sign_negative() && !value.is_zero()
}

pub(crate) fn non_negative(value: Decimal, path: &str, problems: &mut Problems) {
    if is_negative(value) {
        problems.push(path, ProblemCode::NegativeAmount);
    }
}
