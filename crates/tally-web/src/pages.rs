//! One customer's pages and downloads, whoever opens them: the portal (the
//! customer, through a signed link) and the operator console (anyone signed
//! in to the account) serve the same handlers under their own base path.
//!
//! Every subscription or invoice named in a path is checked to be the
//! customer's before anything is read; another customer's answers the same
//! `404` as one that does not exist.

use axum::http::StatusCode;
use axum::response::Response;
use tally_billing::{Billing, BillingError, BillingResult, ConsumptionScope, DateRange};
use tally_store::{AccountId, CustomerId};

use crate::explorer::{self, ExplorerQuery};
use crate::{download, html, render, view};

/// Whose pages, and where their links start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPages {
    /// The account the customer belongs to.
    pub account: AccountId,
    /// The customer shown (`cus_…`).
    pub customer: CustomerId,
    /// The path every link of the pages starts with, without a trailing `/`
    /// (`/portal/{token}`).
    pub base: String,
}

impl CustomerPages {
    /// `GET {base}`: subscriptions with their current period, and invoices.
    pub async fn home(&self, billing: &Billing) -> Response {
        match view::load(billing, &self.account, &self.customer).await {
            Ok(view) => html(StatusCode::OK, render::portal(&view, &self.base)),
            Err(BillingError::NotFound { .. }) => html(StatusCode::NOT_FOUND, render::gone()),
            Err(error) => self.failure(error),
        }
    }

    /// `GET {base}/subscriptions/{id}`: the explorer of its current period.
    pub async fn subscription(
        &self,
        billing: &Billing,
        id: &str,
        query: ExplorerQuery,
    ) -> Response {
        let here = format!("{}/subscriptions/{id}", self.base);
        let view = explorer::subscription(billing, &self.account, &self.customer, id, query).await;
        self.explorer(view, &here)
    }

    /// `GET {base}/invoices/{id}`: the invoice's lines and its explorer.
    pub async fn invoice(&self, billing: &Billing, id: &str, query: ExplorerQuery) -> Response {
        let here = format!("{}/invoices/{id}", self.base);
        let view = explorer::invoice(billing, &self.account, &self.customer, id, query).await;
        self.explorer(view, &here)
    }

    /// `GET {base}/subscriptions/{id}/products/{product}/events.csv`: the
    /// current period's CSV of one usage product.
    pub async fn subscription_csv(&self, billing: &Billing, id: &str, product: &str) -> Response {
        let export = async {
            let subscription = self.own_subscription(billing, id).await?;
            let scope = billing
                .subscription_scope(&self.account, &subscription, &DateRange::default())
                .await?;
            billing.product_csv(&self.account, &scope, product).await
        };
        match export.await {
            Ok(export) => download::csv(export, product),
            Err(error) => self.failure(error),
        }
    }

    /// `GET {base}/invoices/{id}/products/{product}/events.csv`.
    pub async fn invoice_csv(&self, billing: &Billing, id: &str, product: &str) -> Response {
        let export = async {
            let scope = self.own_invoice(billing, id).await?;
            billing.product_csv(&self.account, &scope, product).await
        };
        match export.await {
            Ok(export) => download::csv(export, product),
            Err(error) => self.failure(error),
        }
    }

    /// `GET {base}/invoices/{id}/events.zip`: `events-{number}.zip`.
    pub async fn invoice_zip(&self, billing: &Billing, id: &str) -> Response {
        let export = async {
            let scope = self.own_invoice(billing, id).await?;
            billing.scope_zip(&self.account, &scope).await
        };
        match export.await {
            Ok(export) => download::zip(export),
            Err(error) => self.failure(error),
        }
    }

    async fn own_subscription(&self, billing: &Billing, id: &str) -> BillingResult<String> {
        let subscription = billing.get_subscription(&self.account, id).await?;
        if subscription.customer_id != self.customer {
            return Err(BillingError::not_found("subscription"));
        }
        Ok(subscription.id.to_string())
    }

    /// The scope of invoice `id`, which must be the customer's.
    async fn own_invoice(&self, billing: &Billing, id: &str) -> BillingResult<ConsumptionScope> {
        let (_, scope) = billing
            .explained_invoice(&self.account, id, Some(&self.customer))
            .await?;
        Ok(scope)
    }

    fn explorer(&self, view: BillingResult<explorer::ExplorerView>, here: &str) -> Response {
        match view {
            Ok(view) => html(StatusCode::OK, render::explorer(&view, &self.base, here)),
            Err(error) => self.failure(error),
        }
    }

    /// A page for what went wrong: the customer sees what it may know
    /// (nothing of another customer), the log the cause of a failure.
    fn failure(&self, error: BillingError) -> Response {
        match error {
            BillingError::NotFound { .. } => html(StatusCode::NOT_FOUND, render::not_found()),
            BillingError::Invalid(problems) => {
                let problems: Vec<(String, String)> = problems
                    .into_iter()
                    .map(|problem| (problem.path, problem.message))
                    .collect();
                html(
                    StatusCode::BAD_REQUEST,
                    render::bad_request(&problems, &self.base),
                )
            }
            error => {
                tracing::warn!(%error, "customer page not read");
                html(StatusCode::SERVICE_UNAVAILABLE, render::unavailable())
            }
        }
    }
}
