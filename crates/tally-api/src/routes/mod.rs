//! Handlers, one module per resource. Each is thin: extract, call `tally-billing`,
//! convert to the wire type.

pub mod aggregators;
pub mod changes;
pub mod consumption;
pub mod customers;
pub mod enums;
pub mod events;
pub mod exports;
pub mod features;
pub mod invoices;
pub mod portal;
pub mod prices;
pub mod products;
pub mod settings;
pub mod subscriptions;
pub mod system;
pub mod usage;
pub mod versions;
pub mod webhooks;
pub mod wire;

use serde::Deserialize;
use tally_billing::Pagination;
use tally_store::PageRequest;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Every authenticated route.
pub fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(events::routes())
        .merge(versions::routes())
        .merge(prices::routes())
        .merge(customers::routes())
        .merge(portal::routes())
        .merge(aggregators::routes())
        .merge(products::routes())
        .merge(subscriptions::routes())
        .merge(usage::routes())
        .merge(exports::routes())
        .merge(invoices::routes())
        .merge(changes::routes())
        .merge(consumption::routes())
        .merge(settings::routes())
        .merge(features::routes())
        .merge(webhooks::routes())
}

/// `take` (0..=100, default 50) and `skip` (≥ 0, default 0); out of range is a 400.
#[derive(Debug, Default, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 0..=100, default 50.
    #[param(minimum = 0, maximum = 100)]
    pub take: Option<i64>,
    /// ≥ 0, default 0.
    #[param(minimum = 0)]
    pub skip: Option<i64>,
}

impl From<PageQuery> for Pagination {
    fn from(query: PageQuery) -> Self {
        Pagination {
            take: query.take,
            skip: query.skip,
        }
    }
}

/// The page a `Pagination` stands for, for the `meta` block of a response whose
/// use case already validated it.
pub fn page_request(page: Pagination) -> PageRequest {
    page.to_page_request().unwrap_or_default()
}

pub async fn route_not_found() -> ApiError {
    ApiError::new(ErrorCode::RouteNotFound, "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}
