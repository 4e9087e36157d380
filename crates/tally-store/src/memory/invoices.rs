//! `InvoiceStore` for `MemoryStore`: the per-account counter lives in the
//! tenant, bumped under the store's one mutex.

use async_trait::async_trait;

use super::MemoryStore;
use super::catalog::{get, insert_new};
use super::webhooks::record_events;
use crate::catalog::{
    INVOICE_PERIOD_TAKEN, Invoice, InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceUpdate,
    NewInvoice,
};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, InvoiceId, SubscriptionId};
use crate::page::Page;
use crate::traits::InvoiceStore;
use crate::webhooks::InvoiceEvents;
use tally_event::Period;

#[async_trait]
impl InvoiceStore for MemoryStore {
    async fn create_invoice_with_events(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        self.with_tenant(account, |t| {
            if period_taken(t.invoices.values(), invoice) {
                return Err(StoreError::conflict("invoice", INVOICE_PERIOD_TAKEN));
            }
            if t.invoices.contains_key(&invoice.id) {
                return Err(StoreError::conflict("invoice", "id already exists"));
            }
            let number = InvoiceNumber(t.last_invoice_number + 1);
            let created = Invoice::from_new(invoice, number);
            // The events first: a refused one leaves the invoice unwritten.
            record_events(t, events(&created))?;
            let stored = insert_new(&mut t.invoices, &invoice.id, &created, "invoice")?;
            t.last_invoice_number = number.0;
            Ok(stored)
        })
    }

    /// Under the one lock; a failure undoes what the batch wrote.
    async fn create_invoices_with_events(
        &self,
        account: &AccountId,
        invoices: &[NewInvoice],
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Vec<StoreResult<Invoice>>> {
        self.with_tenant(account, |t| {
            let (number_before, outbox_before) = (t.last_invoice_number, t.webhook_events.len());
            let mut inserted = Vec::new();
            let mut created = Vec::with_capacity(invoices.len());
            for invoice in invoices {
                if period_taken(t.invoices.values(), invoice) {
                    created.push(Err(StoreError::conflict("invoice", INVOICE_PERIOD_TAKEN)));
                    continue;
                }
                let number = InvoiceNumber(t.last_invoice_number + 1);
                let new = Invoice::from_new(invoice, number);
                let stored = if t.invoices.contains_key(&invoice.id) {
                    Err(StoreError::conflict("invoice", "id already exists"))
                } else {
                    record_events(t, events(&new))
                        .and_then(|()| insert_new(&mut t.invoices, &invoice.id, &new, "invoice"))
                };
                match stored {
                    Ok(stored) => {
                        t.last_invoice_number = number.0;
                        inserted.push(invoice.id.clone());
                        created.push(Ok(stored));
                    }
                    Err(error) => {
                        for id in &inserted {
                            t.invoices.remove(id);
                        }
                        t.webhook_events.truncate(outbox_before);
                        t.last_invoice_number = number_before;
                        return Err(error);
                    }
                }
            }
            Ok(created)
        })
    }

    async fn get_invoice(&self, account: &AccountId, id: &InvoiceId) -> StoreResult<Invoice> {
        self.with_tenant(account, |t| get(&t.invoices, id, "invoice"))
    }

    async fn find_invoice(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> StoreResult<Option<Invoice>> {
        self.with_tenant(account, |t| {
            Ok(t.invoices
                .values()
                .find(|i| i.subscription_id.as_ref() == Some(subscription) && i.period == period)
                .cloned())
        })
    }

    async fn list_invoices(
        &self,
        account: &AccountId,
        query: &InvoiceQuery,
    ) -> StoreResult<Page<Invoice>> {
        query.page.check()?;
        self.with_tenant(account, |t| {
            let mut all: Vec<Invoice> = t
                .invoices
                .values()
                .filter(|i| invoice_matches(query, i))
                .cloned()
                .collect();
            all.sort_by_key(|i| std::cmp::Reverse(i.number));
            Ok(Page::slice(all, query.page))
        })
    }

    async fn update_invoice_with_events(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        self.with_tenant(account, |t| {
            let slot = t.invoices.get(id).ok_or(StoreError::not_found("invoice"))?;
            if slot.status == InvoiceStatus::Finalized {
                return Err(StoreError::conflict(
                    "invoice",
                    "finalized invoices are frozen",
                ));
            }
            let mut updated = slot.clone();
            updated.status = update.status;
            updated.lines = update.lines.clone();
            updated.totals = update.totals.clone();
            updated.known_seq = update.known_seq;
            updated.basis = update.basis.clone();
            updated.finalized_at = update.finalized_at;
            record_events(t, events(&updated))?;
            t.invoices.insert(id.clone(), updated.clone());
            Ok(updated)
        })
    }
}

/// The rule of the SQL backends' unique index: one invoice per (subscription,
/// period); invoices without a subscription never collide.
fn period_taken<'a>(mut stored: impl Iterator<Item = &'a Invoice>, new: &NewInvoice) -> bool {
    new.subscription_id.is_some()
        && stored.any(|i| i.subscription_id == new.subscription_id && i.period == new.period)
}

fn invoice_matches(query: &InvoiceQuery, invoice: &Invoice) -> bool {
    query
        .subscription_id
        .as_ref()
        .is_none_or(|s| invoice.subscription_id.as_ref() == Some(s))
        && query
            .customer_id
            .as_ref()
            .is_none_or(|c| *c == invoice.customer_id)
}
