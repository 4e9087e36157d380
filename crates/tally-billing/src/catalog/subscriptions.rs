//! Subscriptions (`sub_…`).

use rust_decimal::Decimal;
use tally_event::Timestamp;
use tally_pricing::Currency;
use tally_store::{
    AccountId, BillingInterval, Customer, CustomerId, IntervalUnit, Page, Product, ProductId,
    Subscription, SubscriptionId, SubscriptionQuery,
};

use super::{check_currency, check_tax_rate};
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::{Pagination, parse_date};
use crate::service::{Billing, all_pages};

/// Largest interval count accepted (`{period: days, count: 1000}` is plenty).
pub const MAX_INTERVAL_COUNT: i64 = 1000;

/// A subscription as created or replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SubscriptionRequest, example = json!({"customer_id": "cus_…", "product_ids": ["itm_…"], "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1}, "tax_rate": "20", "currency": "EUR"})))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// A `cus_` id or an external id of an existing customer.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IdText, required = true))]
    pub customer_id: Option<String>,
    /// `itm_` ids of the products billed, at least one, each once, in invoice line order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::ProductIdList, required = true))]
    pub product_ids: Vec<String>,
    /// ISO 8601; default: now.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::TimestampParam>))]
    pub starts_at: Option<String>,
    /// Default: `{period: months, count: 1}`.
    #[serde(default)]
    pub billing_interval: Option<BillingIntervalInput>,
    /// Percent, 0..=100; absent: the customer's rate applies, else none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::PercentInput>))]
    pub tax_rate: Option<Decimal>,
    /// Default: the products' currency. Every product, and the customer when it
    /// has one, must use it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::CurrencyCode>))]
    pub currency: Option<String>,
}

/// `{period: days|weeks|months|years, count: 1..=1000}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BillingIntervalRequest))]
#[serde(deny_unknown_fields)]
pub struct BillingIntervalInput {
    /// `days`, `weeks`, `months` or `years`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::IntervalPeriod, required = true))]
    pub period: Option<String>,
    /// How many of them make one period, at least 1.
    #[serde(default, deserialize_with = "deserialize_integral")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub count: Option<i64>,
}

/// An optional integer, also written `12.0` (`crate::input::integral`).
fn deserialize_integral<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match crate::input::integral(&number) {
        Some(integer) => Ok(Some(integer)),
        None => Err(D::Error::custom(format!(
            "expected an integer, got {number}"
        ))),
    }
}

impl Billing {
    /// Creates a subscription. `Invalid` lists every problem: unknown customer or products,
    /// mixed currencies, a bad interval or tax rate.
    pub async fn create_subscription(
        &self,
        account: &AccountId,
        input: &SubscriptionInput,
    ) -> BillingResult<Subscription> {
        let id = self.ids.with(SubscriptionId::generate);
        let now = self.now();
        let subscription = self.build_subscription(account, id, input, now).await?;
        let done = self
            .store
            .create_subscription(account, &subscription)
            .await?;
        // Its products' grants and its periods move the customer's limits.
        self.watch_thresholds(account, [subscription.customer_id.clone()])
            .await;
        Ok(done)
    }

    /// The subscription with this id; `NotFound` for an unknown id or one that does not parse.
    pub async fn get_subscription(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<Subscription> {
        let id = SubscriptionId::parse(id).map_err(|_| BillingError::not_found("subscription"))?;
        Ok(self.store.get_subscription(account, &id).await?)
    }

    /// Optionally only one customer's (by `cus_` id or external id; an unknown
    /// customer gives an empty page).
    pub async fn list_subscriptions(
        &self,
        account: &AccountId,
        customer: Option<&str>,
        page: Pagination,
    ) -> BillingResult<Page<Subscription>> {
        let page = page.to_page_request()?;
        let customer_id = match customer {
            None => None,
            Some(reference) => match self.find_customer(account, reference).await {
                Ok(customer) => Some(customer.id),
                Err(BillingError::NotFound { .. }) => {
                    return Ok(Page {
                        total: 0,
                        items: Vec::new(),
                    });
                }
                Err(error) => return Err(error),
            },
        };
        let query = SubscriptionQuery { customer_id, page };
        Ok(self.store.list_subscriptions(account, &query).await?)
    }

    /// Replaces the subscription with `input` (a full create body). Refused (`Conflict`) when
    /// it has invoices and the customer or currency would change.
    pub async fn update_subscription(
        &self,
        account: &AccountId,
        id: &str,
        input: &SubscriptionInput,
    ) -> BillingResult<Subscription> {
        let current = self.get_subscription(account, id).await?;
        let built = self
            .build_subscription(account, current.id.clone(), input, self.now())
            .await?;
        if (built.customer_id != current.customer_id || built.currency != current.currency)
            && self.has_invoices(account, &current.id).await?
        {
            return Err(BillingError::conflict(
                "subscription",
                "subscription has invoices: its customer and currency are fixed",
            ));
        }
        let subscription = Subscription {
            created_at: current.created_at,
            ..built
        };
        let done = self
            .store
            .update_subscription(account, &subscription)
            .await?;
        // Its products' grants and its periods move the customer's limits.
        self.watch_thresholds(account, [subscription.customer_id.clone()])
            .await;
        Ok(done)
    }

    /// Deletes a subscription without invoices (`Conflict` otherwise: its
    /// invoices' consumption and exports need it).
    pub async fn delete_subscription(&self, account: &AccountId, id: &str) -> BillingResult<()> {
        let subscription = self.get_subscription(account, id).await?;
        if self.has_invoices(account, &subscription.id).await? {
            return Err(BillingError::conflict(
                "subscription",
                "subscription has invoices",
            ));
        }
        self.store
            .delete_subscription(account, &subscription.id)
            .await?;
        // Its products' grants and its periods move the customer's limits.
        self.watch_thresholds(account, [subscription.customer_id.clone()])
            .await;
        Ok(())
    }

    /// Whether any invoice, draft or finalized, belongs to the subscription.
    async fn has_invoices(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
    ) -> BillingResult<bool> {
        let query = tally_store::InvoiceQuery {
            subscription_id: Some(subscription.clone()),
            customer_id: None,
            page: tally_store::PageRequest { take: 1, skip: 0 },
        };
        let page = self.store.list_invoices(account, &query).await?;
        Ok(page.total > 0 || !page.items.is_empty())
    }

    /// Every subscription of the account, or of one customer, oldest first.
    pub(crate) async fn all_subscriptions(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
    ) -> BillingResult<Vec<Subscription>> {
        all_pages(|page| {
            let query = SubscriptionQuery {
                customer_id: customer.cloned(),
                page,
            };
            async move { self.store.list_subscriptions(account, &query).await }
        })
        .await
    }

    async fn build_subscription(
        &self,
        account: &AccountId,
        id: SubscriptionId,
        input: &SubscriptionInput,
        now: Timestamp,
    ) -> BillingResult<Subscription> {
        let mut problems = Problems::default();
        let customer = self
            .subscription_customer(account, input, &mut problems)
            .await?;
        let products = self
            .subscription_products(account, input, &mut problems)
            .await?;
        let currency = subscription_currency(input, customer.as_ref(), &products, &mut problems);
        let billing_interval = interval(input.billing_interval.as_ref(), &mut problems);
        let starts_at = parse_date(input.starts_at.as_deref(), "/starts_at", &mut problems)
            .ok()
            .flatten()
            .unwrap_or(now);
        check_tax_rate(input.tax_rate, "/tax_rate", &mut problems);
        problems.finish()?;
        let (Some(customer), Some(currency)) = (customer, currency) else {
            return Err(BillingError::invalid(
                "/customer_id",
                "required",
                "this field is required",
            ));
        };
        Ok(Subscription {
            id,
            customer_id: customer.id,
            product_ids: products
                .into_iter()
                .flatten()
                .map(|product| product.id)
                .collect(),
            starts_at,
            billing_interval,
            tax_rate: input.tax_rate.map(|rate| rate.normalize()),
            currency: currency.code().to_owned(),
            created_at: now,
        })
    }

    async fn subscription_customer(
        &self,
        account: &AccountId,
        input: &SubscriptionInput,
        problems: &mut Problems,
    ) -> BillingResult<Option<Customer>> {
        let Some(reference) = input.customer_id.as_deref() else {
            problems.push("/customer_id", "required", "this field is required");
            return Ok(None);
        };
        match self.find_customer(account, reference).await {
            Ok(customer) => Ok(Some(customer)),
            Err(BillingError::NotFound { .. }) => {
                problems.push(
                    "/customer_id",
                    "customer_not_found",
                    "no customer has this id or external id",
                );
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Each product id looked up; `None` where it was reported.
    async fn subscription_products(
        &self,
        account: &AccountId,
        input: &SubscriptionInput,
        problems: &mut Problems,
    ) -> BillingResult<Vec<Option<Product>>> {
        if input.product_ids.is_empty() {
            problems.push(
                "/product_ids",
                "required",
                "a subscription needs at least one product",
            );
        }
        let mut products = Vec::new();
        for (index, id) in input.product_ids.iter().enumerate() {
            let path = format!("/product_ids/{index}");
            if input.product_ids[..index].contains(id) {
                problems.push(path, "duplicate_product", "this product is already listed");
                products.push(None);
                continue;
            }
            let found = match ProductId::parse(id) {
                Ok(id) => match self.store.get_product(account, &id).await {
                    Ok(product) => Some(product),
                    Err(tally_store::StoreError::NotFound { .. }) => None,
                    Err(error) => return Err(error.into()),
                },
                Err(_) => None,
            };
            if found.is_none() {
                problems.push(path, "product_not_found", "no product has this id");
            }
            products.push(found);
        }
        Ok(products)
    }
}

fn subscription_currency(
    input: &SubscriptionInput,
    customer: Option<&Customer>,
    products: &[Option<Product>],
    problems: &mut Problems,
) -> Option<Currency> {
    let currency = match input.currency.as_deref() {
        Some(code) => check_currency(code, "/currency", problems)?,
        None => products.iter().flatten().next()?.currency,
    };
    for (index, product) in products.iter().enumerate() {
        if let Some(product) = product
            && product.currency != currency
        {
            problems.push(
                format!("/product_ids/{index}"),
                "currency_mismatch",
                format!(
                    "the product is priced in {}, the subscription in {currency}",
                    product.currency
                ),
            );
        }
    }
    if let Some(customer_currency) = customer.and_then(|c| c.currency.as_deref())
        && customer_currency != currency.code()
    {
        problems.push(
            "/currency",
            "currency_mismatch",
            format!("the customer pays in {customer_currency}, the subscription is in {currency}"),
        );
    }
    Some(currency)
}

fn interval(input: Option<&BillingIntervalInput>, problems: &mut Problems) -> BillingInterval {
    let default = BillingInterval {
        unit: IntervalUnit::Months,
        count: 1,
    };
    let Some(input) = input else {
        return default;
    };
    let unit = match input.period.as_deref() {
        None => {
            problems.push(
                "/billing_interval/period",
                "required",
                "this field is required",
            );
            default.unit
        }
        Some(text) => IntervalUnit::parse(text).unwrap_or_else(|| {
            problems.push(
                "/billing_interval/period",
                "invalid_value",
                "period must be days, weeks, months or years",
            );
            default.unit
        }),
    };
    let count = input.count.unwrap_or(1);
    let count = u32::try_from(count)
        .ok()
        .filter(|count| (1..=MAX_INTERVAL_COUNT).contains(&i64::from(*count)))
        .unwrap_or_else(|| {
            problems.push(
                "/billing_interval/count",
                "out_of_range",
                "count must be between 1 and 1000",
            );
            1
        });
    BillingInterval { unit, count }
}
