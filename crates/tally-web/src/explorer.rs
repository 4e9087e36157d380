//! "Explore consumption": the events behind a subscription's current period
//! or an invoice, per usage product and price group, with the amount billed
//! for each (docs/portal.md). Read through the billing use cases for one
//! customer only: a subscription or an invoice of another customer is
//! `NotFound`, exactly like one that does not exist.

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Deserialize;
use tally_billing::{
    Billing, BillingError, BillingResult, ConsumptionScope, DateRange, EventsPage, InvoiceView,
    Pagination, PriceGroupRef, ProductConsumption,
};
use tally_event::{Period, Timestamp};
use tally_pricing::AttributionRule;
use tally_store::{AccountId, CustomerId, ProductKind};

/// Events per price group and page.
pub const PAGE_SIZE: u32 = 25;

/// The explorer's filters, as the page's form sends them: every field may be
/// empty (no filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ExplorerQuery {
    /// Only this usage product (`itm_…`).
    #[serde(default)]
    pub product: Option<String>,
    /// Only this price group (its id).
    #[serde(default)]
    pub group: Option<String>,
    /// Only events on or after this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Only events on or before this day (`YYYY-MM-DD`, UTC).
    #[serde(default)]
    pub to: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    pub page: Option<String>,
}

impl ExplorerQuery {
    fn product(&self) -> Option<&str> {
        non_empty(self.product.as_deref())
    }

    fn group(&self) -> Option<&str> {
        non_empty(self.group.as_deref())
    }

    /// The query string of this filter on `page` (with `product` and
    /// `group` replaced when given), for links.
    pub fn link(&self, product: Option<&str>, group: Option<&str>, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let product = product.or(self.product());
        let group = group.or(self.group());
        for (key, value) in [
            ("product", product),
            ("group", group),
            ("from", non_empty(self.from.as_deref())),
            ("to", non_empty(self.to.as_deref())),
        ] {
            if let Some(value) = value {
                query.append_pair(key, value);
            }
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }
}

/// What is explained: a subscription's current period or an invoice.
#[derive(Debug, Clone)]
pub enum Explained {
    /// A subscription (`sub_…`), over the period containing now.
    Subscription(String),
    /// An invoice, with its lines and totals.
    Invoice(Box<InvoiceView>),
}

/// One explorer page.
#[derive(Debug, Clone)]
pub struct ExplorerView {
    /// What is explained.
    pub explained: Explained,
    /// The period priced, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Every usage product of the scope, for the filter's choices.
    pub choices: Vec<ProductChoice>,
    /// The filters as understood (a bad one is an error, not ignored).
    pub query: ExplorerQuery,
    /// Invoices only: whether events under a finalized invoice changed since.
    pub changed_since_finalization: Option<bool>,
    /// One per price group shown, in product then group order.
    pub sections: Vec<GroupSection>,
}

/// A usage product and its price groups, as the filter offers them.
#[derive(Debug, Clone)]
pub struct ProductChoice {
    /// `itm_…`.
    pub id: String,
    /// The product's name.
    pub name: String,
    /// Its price groups, in order.
    pub groups: Vec<PriceGroupRef>,
}

/// One price group: its totals and a page of its events.
#[derive(Debug, Clone)]
pub struct GroupSection {
    /// `itm_…`.
    pub product_id: String,
    /// The product's name.
    pub product_name: String,
    /// The price group.
    pub group: PriceGroupRef,
    /// Whether the product has other price groups (then the group is named).
    pub several_groups: bool,
    /// How the amount is spread over the events.
    pub rule: AttributionRule,
    /// The priced quantity over the period.
    pub quantity: Decimal,
    /// The group's subtotal over the current events, minor units.
    pub amount: i64,
    /// The part no event carries.
    pub unattributed: i64,
    /// Invoices only: the line's amount on the invoice.
    pub invoice_line_amount: Option<i64>,
    /// Events of the whole period in this group.
    pub total_events: u64,
    /// The page of events inside the span.
    pub page: EventsPage,
    /// The keys shown for each event: the aggregator's exposed keys, else
    /// every key of the page's records.
    pub keys: Vec<String>,
}

/// The explorer of `subscription_id`'s current period, which must be
/// `customer`'s.
pub async fn subscription(
    billing: &Billing,
    account: &AccountId,
    customer: &CustomerId,
    subscription_id: &str,
    query: ExplorerQuery,
) -> BillingResult<ExplorerView> {
    let subscription = billing.get_subscription(account, subscription_id).await?;
    if subscription.customer_id != *customer {
        return Err(BillingError::not_found("subscription"));
    }
    let scope = billing
        .subscription_scope(account, subscription.id.as_str(), &DateRange::default())
        .await?;
    let explained = Explained::Subscription(subscription.id.to_string());
    load(billing, account, scope, explained, None, query).await
}

/// The explorer of invoice `invoice_id`, which must be `customer`'s.
pub async fn invoice(
    billing: &Billing,
    account: &AccountId,
    customer: &CustomerId,
    invoice_id: &str,
    query: ExplorerQuery,
) -> BillingResult<ExplorerView> {
    let (invoice, scope) = billing
        .explained_invoice(account, invoice_id, Some(customer))
        .await?;
    let changed = billing
        .events_changed_since_finalization(account, &invoice)
        .await?;
    let explained = Explained::Invoice(Box::new(invoice));
    load(billing, account, scope, explained, changed, query).await
}

async fn load(
    billing: &Billing,
    account: &AccountId,
    scope: ConsumptionScope,
    explained: Explained,
    changed_since_finalization: Option<bool>,
    query: ExplorerQuery,
) -> BillingResult<ExplorerView> {
    let span = span(&query, scope.period)?;
    let page = page_number(&query)?;
    let usage = scope
        .products
        .iter()
        .filter(|priced| priced.product.kind == ProductKind::Usage);
    let choices: Vec<ProductChoice> = usage
        .map(|priced| ProductChoice {
            id: priced.product.id.to_string(),
            name: priced.product.name.clone(),
            groups: priced
                .product
                .price_groups
                .iter()
                .map(|group| PriceGroupRef {
                    id: group.id.clone(),
                    name: group.name.clone(),
                })
                .collect(),
        })
        .collect();
    check_choice(&choices, &query)?;
    let lines = match &explained {
        Explained::Invoice(invoice) => invoice.lines.as_slice(),
        Explained::Subscription(_) => &[],
    };
    let mut sections = Vec::new();
    for choice in &choices {
        if query.product().is_some_and(|id| id != choice.id) {
            continue;
        }
        let planned = billing
            .product_consumption(account, &scope, &choice.id)
            .await?;
        for (index, group) in planned.groups.iter().enumerate() {
            if query
                .group()
                .is_some_and(|id| id != group.price_group.id.as_str())
            {
                continue;
            }
            let request = Pagination::new(
                i64::from(PAGE_SIZE),
                i64::from((page - 1).saturating_mul(PAGE_SIZE)),
            );
            let events = billing
                .group_events_page(account, &planned, index, span, request)
                .await?;
            sections.push(section(&planned, index, events, lines));
        }
    }
    Ok(ExplorerView {
        explained,
        period: scope.period,
        currency: scope.currency,
        choices,
        query,
        changed_since_finalization,
        sections,
    })
}

fn section(
    planned: &ProductConsumption,
    index: usize,
    page: EventsPage,
    lines: &[tally_billing::InvoiceLine],
) -> GroupSection {
    let group = &planned.groups[index];
    let invoice_line_amount = lines
        .iter()
        .find(|line| {
            line.product_id == planned.product.id.as_str()
                && line
                    .price_group
                    .as_ref()
                    .is_some_and(|g| g.id == group.price_group.id.as_str())
        })
        .map(|line| line.amount_excluding_tax);
    let keys = match planned.aggregator.exposed_event_keys() {
        Some(keys) => keys.to_vec(),
        None => record_keys(&page),
    };
    GroupSection {
        product_id: planned.product.id.to_string(),
        product_name: planned.product.name.clone(),
        group: group.price_group.clone(),
        several_groups: planned.groups.len() > 1,
        rule: group.rule,
        quantity: group.quantity,
        amount: group.subtotal,
        unattributed: group.unattributed,
        invoice_line_amount,
        total_events: group.events,
        page,
        keys,
    }
}

/// Every key of the page's records, in first-seen order.
fn record_keys(page: &EventsPage) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for event in &page.events {
        if let Some(record) = event.payload.as_object() {
            for key in record.keys() {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
    }
    keys
}

/// A product or group the scope does not have is refused, not ignored: an
/// empty page would read as "no consumption".
fn check_choice(choices: &[ProductChoice], query: &ExplorerQuery) -> BillingResult<()> {
    let products: Vec<&ProductChoice> = match query.product() {
        Some(id) => {
            let found: Vec<_> = choices.iter().filter(|c| c.id == id).collect();
            if found.is_empty() {
                return Err(BillingError::invalid(
                    "/product",
                    "unknown_product",
                    "no usage product of this period has this id",
                ));
            }
            found
        }
        None => choices.iter().collect(),
    };
    if let Some(group) = query.group()
        && !products
            .iter()
            .flat_map(|c| &c.groups)
            .any(|g| g.id.as_str() == group)
    {
        return Err(BillingError::invalid(
            "/group",
            "unknown_price_group",
            "no price group of the products shown has this id",
        ));
    }
    Ok(())
}

/// The span of `from`..=`to` (whole UTC days) inside the period, `None` when
/// neither is given.
fn span(query: &ExplorerQuery, period: Period) -> BillingResult<Option<Period>> {
    let from = day(query.from.as_deref(), "/from")?;
    let to = day(query.to.as_deref(), "/to")?;
    if from.is_none() && to.is_none() {
        return Ok(None);
    }
    let start = from.map_or(Ok(period.start()), |day| midnight(day, "/from"))?;
    let end = match to {
        Some(day) => midnight(day.checked_add_days(Days::new(1)).unwrap_or(day), "/to")?,
        None => period.end(),
    };
    let start = start.max(period.start());
    let end = end.min(period.end());
    if start >= end {
        return Err(BillingError::invalid(
            "/to",
            "empty_range",
            "the dates leave no day of the period",
        ));
    }
    Period::new(start, end)
        .map(Some)
        .map_err(|error| BillingError::invalid("/from", "invalid_date", error.to_string()))
}

fn day(text: Option<&str>, path: &str) -> BillingResult<Option<NaiveDate>> {
    let Some(text) = non_empty(text) else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| BillingError::invalid(path, "invalid_date", "a date is written YYYY-MM-DD"))
}

fn midnight(day: NaiveDate, path: &str) -> BillingResult<Timestamp> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|at| Timestamp::from_datetime(at.and_utc()).ok())
        .ok_or_else(|| BillingError::invalid(path, "invalid_date", "date out of range"))
}

fn page_number(query: &ExplorerQuery) -> BillingResult<u32> {
    let Some(text) = non_empty(query.page.as_deref()) else {
        return Ok(1);
    };
    text.parse::<u32>()
        .ok()
        .filter(|page| (1..=1_000_000).contains(page))
        .ok_or_else(|| {
            BillingError::invalid("/page", "out_of_range", "page is a whole number from 1")
        })
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> Period {
        Period::new(
            Timestamp::parse("2024-12-01T00:00:00Z").unwrap(),
            Timestamp::parse("2025-01-01T00:00:00Z").unwrap(),
        )
        .unwrap()
    }

    fn query(from: &str, to: &str) -> ExplorerQuery {
        ExplorerQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            ..ExplorerQuery::default()
        }
    }

    #[test]
    fn a_span_is_whole_days_clipped_to_the_period() {
        let clipped = span(&query("2024-11-20", "2024-12-02"), period())
            .unwrap()
            .unwrap();
        assert_eq!(clipped.start().to_rfc3339(), "2024-12-01T00:00:00.000Z");
        assert_eq!(clipped.end().to_rfc3339(), "2024-12-03T00:00:00.000Z");
        assert_eq!(span(&query("", " "), period()).unwrap(), None);
    }

    #[test]
    fn bad_dates_name_their_field() {
        let error = span(&query("2024-13-01", ""), period()).unwrap_err();
        assert!(error.to_string().contains("YYYY-MM-DD"), "{error}");
        let error = span(&query("2024-12-10", "2024-12-01"), period()).unwrap_err();
        assert!(matches!(error, BillingError::Invalid(_)), "{error:?}");
    }

    #[test]
    fn links_keep_the_filter_and_encode_values() {
        let query = ExplorerQuery {
            product: Some("itm_1".into()),
            from: Some("2024-12-01".into()),
            to: Some("a&b=c".into()),
            ..ExplorerQuery::default()
        };
        assert_eq!(
            query.link(None, Some("grp 1"), 3),
            "?product=itm_1&group=grp+1&from=2024-12-01&to=a%26b%3Dc&page=3"
        );
        assert_eq!(ExplorerQuery::default().link(None, None, 1), "");
    }
}
