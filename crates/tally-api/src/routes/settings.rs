//! `/v1/settings`: the account's ingestion settings (docs/billing.md,
//! "Account settings").

use serde::Serialize;
use tally_billing::AccountSettings;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::middleware::Account;
use crate::state::AppState;
use axum::extract::State;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

/// The account's settings, every one with its value (defaults included).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsView {
    /// What ingestion does with personal data: `off`, `warn`, `mask` or `reject`.
    pub pii_policy: String,
    /// How far ahead of now an event timestamp may be, in milliseconds; 0: no limit.
    pub max_future_skew_ms: u64,
    /// Whether an event naming an unknown customer creates it.
    pub auto_create_customers: bool,
}

impl From<AccountSettings> for SettingsView {
    fn from(settings: AccountSettings) -> Self {
        SettingsView {
            pii_policy: settings.pii_policy.as_str().to_owned(),
            max_future_skew_ms: settings.max_future_skew_ms,
            auto_create_customers: settings.auto_create_customers,
        }
    }
}

/// `PATCH /v1/settings`: the settings to set, `null` putting one back to
/// its default. The body is read as JSON by billing, which reports every
/// problem at once; this type only describes it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SettingsPatch {
    #[schema(value_type = Option<crate::routes::enums::PiiPolicy>)]
    pii_policy: Option<String>,
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    max_future_skew_ms: Option<u64>,
    auto_create_customers: Option<bool>,
}

/// The account's settings.
#[utoipa::path(get, path = "/v1/settings", tag = "settings",
    responses((status = 200, description = "the settings", body = SettingsView)))]
pub async fn get_settings(
    State(state): State<AppState>,
    Account(account): Account,
) -> ApiResult<axum::Json<SettingsView>> {
    let settings = state.billing().account_settings(&account).await?;
    Ok(axum::Json(settings.into()))
}

/// Change some settings: an object of the settings to set (`null` puts one
/// back to its default); any other key is a 400 `unknown_field`.
#[utoipa::path(patch, path = "/v1/settings", tag = "settings",
    request_body(content = SettingsPatch, example = json!({"pii_policy": "mask"})),
    responses(
        (status = 200, description = "the settings after the change", body = SettingsView),
        (status = 400, description = "an unknown setting or an invalid value, every problem listed", body = ErrorBody)))]
pub async fn update_settings(
    State(state): State<AppState>,
    Account(account): Account,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<axum::Json<SettingsView>> {
    let settings = state
        .billing()
        .update_account_settings(&account, &patch)
        .await?;
    Ok(axum::Json(settings.into()))
}
