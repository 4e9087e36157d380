//! What a portal page shows, read through the billing use cases for one
//! customer only. Nothing here writes: current periods are priced with
//! [`Billing::preview_period`], never by creating an invoice.

use tally_billing::{
    Billing, BillingResult, InvoiceFilter, InvoiceView, Pagination, PeriodPreview, UsageProgress,
};
use tally_store::{AccountId, Customer, CustomerId};

/// Subscriptions and invoices read per page of the store.
const PAGE: i64 = 100;
/// The most recent invoices a page lists.
pub const MAX_INVOICES: i64 = 100;

/// One customer's page.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// The customer the link names.
    pub customer: Customer,
    /// Each subscription, oldest first, with its current period priced
    /// (`None` before it starts).
    pub subscriptions: Vec<SubscriptionView>,
    /// The customer's most recent invoices, highest number first.
    pub invoices: Vec<InvoiceView>,
}

/// A subscription and its current period so far.
#[derive(Debug, Clone)]
pub struct SubscriptionView {
    /// The subscription's id (`sub_…`).
    pub id: String,
    /// The period containing now, priced as its draft would be.
    pub current: Option<PeriodPreview>,
    /// Each usage aggregator through that period (empty before it starts).
    pub charts: Vec<UsageProgress>,
}

/// The page of `customer`, which must belong to `account`.
pub async fn load(
    billing: &Billing,
    account: &AccountId,
    customer: &CustomerId,
) -> BillingResult<PortalView> {
    let customer = billing.get_customer(account, customer.as_str()).await?;
    let mut subscriptions = Vec::new();
    for subscription in subscription_ids(billing, account, &customer.id).await? {
        let current = billing.preview_period(account, &subscription, None).await?;
        let charts = match current {
            Some(_) => billing.usage_progress(account, &subscription).await?,
            None => Vec::new(),
        };
        subscriptions.push(SubscriptionView {
            id: subscription,
            current,
            charts,
        });
    }
    let filter = InvoiceFilter {
        subscription_id: None,
        customer_id: Some(customer.id.to_string()),
    };
    let page = Pagination {
        take: Some(MAX_INVOICES),
        skip: None,
    };
    let invoices = billing.list_invoices(account, &filter, page).await?.items;
    Ok(PortalView {
        customer,
        subscriptions,
        invoices,
    })
}

/// Every subscription of the customer, oldest first.
async fn subscription_ids(
    billing: &Billing,
    account: &AccountId,
    customer: &CustomerId,
) -> BillingResult<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let page = Pagination {
            take: Some(PAGE),
            skip: Some(i64::try_from(ids.len()).unwrap_or(i64::MAX)),
        };
        let found = billing
            .list_subscriptions(account, Some(customer.as_str()), page)
            .await?;
        let done = found.items.is_empty();
        ids.extend(found.items.into_iter().map(|s| s.id.to_string()));
        if done || ids.len() as u64 >= found.total {
            return Ok(ids);
        }
    }
}
