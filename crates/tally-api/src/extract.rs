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

/// A JSON object body deserialized into `T`. Only an object: serde would
/// also read a struct from an array of its fields in order (`[null, null]`),
/// which no client means and the document does not allow.
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
        require_an_object(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Refuses a body that is not a JSON object: `malformed_json` when it is not
/// JSON, else `invalid_type` at `""` (as an event body's own check says).
pub(crate) fn require_an_object(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(());
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(error) => Err(ApiError::malformed_json(error)),
        Ok(_) => Err(ApiError::wrong_shape(vec![FieldError::new(
            "",
            "invalid_type",
            "the body must be a JSON object",
        )])),
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
            return Err(ApiError::unsupported_media_type());
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
                ApiError::payload_too_large()
            } else {
                ApiError::unreadable_body()
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

/// Most problems one body reports: past it, the rest can wait for the next try.
const MAX_SHAPE_PROBLEMS: usize = 50;

/// Largest body whose problems are all looked for (each costs a read of it).
const MAX_REREAD_BYTES: usize = 64 * 1024;

/// Every shape problem of a body at once: after each one, the offending value
/// is taken out (an object's key or an array's item) and the body read again,
/// until it reads or nothing more can be taken out. Paths are reported as
/// sent, whatever items were taken out before them.
fn explain_json_error<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    let mut value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(error) => {
            return ApiError::malformed_json(error);
        }
    };
    let mut problems: Vec<FieldError> = Vec::new();
    let mut removed_items: Vec<(String, usize)> = Vec::new();
    // Each round reads the whole body again: a large one reports its first
    // problem only, so that a bad body cannot cost many parses of a megabyte.
    let rounds = if bytes.len() <= MAX_REREAD_BYTES {
        MAX_SHAPE_PROBLEMS
    } else {
        1
    };
    for _ in 0..rounds {
        let Err(error) = serde_path_to_error::deserialize::<_, T>(&value) else {
            break;
        };
        let mut problem = shape_problem(&error);
        let current_path = problem.path.clone();
        problem.path = as_sent(&current_path, &removed_items);
        // A value taken out and now missing is the problem already reported:
        // the object holding it goes instead, so the rest can still be read.
        let reported = problems.iter().any(|known| known.path == problem.path);
        let taken_out = match current_path.rsplit_once('/') {
            Some((holder, _)) if reported => take_out(&mut value, holder, &mut removed_items),
            _ => take_out(&mut value, &current_path, &mut removed_items),
        };
        if !reported {
            problems.push(problem);
        }
        if !taken_out {
            break;
        }
    }
    if problems.is_empty() {
        // Read as a tree, the body fits: what failed is only seen in the text.
        return explain_first_json_error::<T>(bytes);
    }
    ApiError::wrong_shape(problems)
}

/// A pointer into the body as it is now, as a pointer into the body as sent:
/// each item taken out of an array before moves the later indexes back up.
fn as_sent(pointer: &str, removed_items: &[(String, usize)]) -> String {
    let mut pointer = pointer.to_owned();
    for (array, index) in removed_items.iter().rev() {
        let Some(rest) = pointer.strip_prefix(&format!("{array}/")) else {
            continue;
        };
        let (segment, tail) = rest.split_once('/').map_or((rest, ""), |(s, t)| (s, t));
        if let Ok(at) = segment.parse::<usize>() {
            if at >= *index {
                let tail = if tail.is_empty() {
                    String::new()
                } else {
                    format!("/{tail}")
                };
                pointer = format!("{array}/{}{tail}", at + 1);
            }
        }
    }
    pointer
}

/// One serde failure as a problem at its JSON pointer.
fn shape_problem(error: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = pointer(error.path());
    let message = error.inner().to_string();
    if let Some(name) = missing_field(&message) {
        let path = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
        return FieldError::new(path, "required", "this field is required");
    }
    match unknown_field(&message) {
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
    }
}

/// Removes the value at `pointer` (a pointer into the body as it is now),
/// recording an array item's removal; false when there is none.
fn take_out(
    value: &mut serde_json::Value,
    pointer: &str,
    removed_items: &mut Vec<(String, usize)>,
) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(serde_json::Value::Object(object)) => object.remove(&key).is_some(),
        Some(serde_json::Value::Array(items)) => match key.parse::<usize>() {
            Ok(index) if index < items.len() => {
                items.remove(index);
                removed_items.push((parent.to_owned(), index));
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The first failure, read from the text (a failure only the text shows, such
/// as a duplicate key).
fn explain_first_json_error<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
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
            return ApiError::malformed_json(detail);
        }
    };
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::malformed_json(inner);
    }
    ApiError::wrong_shape(vec![shape_problem(&error)])
}

/// serde's message in plain words: no position in the text (the path says
/// where), and the types named as a JSON sender knows them.
pub(crate) fn plain(message: &str) -> String {
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
        // A number read from a tree (exact decimals on) is named, not shown.
        .replace("got number", "got a number")
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

/// The name in serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(name, _)| name)
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Customer {
        name: Option<String>,
        tax_rate: Option<rust_decimal::Decimal>,
        tags: Option<Vec<u32>>,
        limit: u32,
    }

    #[test]
    fn every_shape_problem_comes_back_at_once() {
        let body = br#"{"name": 5, "tax_rte": "20", "tax_rate": true, "tags": [1, "x", 3, "y"], "limit": 1}"#;
        let error = parse_json::<Customer>(body).err().map(|e| e.body());
        let body = error.unwrap_or_else(|| panic!("expected an error"));
        let found: Vec<(&str, &str)> = body
            .errors
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        // In the order the fields are read, which is not the order sent.
        let mut sorted = found.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                ("/name", "invalid_value"),
                ("/tags/1", "invalid_value"),
                ("/tags/3", "invalid_value"),
                ("/tax_rate", "invalid_value"),
                ("/tax_rte", "unknown_field"),
            ]
        );
        let message = |path: &str| {
            let found = body.errors.iter().find(|e| e.path == path);
            found.map(|e| e.message.clone()).unwrap_or_default()
        };
        assert!(message("/tax_rte").contains("did you mean `tax_rate`"));
        assert!(
            message("/tax_rate").starts_with("expected a decimal number"),
            "{}",
            message("/tax_rate")
        );
    }

    #[test]
    fn a_required_field_of_the_wrong_type_is_reported_once() {
        let error = parse_json::<Customer>(br#"{"limit": "many", "name": "ok"}"#)
            .err()
            .map(|e| e.body());
        let body = error.unwrap_or_else(|| panic!("expected an error"));
        let paths: Vec<&str> = body.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/limit"], "its removal is not a second problem");
        let missing = parse_json::<Customer>(br#"{"name": 1}"#)
            .err()
            .map(|e| e.body());
        let missing = missing.unwrap_or_else(|| panic!("expected an error"));
        let found: Vec<(&str, &str)> = missing
            .errors
            .iter()
            .map(|e| (e.path.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(found, [("/name", "invalid_value"), ("/limit", "required")]);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Filters {
        filters: Vec<Named>,
        limit: Option<u32>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        name: String,
    }

    #[test]
    fn a_required_field_of_an_item_does_not_hide_the_next_items() {
        let body = br#"{"filters": [{"name": 5}, {"name": "ok"}, {"name": 6}], "limit": "x"}"#;
        let error = parse_json::<Filters>(body).err().map(|e| e.body());
        let body = error.unwrap_or_else(|| panic!("expected an error"));
        let mut paths: Vec<&str> = body.errors.iter().map(|e| e.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["/filters/0/name", "/filters/2/name", "/limit"]);
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for input in [&b"{"[..], b"{\"items\": [}", br#"{"items": []} trailing"#] {
            let code = parse_json::<Shape>(input).err().map(|e| e.code());
            assert_eq!(code, Some(ErrorCode::MalformedJson), "{input:?}");
        }
    }
}
