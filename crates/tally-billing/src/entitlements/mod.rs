//! Features, entitlements and usage limits (docs/entitlements.md): what a customer
//! may use, resolved from its subscriptions' products and its own overrides,
//! and checked against live usage read from rollups.

pub(crate) mod check;
mod features;
mod grants;
pub(crate) mod resolve;
mod values;

pub use check::LimitCheck;
pub use features::{
    FeatureInput, FeaturePatch, MAX_DESCRIPTION_CHARS, MAX_FEATURE_CODE_CHARS,
    MAX_THRESHOLD_PERCENTS,
};
pub use grants::{CustomerEntitlementInput, EntitlementInput};
pub use resolve::{CustomerFeatures, EntitlementSource, ResolvedFeature};
pub use values::{MAX_FEATURE_NUMBER, value_to_json};
