//! Products (`itm_…`) and their price groups (`grp_…`).

use rust_decimal::Decimal;
use tally_aggregate::Aggregator;
use tally_event::Timestamp;
use tally_pricing::{ModelType, PriceModel, PriceModelDef, ProductBounds};
use tally_store::{
    AccountId, AggregatorFilterId, AggregatorId, Page, PriceGroup, PriceGroupId, Product,
    ProductId, ProductKind,
};

use super::price_versions::{price_versions, same_prices, version_of};
use super::{check_currency, check_name};
use crate::error::{BillingError, BillingResult, Problems, from_pricing_problem};
use crate::input::{Pagination, date_message};
use crate::service::Billing;

/// A product as created or replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ProductRequest, example = json!({"name": "API calls", "type": "usage", "aggregator_id": "agg_…", "currency": "EUR", "min_amount": null, "max_amount": "100000", "price_groups": [{"name": "all", "price": {"type": "per_unit", "unit_amount": "2"}}]})))]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Required: non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::NameText, required = true))]
    pub name: Option<String>,
    /// `usage` (priced from an aggregator) or `fee` (flat, no aggregator).
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ProductType, required = true))]
    pub kind: Option<String>,
    /// Required for `usage`, refused for `fee`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::IdText>))]
    pub aggregator_id: Option<String>,
    /// Required: an ISO 4217 code; every price is in its minor unit.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::CurrencyCode, required = true))]
    pub currency: Option<String>,
    /// Whole minor units per period, JSON strings or numbers.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::AmountInput>))]
    pub min_amount: Option<Decimal>,
    /// Whole minor units per period: the product's total is capped to it by a
    /// `maximum_adjustment` line; at least `min_amount`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::AmountInput>))]
    pub max_amount: Option<Decimal>,
    /// At least one; each usage price group may bill one filter of the aggregator.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, required = true))]
    pub price_groups: Vec<PriceGroupInput>,
    /// Update only: from when changed prices price periods (by their start),
    /// in the forms events accept; default now. Ignored when the prices do
    /// not change; refused on create (the first version is in effect since
    /// always).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::TimestampParam>))]
    pub effective_from: Option<String>,
}

/// One price group. `price` is a price model definition (`{"type": "volume",
/// "tiers": […]}`), validated by `tally-pricing`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PriceGroupRequest))]
#[serde(deny_unknown_fields)]
pub struct PriceGroupInput {
    /// On update, the id of a group of this product to keep; ignored on create.
    #[serde(default)]
    pub id: Option<String>,
    /// Required: non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::NameText, required = true))]
    pub name: Option<String>,
    /// A filter of the product's aggregator (`agf_…`).
    #[serde(default)]
    pub aggregator_filter_id: Option<String>,
    /// The price model as JSON; its problems are reported under `/price_groups/{i}/price`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = tally_pricing::PriceModelDef, required = true, example = json!({"type": "volume", "tiers": [{"up_to": "1000", "unit_amount": "2", "flat_amount": "0"}, {"up_to": null, "unit_amount": "1.5", "flat_amount": "500"}]})))]
    pub price: serde_json::Value,
}

impl Billing {
    /// Creates a product and its price groups (fresh `grp_` ids). `Invalid` lists every
    /// problem, prices included; `NotFound` is never returned: an unknown aggregator is
    /// `Invalid` (`/aggregator_id`).
    pub async fn create_product(
        &self,
        account: &AccountId,
        input: &ProductInput,
    ) -> BillingResult<Product> {
        if input.effective_from.is_some() {
            let mut problems = Problems::default();
            problems.push(
                "/effective_from",
                "unexpected_effective_from",
                "a new product's prices are in effect since always: set effective_from when changing them",
            );
            problems.finish()?;
        }
        let aggregator = self.product_aggregator(account, input).await?;
        let id = self.ids.with(ProductId::generate);
        let now = self.now();
        let mut product = self.build_product(id, input, aggregator.as_ref(), None, now)?;
        product.price_versions = vec![version_of(&product, 1, None, now)];
        Ok(self.store.create_product(account, &product).await?)
    }

    /// The product with this id; `NotFound` for an unknown id or one that does not parse.
    pub async fn get_product(&self, account: &AccountId, id: &str) -> BillingResult<Product> {
        let id = ProductId::parse(id).map_err(|_| BillingError::not_found("product"))?;
        Ok(self.store.get_product(account, &id).await?)
    }

    /// The account's products, oldest first. `Invalid` for an out-of-range page.
    pub async fn list_products(
        &self,
        account: &AccountId,
        page: Pagination,
    ) -> BillingResult<Page<Product>> {
        Ok(self
            .store
            .list_products(account, page.to_page_request()?)
            .await?)
    }

    /// Replaces the product; groups sent with the `id` of one of its groups
    /// keep it, and a group sent without an id under the name of an existing
    /// one is refused (`/price_groups/{i}/id`: `price_group_id_missing`), so
    /// a group never loses its id by mistake. Changed prices (groups or
    /// bounds) become a new price version, effective from `effective_from`
    /// (default now). Its currency, type and aggregator cannot change while a
    /// subscription uses it (`Conflict`); a product no subscription uses that
    /// changes type or aggregator starts its prices over (one version, since
    /// always).
    pub async fn update_product(
        &self,
        account: &AccountId,
        id: &str,
        input: &ProductInput,
    ) -> BillingResult<Product> {
        let current = self.get_product(account, id).await?;
        let now = self.now();
        let mut problems = Problems::default();
        let effective_from = match input.effective_from.as_deref() {
            None => now,
            Some(text) => Timestamp::parse_input(text).unwrap_or_else(|error| {
                problems.push("/effective_from", error.code(), date_message(&error));
                now
            }),
        };
        for (index, group) in input.price_groups.iter().enumerate() {
            if group.id.is_some() {
                continue;
            }
            let named = group.name.as_deref().map(str::trim);
            if let Some(existing) = current
                .price_groups
                .iter()
                .find(|g| Some(g.name.as_str()) == named)
            {
                problems.push(
                    format!("/price_groups/{index}/id"),
                    "price_group_id_missing",
                    format!(
                        "price group `{}` exists as {}: send its id to change it (a new group needs another name)",
                        existing.name, existing.id
                    ),
                );
            }
        }
        problems.finish()?;
        let aggregator = self.product_aggregator(account, input).await?;
        let mut product = self.build_product(
            current.id.clone(),
            input,
            aggregator.as_ref(),
            Some(&current),
            current.created_at,
        )?;
        // Another type or aggregator makes the older prices meaningless (their
        // filters belong to the old aggregator): allowed only while no
        // subscription uses the product, and the prices start over.
        let reshaped =
            product.kind != current.kind || product.aggregator_id != current.aggregator_id;
        if product.currency != current.currency || reshaped {
            let subscriptions = self.all_subscriptions(account, None).await?;
            if let Some(subscription) = subscriptions
                .iter()
                .find(|s| s.product_ids.contains(&product.id))
            {
                return Err(BillingError::conflict(
                    "product",
                    format!(
                        "subscription {} uses this product: its currency, type and aggregator are fixed",
                        subscription.id
                    ),
                ));
            }
        }
        let versions = if reshaped {
            vec![version_of(&product, 1, None, now)]
        } else {
            let mut versions = price_versions(&current);
            let latest = versions.iter().map(|v| v.version).max().unwrap_or(0);
            let candidate = version_of(&product, latest + 1, Some(effective_from), now);
            let unchanged = versions
                .iter()
                .find(|v| v.version == latest)
                .is_some_and(|v| same_prices(v, &candidate));
            if !unchanged {
                versions.push(candidate);
            }
            versions
        };
        product.price_versions = versions;
        Ok(self.store.update_product(account, &product).await?)
    }

    /// Deletes a product no subscription uses (`Conflict` otherwise).
    pub async fn delete_product(&self, account: &AccountId, id: &str) -> BillingResult<()> {
        let product = self.get_product(account, id).await?;
        let subscriptions = self.all_subscriptions(account, None).await?;
        if let Some(subscription) = subscriptions
            .iter()
            .find(|s| s.product_ids.contains(&product.id))
        {
            return Err(BillingError::conflict(
                "product",
                format!("subscription {} uses this product", subscription.id),
            ));
        }
        Ok(self.store.delete_product(account, &product.id).await?)
    }

    /// The aggregator a usage product names, `None` when it names none or one
    /// that does not exist (reported by `build_product`).
    async fn product_aggregator(
        &self,
        account: &AccountId,
        input: &ProductInput,
    ) -> BillingResult<Option<(AggregatorId, Aggregator)>> {
        let Some(id) = input.aggregator_id.as_deref() else {
            return Ok(None);
        };
        match self.load_aggregator(account, id).await {
            Ok((record, compiled)) => Ok(Some((record.id, compiled))),
            Err(BillingError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn build_product(
        &self,
        id: ProductId,
        input: &ProductInput,
        aggregator: Option<&(AggregatorId, Aggregator)>,
        current: Option<&Product>,
        created_at: tally_event::Timestamp,
    ) -> BillingResult<Product> {
        let mut problems = Problems::default();
        check_name(input.name.as_deref(), "/name", &mut problems);
        let kind = product_kind(input, aggregator.is_some(), &mut problems);
        let currency = match input.currency.as_deref() {
            Some(code) => check_currency(code, "/currency", &mut problems),
            None => {
                problems.push("/currency", "required", "this field is required");
                None
            }
        };
        let bounds = match ProductBounds::parse(input.min_amount, input.max_amount) {
            Ok(bounds) => Some(bounds),
            Err(error) => {
                problems.extend(error.problems().iter().map(from_pricing_problem));
                None
            }
        };
        if input.price_groups.is_empty() {
            problems.push(
                "/price_groups",
                "required",
                "a product needs at least one price group",
            );
        }
        let compiled = aggregator.map(|(_, compiled)| compiled);
        let fresh: Vec<PriceGroupId> = self.ids.with(|rng| {
            (0..input.price_groups.len())
                .map(|_| PriceGroupId::generate(rng))
                .collect()
        });
        let groups: Vec<Option<PriceGroup>> = input
            .price_groups
            .iter()
            .zip(fresh)
            .enumerate()
            .map(|(index, (group, fresh))| {
                price_group(index, group, kind, compiled, current, fresh, &mut problems)
            })
            .collect();
        problems.finish()?;
        let (Some(currency), Some(bounds)) = (currency, bounds) else {
            // Each pushed a problem when it is missing, which `finish` returned.
            return Err(BillingError::invalid(
                "/currency",
                "required",
                "this field is required",
            ));
        };
        Ok(Product {
            id,
            name: input.name.clone().unwrap_or_default(),
            kind: kind.unwrap_or(ProductKind::Fee),
            aggregator_id: aggregator.map(|(id, _)| id.clone()),
            currency,
            bounds,
            price_groups: groups.into_iter().flatten().collect(),
            price_versions: Vec::new(),
            created_at,
        })
    }
}

fn product_kind(
    input: &ProductInput,
    aggregator_found: bool,
    problems: &mut Problems,
) -> Option<ProductKind> {
    let kind = match input.kind.as_deref() {
        None => {
            problems.push("/type", "required", "this field is required");
            return None;
        }
        Some(text) => ProductKind::parse(text),
    };
    match (kind, &input.aggregator_id) {
        (None, _) => problems.push("/type", "invalid_value", "type must be usage or fee"),
        (Some(ProductKind::Usage), None) => problems.push(
            "/aggregator_id",
            "required",
            "a usage product needs an aggregator",
        ),
        (Some(ProductKind::Usage), Some(_)) if !aggregator_found => problems.push(
            "/aggregator_id",
            "aggregator_not_found",
            "no aggregator has this id",
        ),
        (Some(ProductKind::Fee), Some(_)) => problems.push(
            "/aggregator_id",
            "unexpected_aggregator",
            "a fee product has no aggregator",
        ),
        _ => {}
    }
    kind
}

fn price_group(
    index: usize,
    input: &PriceGroupInput,
    kind: Option<ProductKind>,
    aggregator: Option<&Aggregator>,
    current: Option<&Product>,
    fresh: PriceGroupId,
    problems: &mut Problems,
) -> Option<PriceGroup> {
    let base = format!("/price_groups/{index}");
    check_name(input.name.as_deref(), &format!("{base}/name"), problems);
    let id = group_id(input.id.as_deref(), current, fresh, &base, problems);
    let filter = group_filter(input, kind, aggregator, &base, problems);
    let model = price_model(&input.price, &format!("{base}/price"), problems)?;
    if kind == Some(ProductKind::Fee) && model.model_type() == ModelType::Percentage {
        problems.push(
            format!("{base}/price/type"),
            "percentage_needs_usage",
            "a percentage price needs events: use a usage product",
        );
    }
    Some(PriceGroup {
        id: id?,
        name: input.name.clone().unwrap_or_default(),
        aggregator_filter_id: filter,
        price: model,
    })
}

/// Create: always fresh. Update: a sent id must be one of the product's groups.
fn group_id(
    sent: Option<&str>,
    current: Option<&Product>,
    fresh: PriceGroupId,
    base: &str,
    problems: &mut Problems,
) -> Option<PriceGroupId> {
    let (Some(sent), Some(current)) = (sent, current) else {
        return Some(fresh);
    };
    let known = current
        .price_groups
        .iter()
        .find(|group| group.id.as_str() == sent);
    if known.is_none() {
        problems.push(
            format!("{base}/id"),
            "unknown_price_group",
            "not a price group of this product: omit the id to create one",
        );
    }
    known.map(|group| group.id.clone())
}

fn group_filter(
    input: &PriceGroupInput,
    kind: Option<ProductKind>,
    aggregator: Option<&Aggregator>,
    base: &str,
    problems: &mut Problems,
) -> Option<AggregatorFilterId> {
    let sent = input.aggregator_filter_id.as_deref()?;
    let path = format!("{base}/aggregator_filter_id");
    if kind == Some(ProductKind::Fee) {
        problems.push(
            path,
            "unexpected_filter",
            "a fee product has no aggregator filter",
        );
        return None;
    }
    let belongs = aggregator.is_some_and(|aggregator| aggregator.filter(sent).is_some());
    match AggregatorFilterId::parse(sent) {
        Ok(id) if belongs => Some(id),
        _ => {
            // Without a valid aggregator the filter cannot be checked; the
            // aggregator's own problem is reported instead.
            if aggregator.is_some() {
                problems.push(
                    path,
                    "unknown_filter",
                    "not a filter of the product's aggregator",
                );
            }
            None
        }
    }
}

fn price_model(
    json: &serde_json::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<PriceModel> {
    if json.is_null() {
        problems.push(path, "required", "this field is required");
        return None;
    }
    let def: PriceModelDef = match serde_json::from_value(json.clone()) {
        Ok(def) => def,
        Err(error) => {
            problems.push(path, "invalid_price", error.to_string());
            return None;
        }
    };
    match PriceModel::parse(&def) {
        Ok(model) => Some(model),
        Err(error) => {
            problems.extend(
                error
                    .problems()
                    .iter()
                    .map(|p| from_pricing_problem(p).under(path)),
            );
            None
        }
    }
}
