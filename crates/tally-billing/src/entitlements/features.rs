//! Features: create, read, list and patch (docs/entitlements.md, "Features").

use tally_aggregate::Aggregator;
use tally_store::{
    AccountId, AggregatorFilterId, AggregatorId, Feature, FeatureValue, FeatureValueType, Page,
    ResolutionStrategy, StoreError,
};

use super::values::check_value;
use crate::catalog::check_name;
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::Pagination;
use crate::service::{Billing, compile_stored};

/// Longest feature code accepted.
pub const MAX_FEATURE_CODE_CHARS: usize = 100;
/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

/// A feature as created (`POST /v1/features`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = FeatureRequest, example = json!({"code": "api_calls", "name": "API calls", "value_type": "number", "default_value": 1000, "resolution_strategy": "maximum", "aggregator_id": "agg_…"})))]
#[serde(deny_unknown_fields)]
pub struct FeatureInput {
    /// Required: `^[a-z0-9][a-z0-9_-]*$`, 1 to 100 characters, unique in the
    /// account; never changes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::FeatureCode, required = true))]
    pub code: Option<String>,
    /// Required: non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::NameText, required = true))]
    pub name: Option<String>,
    /// At most 1 000 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::DescriptionText>))]
    pub description: Option<String>,
    /// Required: `boolean` or `number`; never changes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::FeatureValueKind, required = true))]
    pub value_type: Option<String>,
    /// The value of a customer nothing grants the feature to: `false` or `0`
    /// when absent; `null` is unlimited (numbers only).
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::FeatureValueInput>))]
    pub default_value: Option<serde_json::Value>,
    /// How several products' values combine, numbers only: `maximum`
    /// (default) or `sum`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Resolution>))]
    pub resolution_strategy: Option<String>,
    /// Numbers only: makes the value a usage limit per billing period, usage
    /// being this aggregator's quantity.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::IdText>))]
    pub aggregator_id: Option<String>,
    /// Narrows the usage to one filter of the aggregator.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::IdText>))]
    pub aggregator_filter_id: Option<String>,
    /// Usage limits only: thresholds in percent of the customer's limit
    /// (`[80, 100]`), each above 0 and at most 1 000, at most 10.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schema::PercentThreshold>>, max_items = 10))]
    pub threshold_percents: Option<Vec<serde_json::Value>>,
}

/// A change to a feature (`PATCH /v1/features/{code}`): an absent field is
/// kept, `null` clears an optional one (`default_value: null` is unlimited).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = FeaturePatchRequest, example = json!({"default_value": 5000})))]
#[serde(deny_unknown_fields)]
pub struct FeaturePatch {
    /// Non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>))]
    pub name: Option<String>,
    /// At most 1 000 characters; `null` clears it.
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::DescriptionText>))]
    pub description: Option<serde_json::Value>,
    /// Of the feature's type; `null` is unlimited (numbers only).
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::FeatureValueInput>))]
    pub default_value: Option<serde_json::Value>,
    /// `maximum` or `sum`, numbers only; `null` puts the default back
    /// (`maximum`).
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::Resolution>))]
    pub resolution_strategy: Option<serde_json::Value>,
    /// `null` makes the feature a plain number again.
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::IdText>))]
    pub aggregator_id: Option<serde_json::Value>,
    /// `null`: every event of the aggregator.
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::IdText>))]
    pub aggregator_filter_id: Option<serde_json::Value>,
    /// Replaces the thresholds in percent of the limit; `[]` removes them.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::schema::PercentThreshold>>, max_items = 10))]
    pub threshold_percents: Option<Vec<serde_json::Value>>,
    /// Refused, even `null`: a feature's code never changes.
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub code: Option<serde_json::Value>,
    /// Refused, even `null`: a feature's value type never changes.
    #[serde(default, deserialize_with = "crate::input::present_value")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub value_type: Option<serde_json::Value>,
}

impl Billing {
    /// Creates a feature. `Invalid` lists every problem (a missing aggregator
    /// or filter is a not-found problem); `Taken` when the code exists.
    pub async fn create_feature(
        &self,
        account: &AccountId,
        input: &FeatureInput,
    ) -> BillingResult<Feature> {
        let mut problems = Problems::default();
        let code = check_code(input.code.as_deref(), &mut problems);
        check_name(input.name.as_deref(), "/name", &mut problems);
        check_description(input.description.as_deref(), &mut problems);
        let value_type = match input.value_type.as_deref() {
            None => {
                problems.push("/value_type", "required", "this field is required");
                None
            }
            Some(text) => FeatureValueType::parse(text).or_else(|| {
                problems.push(
                    "/value_type",
                    "invalid_value",
                    "value_type must be boolean or number",
                );
                None
            }),
        };
        let default_value = value_type.and_then(|value_type| match &input.default_value {
            None => Some(zero(value_type)),
            Some(value) => check_value(value_type, value, "/default_value", &mut problems),
        });
        let strategy = value_type.and_then(|value_type| {
            resolution(
                value_type,
                input.resolution_strategy.as_deref(),
                &mut problems,
            )
        });
        let usage = self
            .usage_source(
                account,
                value_type,
                input.aggregator_id.as_deref(),
                input.aggregator_filter_id.as_deref(),
                &mut problems,
            )
            .await?;
        let percents = check_percents(
            input.threshold_percents.as_deref(),
            usage.0.is_some(),
            &mut problems,
        );
        let now = self.now();
        let feature = match (code, value_type, default_value, &input.name) {
            (Some(code), Some(value_type), Some(default_value), Some(name)) => Some(Feature {
                code,
                name: name.clone(),
                description: input.description.clone(),
                value_type,
                default_value,
                resolution_strategy: strategy,
                aggregator_id: usage.0,
                aggregator_filter_id: usage.1,
                threshold_percents: percents,
                created_at: now,
                updated_at: now,
            }),
            _ => None,
        };
        let feature = problems.finish_with(feature)?;
        let created = match self.store.create_feature(account, &feature).await {
            Err(StoreError::Conflict { .. }) => Err(BillingError::Taken {
                what: "feature",
                path: "/code".to_owned(),
                message: format!("a feature with code `{}` already exists", feature.code),
            }),
            created => Ok(created?),
        }?;
        self.thresholds_changed(account).await;
        Ok(created)
    }

    /// The feature with this code; `NotFound` (`feature`) otherwise.
    pub async fn get_feature(&self, account: &AccountId, code: &str) -> BillingResult<Feature> {
        Ok(self.store.get_feature(account, code).await?)
    }

    /// The account's features, oldest first.
    pub async fn list_features(
        &self,
        account: &AccountId,
        page: Pagination,
    ) -> BillingResult<Page<Feature>> {
        let page = page.to_page_request()?;
        Ok(self.store.list_features(account, page).await?)
    }

    /// Applies a patch: every given field is checked as on create, against
    /// the feature's value type.
    pub async fn update_feature(
        &self,
        account: &AccountId,
        code: &str,
        patch: &FeaturePatch,
    ) -> BillingResult<Feature> {
        let current = self.store.get_feature(account, code).await?;
        let mut problems = Problems::default();
        if patch.code.is_some() {
            problems.push("/code", "immutable", "a feature's code never changes");
        }
        if patch.value_type.is_some() {
            problems.push(
                "/value_type",
                "immutable",
                "a feature's value type never changes",
            );
        }
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            check_name(Some(name), "/name", &mut problems);
            next.name = name.clone();
        }
        if let Some(description) = &patch.description {
            next.description = nullable_text(description, "/description", &mut problems);
            check_description(next.description.as_deref(), &mut problems);
        }
        if let Some(value) = &patch.default_value {
            let checked = check_value(current.value_type, value, "/default_value", &mut problems);
            next.default_value = checked.unwrap_or(current.default_value);
        }
        match &patch.resolution_strategy {
            None => {}
            Some(serde_json::Value::Null) => {
                next.resolution_strategy = resolution(current.value_type, None, &mut problems);
            }
            Some(serde_json::Value::String(text)) => {
                next.resolution_strategy =
                    resolution(current.value_type, Some(text), &mut problems);
            }
            Some(_) => problems.push(
                "/resolution_strategy",
                "invalid_type",
                "must be maximum, sum or null",
            ),
        }
        let aggregator = match &patch.aggregator_id {
            None => current.aggregator_id.as_ref().map(|id| id.to_string()),
            Some(value) => nullable_text(value, "/aggregator_id", &mut problems),
        };
        let filter = match (&patch.aggregator_filter_id, &patch.aggregator_id) {
            (Some(value), _) => nullable_text(value, "/aggregator_filter_id", &mut problems),
            // A new aggregator does not keep the old one's filter.
            (None, Some(_)) => None,
            (None, None) => current
                .aggregator_filter_id
                .as_ref()
                .map(|id| id.to_string()),
        };
        let (aggregator_id, aggregator_filter_id) = self
            .usage_source(
                account,
                Some(current.value_type),
                aggregator.as_deref(),
                filter.as_deref(),
                &mut problems,
            )
            .await?;
        next.threshold_percents = match &patch.threshold_percents {
            Some(given) => check_percents(Some(given), aggregator_id.is_some(), &mut problems),
            // Kept while the feature stays a usage limit; a plain number has none.
            None if aggregator_id.is_some() => current.threshold_percents.clone(),
            None => Vec::new(),
        };
        next.aggregator_id = aggregator_id;
        next.aggregator_filter_id = aggregator_filter_id;
        problems.finish()?;
        next.updated_at = self.now();
        let updated = self.store.update_feature(account, &next).await?;
        self.thresholds_changed(account).await;
        Ok(updated)
    }

    /// The aggregator (and filter) a usage limit reads, checked: numbers
    /// only, an aggregator and a filter of it that exist. An unknown
    /// aggregator or filter is a not-found problem.
    async fn usage_source(
        &self,
        account: &AccountId,
        value_type: Option<FeatureValueType>,
        aggregator: Option<&str>,
        filter: Option<&str>,
        problems: &mut Problems,
    ) -> BillingResult<(Option<AggregatorId>, Option<AggregatorFilterId>)> {
        let Some(aggregator) = aggregator else {
            if filter.is_some() {
                problems.push(
                    "/aggregator_filter_id",
                    "requires_aggregator",
                    "a filter needs the aggregator_id it belongs to",
                );
            }
            return Ok((None, None));
        };
        if value_type == Some(FeatureValueType::Boolean) {
            problems.push(
                "/aggregator_id",
                "not_for_boolean",
                "only a number feature can be a usage limit",
            );
            return Ok((None, None));
        }
        let Some(compiled) = self.find_aggregator(account, aggregator).await? else {
            problems.push(
                "/aggregator_id",
                "aggregator_not_found",
                "no aggregator has this id",
            );
            return Ok((None, None));
        };
        let aggregator_id = AggregatorId::parse(aggregator).ok();
        let filter_id = match filter {
            None => None,
            Some(id) => match self.checked_filter(account, &compiled, Some(id)).await {
                Ok(_) => AggregatorFilterId::parse(id).ok(),
                Err(BillingError::Invalid(found)) => {
                    problems.extend(found);
                    None
                }
                Err(other) => return Err(other),
            },
        };
        Ok((aggregator_id, filter_id))
    }

    /// The compiled aggregator with this id, `None` when there is none.
    async fn find_aggregator(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<Option<Aggregator>> {
        let Ok(id) = AggregatorId::parse(id) else {
            return Ok(None);
        };
        match self.store.get_aggregator(account, &id).await {
            Ok(record) => Ok(Some(compile_stored(&record)?)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

/// `false` or `0`: what a feature is worth when nothing grants it.
fn zero(value_type: FeatureValueType) -> FeatureValue {
    match value_type {
        FeatureValueType::Boolean => FeatureValue::Boolean(false),
        FeatureValueType::Number => FeatureValue::Number(rust_decimal::Decimal::ZERO),
    }
}

fn check_code(code: Option<&str>, problems: &mut Problems) -> Option<String> {
    let Some(code) = code else {
        problems.push("/code", "required", "this field is required");
        return None;
    };
    let mut chars = code.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !first_ok || !rest_ok || code.len() > MAX_FEATURE_CODE_CHARS {
        problems.push(
            "/code",
            "invalid_code",
            "a code is 1 to 100 of a-z, 0-9, `_` and `-`, starting with a letter or a digit",
        );
        return None;
    }
    Some(code.to_owned())
}

/// At most this many thresholds per usage limit.
pub const MAX_THRESHOLD_PERCENTS: usize = 10;

/// Thresholds in percent of a usage limit: only on a limit, each above 0 and
/// at most 1 000, distinct; kept ascending.
fn check_percents(
    percents: Option<&[serde_json::Value]>,
    is_limit: bool,
    problems: &mut Problems,
) -> Vec<rust_decimal::Decimal> {
    let Some(percents) = percents.filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    if !is_limit {
        problems.push(
            "/threshold_percents",
            "requires_aggregator",
            "only a usage limit (a number feature with an aggregator_id) has thresholds",
        );
        return Vec::new();
    }
    if percents.len() > MAX_THRESHOLD_PERCENTS {
        problems.push(
            "/threshold_percents",
            "too_many",
            "at most 10 thresholds per usage limit",
        );
        return Vec::new();
    }
    let mut checked = Vec::with_capacity(percents.len());
    for (index, value) in percents.iter().enumerate() {
        let path = format!("/threshold_percents/{index}");
        // Numbers only, as the OpenAPI document says.
        let number = match value {
            serde_json::Value::Number(_) => super::values::json_decimal(value),
            _ => None,
        };
        match number {
            None => problems.push(&path, "invalid_number", "a percent is a number"),
            Some(p)
                if p <= rust_decimal::Decimal::ZERO || p > rust_decimal::Decimal::from(1000) =>
            {
                problems.push(
                    &path,
                    "out_of_range",
                    "a percent is above 0 and at most 1000",
                )
            }
            Some(p) if checked.contains(&p.normalize()) => {
                problems.push(&path, "duplicate_threshold", "this percent is listed twice")
            }
            Some(p) => checked.push(p.normalize()),
        }
    }
    checked.sort();
    checked
}

fn check_description(description: Option<&str>, problems: &mut Problems) {
    let Some(text) = description else {
        return;
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        problems.push(
            "/description",
            "too_long",
            "must be at most 1000 characters",
        );
    } else if text.contains('\0') {
        problems.push(
            "/description",
            "invalid_characters",
            "must not contain the NUL character (U+0000)",
        );
    }
}

fn resolution(
    value_type: FeatureValueType,
    text: Option<&str>,
    problems: &mut Problems,
) -> Option<ResolutionStrategy> {
    match (value_type, text) {
        (FeatureValueType::Boolean, None) => None,
        (FeatureValueType::Boolean, Some(_)) => {
            problems.push(
                "/resolution_strategy",
                "not_for_boolean",
                "a boolean feature is on when any product turns it on",
            );
            None
        }
        (FeatureValueType::Number, None) => Some(ResolutionStrategy::Maximum),
        (FeatureValueType::Number, Some(text)) => ResolutionStrategy::parse(text).or_else(|| {
            problems.push(
                "/resolution_strategy",
                "invalid_value",
                "resolution_strategy must be maximum or sum",
            );
            None
        }),
    }
}

/// A text field that `null` clears.
fn nullable_text(value: &serde_json::Value, path: &str, problems: &mut Problems) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        _ => {
            problems.push(path, "invalid_type", "must be a string or null");
            None
        }
    }
}
