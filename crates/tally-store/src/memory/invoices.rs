//! `InvoiceStore` for `MemoryStore`: the per-account counter lives in the
//! tenant, bumped under the store's one mutex.

use async_trait::async_trait;

use super::MemoryStore;
use super::catalog::{get, insert_new};
use crate::catalog::{
    INVOICE_PERIOD_TAKEN, Invoice, InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceUpdate,
    NewInvoice,
};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, InvoiceId, SubscriptionId};
use crate::page::Page;
use crate::traits::InvoiceStore;
use tally_event::Period;

#[async_trait]
impl InvoiceStore for MemoryStore {
    async fn create_invoice(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
    ) -> StoreResult<Invoice> {
        self.with_tenant(account, |t| {
            if period_taken(t.invoices.values(), invoice) {
                return Err(StoreError::conflict("invoice", INVOICE_PERIOD_TAKEN));
            }
            let number = InvoiceNumber(t.last_invoice_number + 1);
            let created = Invoice::from_new(invoice, number);
            let stored = insert_new(&mut t.invoices, &invoice.id, &created, "invoice")?;
            t.last_invoice_number = number.0;
            Ok(stored)
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

    async fn update_invoice(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
    ) -> StoreResult<Invoice> {
        self.with_tenant(account, |t| {
            let slot = t
                .invoices
                .get_mut(id)
                .ok_or(StoreError::not_found("invoice"))?;
            if slot.status == InvoiceStatus::Finalized {
                return Err(StoreError::conflict(
                    "invoice",
                    "finalized invoices are frozen",
                ));
            }
            slot.status = update.status;
            slot.lines = update.lines.clone();
            slot.totals = update.totals.clone();
            slot.known_seq = update.known_seq;
            slot.basis = update.basis.clone();
            slot.finalized_at = update.finalized_at;
            Ok(slot.clone())
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
