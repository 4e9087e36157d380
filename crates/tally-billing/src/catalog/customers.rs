//! Customers (`cus_…`).

use rust_decimal::Decimal;
use tally_store::{
    AccountId, Customer, CustomerId, CustomerType, Page, StoreError, SubscriptionQuery,
};

use super::{check_currency, check_optional_text, check_tax_rate};
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::Pagination;
use crate::service::Billing;

/// A customer as created or replaced (`PUT` semantics: an absent field is unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CustomerRequest, example = json!({"external_id": "acme-42", "name": "Acme", "type": "corporate", "currency": "EUR", "tax_rate": "20"})))]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Unique in the account when set.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>))]
    pub external_id: Option<String>,
    /// A display name: non-blank, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>))]
    pub name: Option<String>,
    /// `corporate` (default) or `person`; `automatically_created` is kept by an
    /// update of such a customer but cannot be chosen otherwise.
    #[serde(default, rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::CustomerType>))]
    pub customer_type: Option<String>,
    /// ISO 4217, stored upper case.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::CurrencyCode>))]
    pub currency: Option<String>,
    /// Percent, 0..=100; a JSON string or number.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::PercentInput>, example = "20"))]
    pub tax_rate: Option<Decimal>,
}

impl Billing {
    /// Creates a customer. `Invalid` lists every problem of the input; `Conflict` when the
    /// external id is taken.
    pub async fn create_customer(
        &self,
        account: &AccountId,
        input: &CustomerInput,
    ) -> BillingResult<Customer> {
        let id = self.ids.with(CustomerId::generate);
        let customer = build_customer(id, input, None, self.now())?;
        let created = self.store.create_customer(account, &customer).await;
        created.map_err(|error| external_id_taken(error, &customer))
    }

    /// By `cus_` id or external id.
    pub async fn get_customer(
        &self,
        account: &AccountId,
        reference: &str,
    ) -> BillingResult<Customer> {
        self.find_customer(account, reference).await
    }

    /// The account's customers, oldest first. `Invalid` for an out-of-range page.
    pub async fn list_customers(
        &self,
        account: &AccountId,
        page: Pagination,
    ) -> BillingResult<Page<Customer>> {
        let page = page.to_page_request()?;
        Ok(self.store.list_customers(account, page).await?)
    }

    /// Replaces every field but the id and `created_at`. The currency cannot
    /// change while the customer has subscriptions (`Conflict`).
    pub async fn update_customer(
        &self,
        account: &AccountId,
        reference: &str,
        input: &CustomerInput,
    ) -> BillingResult<Customer> {
        let current = self.find_customer(account, reference).await?;
        let customer = build_customer(
            current.id,
            input,
            Some(current.customer_type),
            current.created_at,
        )?;
        if customer.currency != current.currency {
            let query = SubscriptionQuery {
                customer_id: Some(customer.id.clone()),
                page: tally_store::PageRequest { take: 1, skip: 0 },
            };
            if self.store.list_subscriptions(account, &query).await?.total > 0 {
                return Err(BillingError::conflict(
                    "customer",
                    "the customer has subscriptions: its currency is fixed",
                ));
            }
        }
        let updated = self.store.update_customer(account, &customer).await;
        updated.map_err(|error| external_id_taken(error, &customer))
    }

    /// Deletes a customer without subscriptions (`Conflict` otherwise); its events
    /// stay as history.
    pub async fn delete_customer(&self, account: &AccountId, reference: &str) -> BillingResult<()> {
        let customer = self.find_customer(account, reference).await?;
        let query = SubscriptionQuery {
            customer_id: Some(customer.id.clone()),
            page: tally_store::PageRequest { take: 1, skip: 0 },
        };
        if self.store.list_subscriptions(account, &query).await?.total > 0 {
            return Err(BillingError::conflict(
                "customer",
                "the customer has subscriptions",
            ));
        }
        Ok(self.store.delete_customer(account, &customer.id).await?)
    }
}

fn build_customer(
    id: CustomerId,
    input: &CustomerInput,
    current_type: Option<CustomerType>,
    created_at: tally_event::Timestamp,
) -> BillingResult<Customer> {
    let mut problems = Problems::default();
    if let Some(external_id) = &input.external_id {
        check_optional_text(external_id, "/external_id", &mut problems);
    }
    if let Some(name) = &input.name {
        check_optional_text(name, "/name", &mut problems);
    }
    let customer_type = customer_type(input.customer_type.as_deref(), current_type, &mut problems);
    let currency = input
        .currency
        .as_deref()
        .and_then(|code| check_currency(code, "/currency", &mut problems))
        .map(|currency| currency.code().to_owned());
    check_tax_rate(input.tax_rate, "/tax_rate", &mut problems);
    problems.finish()?;
    Ok(Customer {
        id,
        external_id: input.external_id.clone(),
        name: input.name.clone(),
        customer_type,
        currency,
        tax_rate: input.tax_rate.map(|rate| rate.normalize()),
        created_at,
    })
}

fn customer_type(
    text: Option<&str>,
    current: Option<CustomerType>,
    problems: &mut Problems,
) -> CustomerType {
    let Some(text) = text else {
        return current.unwrap_or(CustomerType::Corporate);
    };
    match CustomerType::parse(text) {
        Some(CustomerType::AutomaticallyCreated)
            if current == Some(CustomerType::AutomaticallyCreated) =>
        {
            CustomerType::AutomaticallyCreated
        }
        Some(CustomerType::AutomaticallyCreated) | None => {
            problems.push("/type", "invalid_value", "type must be corporate or person");
            CustomerType::Corporate
        }
        Some(chosen) => chosen,
    }
}

/// A unique violation on a customer write is its external id: the one unique
/// value a customer has besides its fresh id.
fn external_id_taken(error: StoreError, customer: &Customer) -> BillingError {
    match (error, &customer.external_id) {
        (StoreError::Conflict { .. }, Some(external_id)) => BillingError::Taken {
            what: "customer",
            path: "/external_id".to_owned(),
            message: format!("a customer with external_id `{external_id}` already exists"),
        },
        (error, _) => error.into(),
    }
}
