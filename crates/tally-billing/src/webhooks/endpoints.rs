//! Webhook endpoints (`we_…`): create, read, list, change, delete.

use serde::Deserialize;
use tally_store::{AccountId, Page, WebhookEndpoint, WebhookEndpointId, WebhookEventType};

use super::address::{AddressError, EndpointUrl, LOOKUP_TIMEOUT};
use super::signing::WebhookSecret;
use crate::catalog::check_optional_text;
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::Pagination;
use crate::service::Billing;

/// Longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// A new endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WebhookEndpointRequest, example = json!({"description": "billing events", "url": "https://example.com/webhooks/tally", "event_types": ["invoice.created", "invoice.finalized"]})))]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointInput {
    /// Free text, at most 255 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>))]
    pub description: Option<String>,
    /// Where messages are posted: `http` or `https`, at most 2048 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::WebhookUrl))]
    pub url: String,
    /// The signing secret, `whsec_` and the base64 of a 16 to 64 byte key;
    /// generated when left out. Shown in the answer to the create only.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::WebhookSecretText>))]
    pub secret: Option<String>,
    /// The events sent to the endpoint: at least one type, each once.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::WebhookEventTypes))]
    pub event_types: Vec<String>,
}

/// A change to an endpoint: the fields sent replace the stored ones;
/// `description: null` removes the description.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WebhookEndpointPatch, example = json!({"event_types": ["invoice.finalized"]})))]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    /// Free text, at most 255 characters; `null` removes it.
    #[serde(default, deserialize_with = "crate::input::present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::NameText>, nullable))]
    pub description: Option<Option<String>>,
    /// Where messages are posted.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::WebhookUrl>))]
    pub url: Option<String>,
    /// A new signing secret (rotation): later messages are signed with it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::WebhookSecretText>))]
    pub secret: Option<String>,
    /// The events sent to the endpoint from now on.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::WebhookEventTypes>))]
    pub event_types: Option<Vec<String>>,
}

impl Billing {
    /// Registers an endpoint. `Invalid` lists every problem: a URL that is
    /// not `http(s)`, or names or resolves to a private address (unless
    /// allowed), a secret that is not `whsec_…`, unknown or repeated event
    /// types. The endpoint returned carries its secret: the API shows it in
    /// this answer only.
    pub async fn create_webhook_endpoint(
        &self,
        account: &AccountId,
        input: &WebhookEndpointInput,
    ) -> BillingResult<WebhookEndpoint> {
        let mut problems = Problems::default();
        let description = check_description(input.description.as_deref(), &mut problems);
        let url = self.check_url(&input.url, &mut problems).await;
        let secret = match &input.secret {
            Some(text) => check_secret(text, &mut problems),
            None => Some(self.ids.with(WebhookSecret::generate)),
        };
        let event_types = check_event_types(&input.event_types, &mut problems);
        let now = self.now();
        let endpoint = problems.finish_with(url.zip(secret).zip(event_types).map(
            |((url, secret), event_types)| WebhookEndpoint {
                id: self.ids.with(WebhookEndpointId::generate),
                description,
                url,
                secret: secret.as_str().to_owned(),
                event_types,
                created_at: now,
                updated_at: now,
            },
        ))?;
        Ok(self
            .store
            .create_webhook_endpoint(account, &endpoint)
            .await?)
    }

    /// The endpoint; an id that does not parse is `NotFound`.
    pub async fn get_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<WebhookEndpoint> {
        let id = endpoint_id(id)?;
        Ok(self.store.get_webhook_endpoint(account, &id).await?)
    }

    /// The account's endpoints, oldest first.
    pub async fn list_webhook_endpoints(
        &self,
        account: &AccountId,
        page: Pagination,
    ) -> BillingResult<Page<WebhookEndpoint>> {
        let page = page.to_page_request()?;
        Ok(self.store.list_webhook_endpoints(account, page).await?)
    }

    /// Changes the fields `patch` sends, checked as on creation.
    pub async fn update_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &str,
        patch: &WebhookEndpointPatch,
    ) -> BillingResult<WebhookEndpoint> {
        let mut endpoint = self.get_webhook_endpoint(account, id).await?;
        let mut problems = Problems::default();
        if let Some(description) = &patch.description {
            endpoint.description = check_description(description.as_deref(), &mut problems);
        }
        if let Some(url) = &patch.url
            && let Some(url) = self.check_url(url, &mut problems).await
        {
            endpoint.url = url;
        }
        if let Some(secret) = patch
            .secret
            .as_deref()
            .and_then(|s| check_secret(s, &mut problems))
        {
            endpoint.secret = secret.as_str().to_owned();
        }
        if let Some(types) = &patch.event_types
            && let Some(types) = check_event_types(types, &mut problems)
        {
            endpoint.event_types = types;
        }
        problems.finish()?;
        endpoint.updated_at = self.now();
        Ok(self
            .store
            .update_webhook_endpoint(account, &endpoint)
            .await?)
    }

    /// Deletes the endpoint and its messages.
    pub async fn delete_webhook_endpoint(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<()> {
        let id = endpoint_id(id)?;
        Ok(self.store.delete_webhook_endpoint(account, &id).await?)
    }

    /// The URL if it may be an endpoint's. A host name is looked up: one
    /// that resolves to a refused address is refused; one that does not
    /// resolve now is taken (delivery looks it up again, and refuses then).
    async fn check_url(&self, text: &str, problems: &mut Problems) -> Option<String> {
        let allow_private = self.webhooks.allow_private_urls;
        if text.chars().count() > MAX_URL_CHARS {
            problems.push("/url", "too_long", "must be at most 2048 characters");
            return None;
        }
        let url = match EndpointUrl::parse(text, allow_private) {
            Ok(url) => url,
            Err(error) => {
                problems.push("/url", url_code(&error), error.to_string());
                return None;
            }
        };
        match url.resolve(allow_private, LOOKUP_TIMEOUT).await {
            Err(error @ AddressError::Private(_)) => {
                problems.push("/url", url_code(&error), error.to_string());
                None
            }
            Ok(_) | Err(_) => Some(url.url().to_string()),
        }
    }
}

fn endpoint_id(id: &str) -> BillingResult<WebhookEndpointId> {
    WebhookEndpointId::parse(id).map_err(|_| BillingError::not_found("webhook endpoint"))
}

fn url_code(error: &AddressError) -> &'static str {
    match error {
        AddressError::Private(_) => "private_address",
        _ => "invalid_url",
    }
}

fn check_description(text: Option<&str>, problems: &mut Problems) -> Option<String> {
    let text = text?;
    check_optional_text(text, "/description", problems);
    Some(text.to_owned())
}

fn check_secret(text: &str, problems: &mut Problems) -> Option<WebhookSecret> {
    WebhookSecret::parse(text)
        .map_err(|error| problems.push("/secret", "invalid_secret", error.to_string()))
        .ok()
}

fn check_event_types(names: &[String], problems: &mut Problems) -> Option<Vec<WebhookEventType>> {
    if names.is_empty() {
        problems.push("/event_types", "empty", "must name at least one event type");
        return None;
    }
    let mut types = Vec::with_capacity(names.len());
    let mut valid = true;
    for (index, name) in names.iter().enumerate() {
        let path = format!("/event_types/{index}");
        match WebhookEventType::parse(name) {
            Some(event_type) if types.contains(&event_type) => {
                problems.push(path, "duplicate", format!("{name} is listed twice"));
                valid = false;
            }
            Some(event_type) => types.push(event_type),
            None => {
                let known: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
                problems.push(
                    path,
                    "unknown_event_type",
                    format!("unknown event type; one of {}", known.join(", ")),
                );
                valid = false;
            }
        }
    }
    valid.then_some(types)
}
