//! Extractors whose every rejection is an [`ApiError`], so malformed JSON, a wrong
//! content type, an oversized body or a bad query parameter get the same error
//! shape as any other failure.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::error::{ApiError, ErrorCode, FieldError};

/// A JSON body deserialized into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The raw bytes of a JSON body (content type and size checked, syntax not):
/// for event ingestion, where `tally-event` validates everything at once.
#[derive(Debug, Clone)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "expected a body with content-type application/json",
            ));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        Ok(JsonBytes(bytes))
    }
}

/// The raw bytes of a body whose content type the handler checks itself (an
/// optional body may come with none), read under the same limit and with the same
/// rejections as [`JsonBytes`].
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
            } else {
                ApiError::new(ErrorCode::InvalidRequest, "cannot read the request body")
            }
        })?;
        Ok(RawBody(bytes))
    }
}

pub(crate) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5 && essence.to_ascii_lowercase().ends_with("+json"))
}

/// Deserializes a JSON body, telling syntax errors (`malformed_json`) from shape
/// errors (`invalid_request`, with the JSON pointer of the offending value).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The plain parse is the fast path; the path-tracking one runs only to
    // explain a failure.
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => Err(explain_json_error::<T>(bytes)),
    }
}

fn explain_json_error<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(error) => error,
        // The value parsed: what failed is the text after it.
        Ok(_) => {
            let detail = deserializer
                .end()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return ApiError::new(
                ErrorCode::MalformedJson,
                format!("malformed json: {detail}"),
            );
        }
    };
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::new(ErrorCode::MalformedJson, format!("malformed json: {inner}"));
    }
    let path = pointer(error.path());
    let message = inner.to_string();
    let field = match unknown_field(&message) {
        Some((name, known)) => {
            // The path may or may not already name the field.
            let suffix = format!("/{}", name.replace('~', "~0").replace('/', "~1"));
            let path = if path.ends_with(&suffix) {
                path
            } else {
                format!("{path}{suffix}")
            };
            let message = unknown_field_message("field", &name, &known);
            FieldError::new(path, "unknown_field", message)
        }
        None => FieldError::new(path, "invalid_value", plain(&message)),
    };
    ApiError::invalid(
        "the request body does not have the expected shape",
        vec![field],
    )
}

/// serde's message in plain words: no position in the text (the path says
/// where), and the types named as a JSON sender knows them.
fn plain(message: &str) -> String {
    let without_position = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    let worded = without_position
        .replace(
            "a Decimal type representing a fixed-point number",
            "a decimal number (a JSON number or a numeric string)",
        )
        .replace("invalid type: ", "wrong type: got ");
    let worded = match worded.split_once(", expected ") {
        Some((got, expected)) if worded.starts_with("wrong type") => {
            format!(
                "expected {expected}, {}",
                got.trim_start_matches("wrong type: ")
            )
        }
        _ => worded,
    };
    // serde's data model names JSON arrays and objects sequences and maps.
    worded
        .replace("a sequence", "an array")
        .replace("got sequence", "got an array")
        .replace("a map", "an object")
        .replace("got map", "got an object")
}

/// The name and the expected names of serde's `deny_unknown_fields` error
/// ("unknown field `max_amout`, expected one of `name`, `max_amount`" or
/// "…, expected `name`" or "…, there are no fields").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((name.to_owned(), known))
}

/// A serde path as a JSON pointer (`/price_groups/0/price`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// Query parameters deserialized into `T`; a failure names the parameter. A
/// parameter `T` does not declare (its OpenAPI parameters, so the document
/// and the check agree) is refused, every one at once: `unknown_field` at
/// `/name`, with the closest declared name when one is close.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + IntoParams,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let declared: Vec<String> = T::into_params(|| Some(ParameterIn::Query))
            .into_iter()
            .map(|parameter| parameter.name)
            .collect();
        let mut unknown: Vec<FieldError> = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            let path = format!("/{name}");
            if !declared.iter().any(|d| *d == name) && unknown.iter().all(|f| f.path != path) {
                let message = unknown_field_message("query parameter", &name, &declared);
                unknown.push(FieldError::new(path, "unknown_field", message));
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::invalid("unknown query parameters", unknown));
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let name = error.path().to_string();
                let message = format!("{name}: {}", error.inner());
                let field = FieldError::new(format!("/{name}"), "invalid_value", message);
                ApiError::invalid("invalid query parameters", vec![field])
            })
    }
}

/// "unknown {what} `name`", with the closest of `known` when one is close
/// (an edit or two away, or the same letters in another case).
pub(crate) fn unknown_field_message(what: &str, name: &str, known: &[String]) -> String {
    let closest = known
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(
                &name.to_ascii_lowercase(),
                &candidate.to_ascii_lowercase(),
            );
            (distance, candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, candidate)) => format!("unknown {what} `{name}`: did you mean `{candidate}`?"),
        None if known.is_empty() => format!("unknown {what} `{name}`: none is accepted here"),
        None => format!(
            "unknown {what} `{name}`: expected one of {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Path parameters; a segment that does not decode names no object (404).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|_| ApiError::new(ErrorCode::NotFound, "not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        count: u32,
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let error = parse_json::<Shape>(br#"{"items": [{"count": 1}, {"count": "x"}]}"#)
            .err()
            .map(|e| e.body());
        let body = error.unwrap_or_else(|| panic!("expected an error"));
        assert_eq!(body.code, "invalid_request");
        assert_eq!(body.errors[0].path, "/items/1/count");
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for input in [&b"{"[..], b"{\"items\": [}", br#"{"items": []} trailing"#] {
            let code = parse_json::<Shape>(input).err().map(|e| e.code());
            assert_eq!(code, Some(ErrorCode::MalformedJson), "{input:?}");
        }
    }
}
