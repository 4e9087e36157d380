//! An invoice's lines for a customer and a period, priced by a [`Pricing`]
//! from the events as known at a sequence (or now): one per usage product and
//! price group, one per fee price group, and a minimum or maximum adjustment
//! per product when its bounds apply.

use futures::StreamExt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_aggregate::{Aggregator, Diagnostics};
use tally_event::{Period, Value};
use tally_pricing::{
    AdjustmentKind, BreakdownLine, PriceModel, Quote, TaxRate, Taxed, price, price_events,
};
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventSeq, InvoiceId, Product, ProductId, ProductKind,
};

use crate::error::{BillingError, BillingResult};
use crate::invoice::basis::{PricedProduct, Pricing};
use crate::service::{Billing, compile_stored};
use crate::simulate::PriceGroupRef;

/// What a line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    /// A usage product's price group over the period's quantity.
    Usage,
    /// A fee product's price group, once per period.
    Fee,
    /// Tops a product's total up to its `min_amount`.
    MinimumAdjustment,
    /// Brings a product's total down to its `max_amount` (negative).
    MaximumAdjustment,
}

/// One part of a line's amount (a tier, a package count, a percentage part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakdownEntry {
    /// `tier`, `unit`, `package`, `flat`, `percentage`, `fixed_fee`, `floor`, `cap`.
    pub kind: String,
    /// The tier's index, for tiered prices.
    pub tier: Option<usize>,
    /// Where the part starts, in units of the quantity.
    pub from: Decimal,
    /// Where it ends; `None`: no upper bound.
    pub to: Option<Decimal>,
    /// The units in this part.
    pub quantity: Decimal,
    /// Minor units per unit (a decimal).
    pub unit_amount: Decimal,
    /// Minor units once for the part (a tier's flat amount).
    pub flat_amount: Decimal,
    /// Exact, in minor units (may be fractional before the line rounds).
    pub amount: Decimal,
}

/// One invoice line; amounts in minor units of the invoice's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// Usage, fee, or a minimum or maximum adjustment.
    #[serde(rename = "type")]
    pub line_type: LineType,
    /// The product billed (`itm_…`).
    pub product_id: String,
    /// The product's name when the line was computed.
    pub product_name: String,
    /// The price group (`None` for adjustments).
    pub price_group: Option<LineGroup>,
    /// The priced quantity (`None` for adjustments).
    pub quantity: Option<Decimal>,
    /// Minor units: the line's subtotal, rounded half away from zero.
    pub amount_excluding_tax: i64,
    /// Minor units: `round(amount_excluding_tax × rate / 100)`.
    pub tax_amount: i64,
    /// `amount_excluding_tax + tax_amount`.
    pub total_amount: i64,
    /// How the subtotal is made (tiers, packages, percentage parts); empty for adjustments.
    pub breakdown: Vec<BreakdownEntry>,
    /// Usage lines: the events the group selected and those it could not use.
    /// Absent from fee and adjustment lines (and from lines stored before
    /// lines carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<LineDiagnostics>,
}

/// What a usage line's events were, beyond its quantity: nothing is skipped
/// silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDiagnostics {
    /// Events of the period the group selects (its aggregator's type and
    /// `where`, and its filter), usable or not.
    pub matched_events: u64,
    /// Selected events whose property was missing or null.
    pub skipped_missing: u64,
    /// Selected events whose property was not a number where one was needed
    /// (a string `"1200"` in a sum).
    pub skipped_not_numeric: u64,
}

impl From<&Diagnostics> for LineDiagnostics {
    fn from(diagnostics: &Diagnostics) -> Self {
        LineDiagnostics {
            matched_events: diagnostics.matched_events,
            skipped_missing: diagnostics.skipped_missing,
            skipped_not_numeric: diagnostics.skipped_not_numeric,
        }
    }
}

/// A price group as a line names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineGroup {
    /// The price group's id (`grp_…`).
    pub id: String,
    /// The price group's name.
    pub name: String,
}

impl From<&PriceGroupRef> for LineGroup {
    fn from(group: &PriceGroupRef) -> Self {
        LineGroup {
            id: group.id.to_string(),
            name: group.name.clone(),
        }
    }
}

/// Sums of the lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceTotals {
    /// Sum of the lines' `amount_excluding_tax`.
    pub amount_excluding_tax: i64,
    /// Sum of the lines' `tax_amount`.
    pub tax_amount: i64,
    /// Sum of the lines' `total_amount`.
    pub total_amount: i64,
}

impl InvoiceTotals {
    /// The sums of `lines`; `Evaluation` when one overflows.
    pub fn of(lines: &[InvoiceLine]) -> BillingResult<Self> {
        let mut totals = InvoiceTotals::default();
        for line in lines {
            totals.amount_excluding_tax =
                add(totals.amount_excluding_tax, line.amount_excluding_tax)?;
            totals.tax_amount = add(totals.tax_amount, line.tax_amount)?;
            totals.total_amount = add(totals.total_amount, line.total_amount)?;
        }
        Ok(totals)
    }
}

fn add(a: i64, b: i64) -> BillingResult<i64> {
    a.checked_add(b)
        .ok_or_else(|| BillingError::Evaluation("invoice total overflows".into()))
}

/// The id of a line item of `invoice` (`ili_…`): derived from the invoice,
/// the line's type, product and price group, so a draft's lines keep their
/// ids however often they are recomputed, and lines stored before ids
/// existed get theirs without a rewrite. Unique within an invoice: a product
/// has one line per type and price group.
pub fn line_item_id(invoice: &InvoiceId, line: &InvoiceLine) -> String {
    let line_type = serde_json::to_value(line.line_type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let group = line.price_group.as_ref().map_or("", |g| g.id.as_str());
    let parts: [&[u8]; 4] = [
        invoice.as_str().as_bytes(),
        line_type.as_bytes(),
        line.product_id.as_bytes(),
        group.as_bytes(),
    ];
    format!(
        "ili_{}",
        tally_store::ids::derived_base62(&parts, tally_store::ids::RANDOM_PART_LEN)
    )
}

/// The products `lines` name, once each, in line order.
pub(crate) fn line_product_ids(lines: &[InvoiceLine]) -> Vec<ProductId> {
    let mut ids: Vec<ProductId> = Vec::new();
    for line in lines {
        if let Ok(id) = ProductId::parse(&line.product_id)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// Who is billed, for when, at which tax rate, from which events.
pub(crate) struct Billed<'a> {
    pub account: &'a AccountId,
    pub customer: &'a CustomerId,
    pub period: Period,
    pub rate: TaxRate,
    /// What the account knew: `None` for now, else as of this sequence.
    pub known_at: Option<EventSeq>,
}

impl Billing {
    /// Every line of an invoice of `customer` over `period`, priced by
    /// `pricing`, from the events as known at `known_at` (`None`: now), in
    /// the pricing's product order.
    pub(crate) async fn priced_lines(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        period: Period,
        pricing: &Pricing,
        known_at: Option<EventSeq>,
    ) -> BillingResult<Vec<InvoiceLine>> {
        let billed = Billed {
            account,
            customer,
            period,
            rate: pricing.tax_rate,
            known_at,
        };
        let mut lines = Vec::new();
        for priced in &pricing.products {
            lines.extend(self.product_lines(&billed, priced).await?);
        }
        Ok(lines)
    }

    async fn product_lines(
        &self,
        billed: &Billed<'_>,
        priced: &PricedProduct,
    ) -> BillingResult<Vec<InvoiceLine>> {
        let product = &priced.product;
        let aggregator = match (&product.kind, &priced.aggregator) {
            (ProductKind::Usage, Some(record)) => Some(compile_stored(record)?),
            _ => None,
        };
        let mut lines = Vec::with_capacity(product.price_groups.len() + 1);
        for group in &product.price_groups {
            let model = &group.price;
            let (quote, diagnostics) = match &aggregator {
                Some(aggregator) => {
                    let filter = group.aggregator_filter_id.as_ref();
                    let (quote, diagnostics) =
                        self.usage_quote(billed, aggregator, filter, model).await?;
                    (quote, Some(diagnostics))
                }
                // A fee is billed once per period: its price at quantity one.
                None => (price(model, Decimal::ONE)?, None),
            };
            let line_type = match aggregator {
                Some(_) => LineType::Usage,
                None => LineType::Fee,
            };
            let name = PriceGroupRef {
                id: group.id.clone(),
                name: group.name.clone(),
            };
            let mut line = line(product, line_type, Some(&name), &quote, billed.rate)?;
            line.diagnostics = diagnostics;
            lines.push(line);
        }
        if let Some(adjustment) = adjustment(product, &lines, billed.rate)? {
            lines.push(adjustment);
        }
        Ok(lines)
    }

    /// The group's quote and what its events were: the store's aggregate
    /// priced (floored at zero, as ever), or for a percentage price each
    /// selected event's value.
    async fn usage_quote(
        &self,
        billed: &Billed<'_>,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        model: &PriceModel,
    ) -> BillingResult<(Quote, LineDiagnostics)> {
        let window = aggregator.window(billed.period);
        let Some(property) = model.percentage_property() else {
            let result = self
                .window_quantity(
                    billed.account,
                    aggregator,
                    filter,
                    billed.customer,
                    window,
                    billed.known_at,
                )
                .await?;
            let quote = price(model, result.quantity.max(Decimal::ZERO))?;
            return Ok((quote, LineDiagnostics::from(&result.diagnostics)));
        };
        let scope = aggregator.scope(window, filter.map(|id| id.as_str()))?;
        let mut events = self.window_events(
            billed.account,
            billed.customer,
            aggregator,
            window,
            billed.known_at,
        );
        let mut values = Vec::new();
        let mut diagnostics = LineDiagnostics::default();
        while let Some(stored) = events.next().await {
            let event = stored?.to_event()?;
            if !scope.selects(&event) {
                continue;
            }
            diagnostics.matched_events += 1;
            match event.record.get(property) {
                None | Some(Value::Null) => diagnostics.skipped_missing += 1,
                Some(value) => match value.as_decimal() {
                    Some(value) => values.push(value),
                    None => diagnostics.skipped_not_numeric += 1,
                },
            }
        }
        Ok((price_events(model, &values)?, diagnostics))
    }
}

fn line(
    product: &Product,
    line_type: LineType,
    group: Option<&PriceGroupRef>,
    quote: &Quote,
    rate: TaxRate,
) -> BillingResult<InvoiceLine> {
    let taxed = Taxed::compute(quote.subtotal, rate)?;
    Ok(InvoiceLine {
        line_type,
        product_id: product.id.to_string(),
        product_name: product.name.clone(),
        price_group: group.map(LineGroup::from),
        quantity: Some(quote.quantity.normalize()),
        amount_excluding_tax: taxed.subtotal,
        tax_amount: taxed.tax,
        total_amount: taxed.total,
        breakdown: quote.breakdown.iter().map(entry).collect(),
        diagnostics: None,
    })
}

/// The product's min/max over the sum of its groups' subtotals, taxed alike.
fn adjustment(
    product: &Product,
    lines: &[InvoiceLine],
    rate: TaxRate,
) -> BillingResult<Option<InvoiceLine>> {
    let subtotal = InvoiceTotals::of(lines)?.amount_excluding_tax;
    let Some(adjustment) = product.bounds.apply(subtotal)? else {
        return Ok(None);
    };
    let taxed = Taxed::compute(adjustment.amount, rate)?;
    Ok(Some(InvoiceLine {
        line_type: match adjustment.kind {
            AdjustmentKind::MinimumAdjustment => LineType::MinimumAdjustment,
            AdjustmentKind::MaximumAdjustment => LineType::MaximumAdjustment,
        },
        product_id: product.id.to_string(),
        product_name: product.name.clone(),
        price_group: None,
        quantity: None,
        amount_excluding_tax: taxed.subtotal,
        tax_amount: taxed.tax,
        total_amount: taxed.total,
        breakdown: Vec::new(),
        diagnostics: None,
    }))
}

fn entry(line: &BreakdownLine) -> BreakdownEntry {
    let kind = serde_json::to_value(line.kind)
        .ok()
        .and_then(|kind| kind.as_str().map(str::to_owned))
        .unwrap_or_default();
    BreakdownEntry {
        kind,
        tier: line.tier,
        from: line.from,
        to: line.to,
        quantity: line.quantity,
        unit_amount: line.unit_amount,
        flat_amount: line.flat_amount,
        amount: line.amount,
    }
}
