//! What changed under a finalized invoice since it was finalized
//! (docs/billing.md, "Changes since finalization").
//!
//! The events its lines read (each usage product's aggregator window of the
//! period, the invoice's customer) are read twice, as known at the invoice's
//! sequence and as known now, both in (timestamp, record id) order, and
//! merged: a key at the same place in both with another record changed; a
//! key on one side only was added or deleted, unless it is on the other side
//! elsewhere (its timestamp moved inside the window), which is a change too.
//! Memory holds the events found on one side only and the changes, not every
//! event; whether anything changed at all stops at the first difference.
//! Events are compared before any `where` or filter, so an update that moves
//! an event into or out of a filter is listed even when no amount moves.
//!
//! The lines are then priced again by the invoice's basis over the events as
//! known now: the difference is what the changes are worth, catalog edits
//! left out.

use std::collections::BTreeMap;

use futures::StreamExt;
use futures::stream::BoxStream;
use rust_decimal::Decimal;
use tally_event::{EventType, RecordId, Timestamp};
use tally_store::{
    AccountId, EventSeq, InvoiceId, InvoiceStatus, ProductId, ProductKind, StoreResult, StoredEvent,
};

use super::InvoiceView;
use super::basis::Pricing;
use super::lines::{InvoiceLine, InvoiceTotals, LineGroup, LineType};
use crate::error::{BillingError, BillingResult};
use crate::input::Pagination;
use crate::service::{Billing, compile_stored};

/// How an event under an invoice changed since it was finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventChangeKind {
    /// Not seen at finalization: a late event, or one moved into the period
    /// or to this customer.
    Added,
    /// Seen then, with another timestamp or record.
    Changed,
    /// Seen then, not now: deleted, or moved out of the period or to another
    /// customer.
    Deleted,
}

impl EventChangeKind {
    /// `added`, `changed` or `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventChangeKind::Added => "added",
            EventChangeKind::Changed => "changed",
            EventChangeKind::Deleted => "deleted",
        }
    }
}

/// One event that changed under the invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventChange {
    /// Added, changed or deleted.
    pub kind: EventChangeKind,
    /// The event's type.
    pub event_type: EventType,
    /// The event's `record.id`.
    pub record_id: RecordId,
    /// The version the invoice was finalized with; `None` when added.
    pub before: Option<StoredEvent>,
    /// The version read now; `None` when deleted.
    pub after: Option<StoredEvent>,
    /// The usage products whose aggregator reads the event, in line order.
    pub product_ids: Vec<ProductId>,
}

/// One line, as finalized and as it would be now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    /// Usage, fee, or an adjustment.
    pub line_type: LineType,
    /// The product billed (`itm_…`).
    pub product_id: String,
    /// The price group (`None` for adjustments).
    pub price_group: Option<LineGroup>,
    /// The quantity on the invoice.
    pub finalized_quantity: Option<Decimal>,
    /// The quantity over the events as known now.
    pub current_quantity: Option<Decimal>,
    /// `amount_excluding_tax` on the invoice (0 when the line is new).
    pub finalized_amount: i64,
    /// `amount_excluding_tax` now (0 when the line would be gone).
    pub current_amount: i64,
    /// `current_amount - finalized_amount`.
    pub delta: i64,
}

/// What changed under a finalized invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceChanges {
    /// The invoice (`inv_…`).
    pub invoice_id: InvoiceId,
    /// The sequence its lines were read at.
    pub known_seq: EventSeq,
    /// The account's sequence when the changes were read.
    pub latest_seq: EventSeq,
    /// Changed events over every page.
    pub total: u64,
    /// Added events over every page.
    pub added: u64,
    /// Changed events over every page.
    pub changed: u64,
    /// Deleted events over every page.
    pub deleted: u64,
    /// Events skipped before this page.
    pub skipped: u64,
    /// This page of changed events.
    pub events: Vec<EventChange>,
    /// Every line of the invoice or of its recomputation, invoice lines first.
    pub lines: Vec<LineChange>,
    /// The invoice's totals.
    pub finalized_totals: InvoiceTotals,
    /// The totals over the events as known now, priced by the invoice's basis.
    pub current_totals: InvoiceTotals,
    /// `current_totals - finalized_totals`, each amount.
    pub delta_totals: InvoiceTotals,
}

impl Billing {
    /// The events added, changed or deleted under a finalized invoice since
    /// it was finalized (a page of them, with counts), and what each line
    /// would be now. `Conflict` for a draft (always current) and for an
    /// invoice finalized before sequences were recorded.
    pub async fn invoice_changes(
        &self,
        account: &AccountId,
        invoice_id: &str,
        page: Pagination,
    ) -> BillingResult<InvoiceChanges> {
        let page = page.to_page_request()?;
        let invoice = self.get_invoice(account, invoice_id).await?;
        if invoice.status != InvoiceStatus::Finalized {
            return Err(BillingError::conflict(
                "invoice",
                "a draft is recomputed on every read: it has no changes since finalization",
            ));
        }
        let (Some(known), Some(basis)) = (invoice.known_seq, &invoice.basis) else {
            return Err(BillingError::conflict(
                "invoice",
                "finalized before event versions were kept: its changes cannot be listed",
            ));
        };
        // Events and lines are both read as of this one sequence, so an event
        // ingested meanwhile is in neither or in both.
        let latest_seq = self.store.latest_seq(account).await?;
        let pricing = basis.to_pricing()?;
        let between = (known, latest_seq);
        let changes = self
            .event_changes(account, &invoice, &pricing, between, Stop::Never)
            .await?;
        let current = self
            .priced_lines(
                account,
                &invoice.customer_id,
                invoice.period,
                &pricing,
                Some(latest_seq),
            )
            .await?;
        let current_totals = InvoiceTotals::of(&current)?;
        let count = |kind| changes.iter().filter(|c| c.kind == kind).count() as u64;
        let (added, changed, deleted) = (
            count(EventChangeKind::Added),
            count(EventChangeKind::Changed),
            count(EventChangeKind::Deleted),
        );
        let total = changes.len() as u64;
        let skip = usize::try_from(page.skip).unwrap_or(usize::MAX);
        let events = changes
            .into_iter()
            .skip(skip)
            .take(page.take as usize)
            .collect();
        Ok(InvoiceChanges {
            invoice_id: invoice.id.clone(),
            known_seq: known,
            latest_seq,
            total,
            added,
            changed,
            deleted,
            skipped: page.skip,
            events,
            lines: line_changes(&invoice.lines, &current)?,
            finalized_totals: invoice.totals,
            delta_totals: delta_totals(&invoice.totals, &current_totals)?,
            current_totals,
        })
    }

    /// Every event under the invoice's usage products that differs between
    /// what was known at the first sequence and at the second (or only the
    /// first one found, with [`Stop::AtFirst`]). An event that several reads
    /// see (a metered and a licensed product on one event type) is listed
    /// once, with every product it concerns.
    pub(crate) async fn event_changes(
        &self,
        account: &AccountId,
        invoice: &InvoiceView,
        pricing: &Pricing,
        (known, now): (EventSeq, EventSeq),
        stop: Stop,
    ) -> BillingResult<Vec<EventChange>> {
        // Products whose aggregators read the same events share one diff.
        let mut reads: Vec<(EventType, tally_aggregate::Window, Vec<ProductId>)> = Vec::new();
        let mut compiled = Vec::new();
        for priced in &pricing.products {
            let (ProductKind::Usage, Some(record)) = (&priced.product.kind, &priced.aggregator)
            else {
                continue;
            };
            let aggregator = compile_stored(record)?;
            let window = aggregator.window(invoice.period);
            let event_type = aggregator.event_type().clone();
            match reads
                .iter_mut()
                .find(|(t, w, _)| *t == event_type && *w == window)
            {
                Some((_, _, products)) => products.push(priced.product.id.clone()),
                None => {
                    reads.push((event_type, window, vec![priced.product.id.clone()]));
                    compiled.push(aggregator);
                }
            }
        }
        let mut changes: Vec<EventChange> = Vec::new();
        for ((_, window, products), aggregator) in reads.into_iter().zip(&compiled) {
            let customer = &invoice.customer_id;
            let before = self.window_events(account, customer, aggregator, window, Some(known));
            let after = self.window_events(account, customer, aggregator, window, Some(now));
            for change in diff(before, after, stop).await? {
                let listed = changes
                    .iter_mut()
                    .find(|c| c.event_type == change.event_type && c.record_id == change.record_id);
                match listed {
                    Some(listed) => listed.product_ids.extend(products.iter().cloned()),
                    None => changes.push(EventChange {
                        product_ids: products.clone(),
                        ..change
                    }),
                }
                if stop == Stop::AtFirst {
                    return Ok(changes);
                }
            }
        }
        Ok(changes)
    }
}

/// How much of a diff to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Every change.
    Never,
    /// The first change found (whether anything changed at all).
    AtFirst,
}

/// Whether two versions of a key, read at the same place of one customer's
/// stream, bill alike: the same record (the timestamp and customer are the
/// place's).
fn same(before: &StoredEvent, after: &StoredEvent) -> bool {
    before.record == after.record
}

fn place(event: &StoredEvent) -> (Timestamp, &RecordId) {
    (event.timestamp, event.record_id())
}

/// Merges two streams in (timestamp, record id) order into their changes:
/// first those found in place, then the keys found on one side only (by
/// record id: moved or deleted, then added). With [`Stop::AtFirst`], returns
/// as soon as one difference of any kind is seen: a key on one side only is
/// a change whether or not it moved.
async fn diff(
    mut before: BoxStream<'static, StoreResult<StoredEvent>>,
    mut after: BoxStream<'static, StoreResult<StoredEvent>>,
    stop: Stop,
) -> BillingResult<Vec<EventChange>> {
    let mut changes = Vec::new();
    let mut only_before: BTreeMap<RecordId, StoredEvent> = BTreeMap::new();
    let mut only_after: BTreeMap<RecordId, StoredEvent> = BTreeMap::new();
    let mut left = before.next().await.transpose()?;
    let mut right = after.next().await.transpose()?;
    loop {
        let side = match (left.take(), right.take()) {
            (None, None) => break,
            (Some(old), None) => {
                left = before.next().await.transpose()?;
                Side::Before(old)
            }
            (None, Some(new)) => {
                right = after.next().await.transpose()?;
                Side::After(new)
            }
            (Some(old), Some(new)) => match place(&old).cmp(&place(&new)) {
                std::cmp::Ordering::Less => {
                    left = before.next().await.transpose()?;
                    right = Some(new);
                    Side::Before(old)
                }
                std::cmp::Ordering::Greater => {
                    right = after.next().await.transpose()?;
                    left = Some(old);
                    Side::After(new)
                }
                std::cmp::Ordering::Equal => {
                    left = before.next().await.transpose()?;
                    right = after.next().await.transpose()?;
                    if same(&old, &new) {
                        continue;
                    }
                    Side::Both(old, new)
                }
            },
        };
        if stop == Stop::AtFirst {
            return Ok(vec![match side {
                Side::Before(old) => deleted(old),
                Side::After(new) => added(new),
                Side::Both(old, new) => changed(old, new),
            }]);
        }
        match side {
            Side::Before(old) => {
                only_before.insert(old.record_id().clone(), old);
            }
            Side::After(new) => {
                only_after.insert(new.record_id().clone(), new);
            }
            Side::Both(old, new) => changes.push(changed(old, new)),
        }
    }
    for (record_id, old) in only_before {
        match only_after.remove(&record_id) {
            Some(new) => changes.push(changed(old, new)),
            None => changes.push(deleted(old)),
        }
    }
    for new in only_after.into_values() {
        changes.push(added(new));
    }
    Ok(changes)
}

/// Where a step of the merge found a difference: a key on one side only, or
/// in place on both with another record.
enum Side {
    Before(StoredEvent),
    After(StoredEvent),
    Both(StoredEvent, StoredEvent),
}

fn added(after: StoredEvent) -> EventChange {
    EventChange {
        kind: EventChangeKind::Added,
        event_type: after.event_type.clone(),
        record_id: after.record_id().clone(),
        before: None,
        after: Some(after),
        product_ids: Vec::new(),
    }
}

fn deleted(before: StoredEvent) -> EventChange {
    EventChange {
        kind: EventChangeKind::Deleted,
        event_type: before.event_type.clone(),
        record_id: before.record_id().clone(),
        before: Some(before),
        after: None,
        product_ids: Vec::new(),
    }
}

fn changed(before: StoredEvent, after: StoredEvent) -> EventChange {
    EventChange {
        kind: EventChangeKind::Changed,
        event_type: after.event_type.clone(),
        record_id: after.record_id().clone(),
        before: Some(before),
        after: Some(after),
        product_ids: Vec::new(),
    }
}

/// Lines are matched by (type, product, price group): the invoice's in their
/// order, then those only the recomputation has.
fn line_changes(
    finalized: &[InvoiceLine],
    current: &[InvoiceLine],
) -> BillingResult<Vec<LineChange>> {
    let key = |line: &InvoiceLine| {
        (
            line.line_type,
            line.product_id.clone(),
            line.price_group.as_ref().map(|g| g.id.clone()),
        )
    };
    let mut out = Vec::with_capacity(finalized.len());
    for line in finalized {
        let now = current.iter().find(|c| key(c) == key(line));
        out.push(line_change(Some(line), now)?);
    }
    for line in current {
        if finalized.iter().all(|f| key(f) != key(line)) {
            out.push(line_change(None, Some(line))?);
        }
    }
    Ok(out)
}

fn delta_totals(
    finalized: &InvoiceTotals,
    current: &InvoiceTotals,
) -> BillingResult<InvoiceTotals> {
    let minus = |now: i64, then: i64| {
        now.checked_sub(then)
            .ok_or_else(|| BillingError::Evaluation("total delta overflows".into()))
    };
    Ok(InvoiceTotals {
        amount_excluding_tax: minus(current.amount_excluding_tax, finalized.amount_excluding_tax)?,
        tax_amount: minus(current.tax_amount, finalized.tax_amount)?,
        total_amount: minus(current.total_amount, finalized.total_amount)?,
    })
}

fn line_change(
    finalized: Option<&InvoiceLine>,
    current: Option<&InvoiceLine>,
) -> BillingResult<LineChange> {
    let Some(named) = finalized.or(current) else {
        return Err(BillingError::Evaluation(
            "a line change needs a line".into(),
        ));
    };
    let finalized_amount = finalized.map_or(0, |l| l.amount_excluding_tax);
    let current_amount = current.map_or(0, |l| l.amount_excluding_tax);
    let delta = current_amount
        .checked_sub(finalized_amount)
        .ok_or_else(|| BillingError::Evaluation("line delta overflows".into()))?;
    Ok(LineChange {
        line_type: named.line_type,
        product_id: named.product_id.clone(),
        price_group: named.price_group.clone(),
        finalized_quantity: finalized.and_then(|l| l.quantity),
        current_quantity: current.and_then(|l| l.quantity),
        finalized_amount,
        current_amount,
        delta,
    })
}
