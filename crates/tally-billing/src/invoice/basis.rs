//! What prices an invoice: its products (price groups, bounds), their
//! aggregators' definitions and the tax rate (docs/billing.md,
//! "Finalization").
//!
//! A draft reads the live catalog on every read. Finalizing stores a
//! snapshot of it, the [`InvoiceBasis`], beside the ingestion sequence the
//! lines were read at, so the invoice's consumption, CSV and ZIP are priced
//! by exactly what priced its lines, whatever is edited or deleted later.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_aggregate::AggregatorDef;
use tally_event::{EventType, Timestamp};
use tally_pricing::{Currency, ProductBounds, TaxRate};
use tally_store::documents::bound_columns;
use tally_store::{
    AccountId, AggregatorId, AggregatorRecord, PriceGroup, Product, ProductId, ProductKind,
    StoreError, Subscription,
};

use crate::catalog::price_versions::product_at;
use crate::error::{BillingError, BillingResult};
use crate::service::Billing;

/// A product as priced, with its aggregator's record (usage products).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedProduct {
    /// The product, its price groups and bounds.
    pub product: Product,
    /// The aggregator of a usage product, as defined when priced.
    pub aggregator: Option<AggregatorRecord>,
}

/// Everything that prices an invoice's lines, in the subscription's product order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    /// The products, a product deleted since the subscription named it left out.
    pub products: Vec<PricedProduct>,
    /// The subscription's tax rate, else the customer's, else none.
    pub tax_rate: TaxRate,
}

/// The stored snapshot of a [`Pricing`]: JSON, decimals exact. Its prices and
/// aggregator definition are typed, parsed once when the invoice is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceBasis {
    /// Percent.
    pub tax_rate: Decimal,
    /// In line order.
    pub products: Vec<BasisProduct>,
}

/// One product of an [`InvoiceBasis`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasisProduct {
    /// `itm_…`.
    pub id: String,
    /// The name its lines and exports show.
    pub name: String,
    /// `usage` or `fee`.
    pub kind: String,
    /// ISO 4217 code.
    pub currency: Currency,
    /// Minor units per period.
    pub min_amount: Option<Decimal>,
    /// Minor units per period.
    pub max_amount: Option<Decimal>,
    /// The prices, in order, stored as the product stores them.
    pub price_groups: Vec<PriceGroup>,
    /// The aggregator of a usage product.
    pub aggregator: Option<BasisAggregator>,
    /// When the product was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// The aggregator of a [`BasisProduct`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasisAggregator {
    /// `agg_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The type of the events it aggregates.
    pub event_type: String,
    /// The whole definition, filters included.
    pub definition: AggregatorDef,
    /// When the aggregator was created (UTC milliseconds).
    pub created_at: Timestamp,
}

impl From<&Pricing> for InvoiceBasis {
    fn from(pricing: &Pricing) -> Self {
        InvoiceBasis {
            tax_rate: pricing.tax_rate.percent(),
            products: pricing.products.iter().map(BasisProduct::from).collect(),
        }
    }
}

impl From<&PricedProduct> for BasisProduct {
    fn from(priced: &PricedProduct) -> Self {
        let product = &priced.product;
        let (min_amount, max_amount) = bound_columns(product.bounds);
        BasisProduct {
            id: product.id.to_string(),
            name: product.name.clone(),
            kind: product.kind.as_str().to_owned(),
            currency: product.currency,
            min_amount,
            max_amount,
            price_groups: product.price_groups.clone(),
            aggregator: priced.aggregator.as_ref().map(|record| BasisAggregator {
                id: record.id.to_string(),
                name: record.name.clone(),
                event_type: record.event_type.as_str().to_owned(),
                definition: record.definition.clone(),
                created_at: record.created_at,
            }),
            created_at: product.created_at,
        }
    }
}

impl InvoiceBasis {
    /// The pricing the snapshot holds; `Corrupt` when a stored id or rate no
    /// longer parses.
    pub fn to_pricing(&self) -> BillingResult<Pricing> {
        let tax_rate = TaxRate::new(self.tax_rate).map_err(|e| corrupt("tax rate", e))?;
        let products = self
            .products
            .iter()
            .map(BasisProduct::to_priced)
            .collect::<BillingResult<_>>()?;
        Ok(Pricing { products, tax_rate })
    }
}

impl BasisProduct {
    fn to_priced(&self) -> BillingResult<PricedProduct> {
        let kind = ProductKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?;
        let bounds = ProductBounds::parse(self.min_amount, self.max_amount)
            .map_err(|e| corrupt("bounds", e))?;
        let aggregator = self
            .aggregator
            .as_ref()
            .map(|aggregator| {
                Ok::<_, BillingError>(AggregatorRecord {
                    id: AggregatorId::parse(&aggregator.id)
                        .map_err(|e| corrupt("aggregator", e))?,
                    name: aggregator.name.clone(),
                    event_type: EventType::parse(&aggregator.event_type)
                        .map_err(|e| corrupt("event type", e))?,
                    definition: aggregator.definition.clone(),
                    created_at: aggregator.created_at,
                })
            })
            .transpose()?;
        let product = Product {
            id: ProductId::parse(&self.id).map_err(|e| corrupt("product", e))?,
            name: self.name.clone(),
            kind,
            aggregator_id: aggregator.as_ref().map(|record| record.id.clone()),
            currency: self.currency,
            bounds,
            price_groups: self.price_groups.clone(),
            // The snapshot holds the version that priced the invoice: its only one.
            price_versions: Vec::new(),
            created_at: self.created_at,
        };
        Ok(PricedProduct {
            product,
            aggregator,
        })
    }
}

/// Products and aggregators as read during one use case, each read once.
#[derive(Debug, Default)]
pub(crate) struct CatalogReads {
    products: HashMap<ProductId, Option<Product>>,
    aggregators: HashMap<AggregatorId, AggregatorRecord>,
}

impl CatalogReads {
    /// The product, `None` when it was deleted.
    async fn product(
        &mut self,
        billing: &Billing,
        account: &AccountId,
        id: &ProductId,
    ) -> BillingResult<Option<&Product>> {
        if !self.products.contains_key(id) {
            let found = match billing.store.get_product(account, id).await {
                Ok(product) => Some(product),
                Err(StoreError::NotFound { .. }) => None,
                Err(error) => return Err(error.into()),
            };
            self.products.insert(id.clone(), found);
        }
        Ok(self.products.get(id).and_then(Option::as_ref))
    }

    async fn aggregator(
        &mut self,
        billing: &Billing,
        account: &AccountId,
        id: &AggregatorId,
    ) -> BillingResult<&AggregatorRecord> {
        if !self.aggregators.contains_key(id) {
            let record = billing.store.get_aggregator(account, id).await?;
            self.aggregators.insert(id.clone(), record);
        }
        self.aggregators
            .get(id)
            .ok_or_else(|| BillingError::not_found("aggregator"))
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> BillingError {
    BillingError::Store(StoreError::Corrupt(format!(
        "invoice basis {what}: {error}"
    )))
}

impl Billing {
    /// The live pricing of a subscription's period starting at `start`: its
    /// products as stored now (one deleted since is left out) with the price
    /// version in effect at `start`, each usage product with its aggregator,
    /// and its tax rate.
    pub(crate) async fn live_pricing(
        &self,
        account: &AccountId,
        subscription: &Subscription,
        start: Timestamp,
    ) -> BillingResult<Pricing> {
        let mut catalog = CatalogReads::default();
        self.live_pricing_with(account, subscription, start, &mut catalog)
            .await
    }

    /// [`Billing::live_pricing`], reading each product and aggregator once
    /// per `catalog` (a batch of invoices shares their products).
    pub(crate) async fn live_pricing_with(
        &self,
        account: &AccountId,
        subscription: &Subscription,
        start: Timestamp,
        catalog: &mut CatalogReads,
    ) -> BillingResult<Pricing> {
        let tax_rate = self.tax_rate(account, subscription).await?;
        let mut products = Vec::with_capacity(subscription.product_ids.len());
        for product_id in &subscription.product_ids {
            let Some(stored) = catalog.product(self, account, product_id).await? else {
                continue;
            };
            let product = product_at(stored, start);
            let aggregator = match (&product.kind, &product.aggregator_id) {
                (ProductKind::Usage, Some(id)) => {
                    Some(catalog.aggregator(self, account, id).await?.clone())
                }
                _ => None,
            };
            products.push(PricedProduct {
                product,
                aggregator,
            });
        }
        Ok(Pricing { products, tax_rate })
    }

    /// The subscription's tax rate, else the customer's, else none.
    async fn tax_rate(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> BillingResult<TaxRate> {
        let percent = match subscription.tax_rate {
            Some(rate) => rate,
            None => self
                .store
                .get_customer(account, &subscription.customer_id)
                .await?
                .tax_rate
                .unwrap_or(Decimal::ZERO),
        };
        Ok(TaxRate::new(percent)?)
    }
}
