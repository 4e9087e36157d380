//! OpenAPI schemas of the values the inputs read themselves (timestamps,
//! amounts, ids, event types, records) and of their closed sets of values.
//! Those fields are read as text or JSON so that every problem of a request
//! comes back at once; these types tell a client which values are accepted,
//! as exactly as a JSON schema can (docs/API.md, "OpenAPI"). Built only with
//! the `openapi` feature.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// Text with no U+0000 (no backend stores it), `min..=max` characters.
fn text(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[^\\x00]{{{min},{max}}}$")))
}

/// A date, then optionally a time: the forms the document promises (`2024-12-01T10:00:00Z`,
/// `2024-12-01T10:00:00.250+02:00`), years 1970 to 2099. Days stop at 28 so
/// that every string the pattern allows is a real date; the server accepts
/// every valid date, and more forms (docs/events.md).
const DATE: &str = "(19[7-9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";
const TIME: &str = "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-]0[0-9]:00)";
/// Epoch milliseconds from 10^11 (smaller numbers read as seconds are refused)
/// to the end of 9999.
const FIRST_EPOCH_MS: i64 = 100_000_000_000;
const LAST_EPOCH_MS: i64 = 253_402_300_799_999;

fn date_time_text() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{DATE}({TIME})?$")))
}

/// An event's timestamp: a date-time with an offset, or epoch milliseconds
/// (a bare date is refused: an event happens at an instant).
pub struct EventTimestamp;

impl PartialSchema for EventTimestamp {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!("^{DATE}{TIME}$"))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(FIRST_EPOCH_MS))
                    .maximum(Some(LAST_EPOCH_MS)),
            )
            .description(Some(
                "A date-time with Z or an offset (2024-12-20T16:04:11Z), or epoch \
                 milliseconds (1734710651000); `YYYY-MM-DD HH:MM:SS` in UTC is accepted too",
            ))
            .into()
    }
}

impl ToSchema for EventTimestamp {}

/// An instant in a query string: the same forms, epoch milliseconds as digits.
pub struct TimestampParam;

impl PartialSchema for TimestampParam {
    fn schema() -> RefOr<Schema> {
        date_time_text()
            .description(Some(
                "A date (2024-12-01, midnight UTC) or a date-time with Z or an offset \
                 (2024-12-01T10:00:00Z); epoch milliseconds are accepted too",
            ))
            .into()
    }
}

impl ToSchema for TimestampParam {}

/// A whole number of minor units, never negative: a JSON integer or its
/// digits as a string (`"100000"` is 1 000.00 €).
pub struct AmountInput;

impl PartialSchema for AmountInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(1_000_000_000_000_i64)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]{1,12}$")),
            )
            .into()
    }
}

impl ToSchema for AmountInput {}

/// A JSON number within the range every amount and property fits.
fn decimal_number() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(-1e12))
        .maximum(Some(1e12))
}

/// `[A-Za-z0-9_.:-]`, 1 to 100 characters.
pub struct EventTypeText;

impl PartialSchema for EventTypeText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Za-z0-9_.:-]{1,100}$"))
            .into()
    }
}

impl ToSchema for EventTypeText {}

/// A customer's `cus_` id or external id, a record id given as text, a
/// name: 1 to 255 characters.
pub struct IdText;

impl PartialSchema for IdText {
    fn schema() -> RefOr<Schema> {
        text(1, 255).into()
    }
}

impl ToSchema for IdText {}

/// A name or an external id: 1 to 255 characters, not all blank.
pub struct NameText;

impl PartialSchema for NameText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[^\\x00]*[^\\x00\\s][^\\x00]*$"))
            .into()
    }
}

impl ToSchema for NameText {}

/// A record's id: a string of 1 to 255 characters or an integer.
pub struct RecordIdInput;

impl PartialSchema for RecordIdInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(text(1, 255))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .into()
    }
}

impl ToSchema for RecordIdInput {}

/// A flat record: an `id`, at most 25 properties in all, each a scalar or an
/// array of at most 256 scalars (docs/events.md).
pub struct EventRecord;

impl PartialSchema for EventRecord {
    fn schema() -> RefOr<Schema> {
        let property = OneOfBuilder::new()
            .item(text(0, 2048))
            .item(decimal_number())
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Array(vec![Type::Boolean, Type::Null])),
            )
            .item(
                ArrayBuilder::new()
                    .items(
                        OneOfBuilder::new()
                            .item(text(0, 2048))
                            .item(decimal_number()),
                    )
                    .max_items(Some(256)),
            );
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", RecordIdInput::schema())
            .required("id")
            .max_properties(Some(25))
            .property_names(Some(text(1, 100)))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::OneOf(
                property.build(),
            )))))
            .into()
    }
}

impl ToSchema for EventRecord {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventRecord")
    }
}

/// A rate in percent, 0 to 100: a JSON number or a numeric string (`"20"`).
pub struct PercentInput;

impl PartialSchema for PercentInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(100)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^(100(\\.0{1,3})?|[0-9]{1,2}(\\.[0-9]{1,3})?)$")),
            )
            .into()
    }
}

impl ToSchema for PercentInput {}

/// An ISO 4217 code among the currencies Tally knows (docs/billing.md).
pub struct CurrencyCode;

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                tally_pricing::Currency::all().map(|currency| currency.code()),
            ))
            .into()
    }
}

impl ToSchema for CurrencyCode {}

/// Record ids separated by commas (`485,486,a-1`).
pub struct RecordIdList;

impl PartialSchema for RecordIdList {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[^,\\x00]{1,255}(,[^,\\x00]{1,255}){0,99}$"))
            .into()
    }
}

impl ToSchema for RecordIdList {}

/// A record key, as a filter names it: 1 to 100 characters.
pub struct RecordKey;

impl PartialSchema for RecordKey {
    fn schema() -> RefOr<Schema> {
        text(1, 100).into()
    }
}

impl ToSchema for RecordKey {}

/// A subscription's products: 1 or more ids, each once.
pub struct ProductIdList;

impl PartialSchema for ProductIdList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(text(1, 255))
            .min_items(Some(1))
            .unique_items(true)
            .into()
    }
}

impl ToSchema for ProductIdList {}

/// A webhook endpoint's URL: `http` or `https`, at most 2048 characters.
/// Whether its host may be reached is the server's to say (docs/webhooks.md).
pub struct WebhookUrl;

impl PartialSchema for WebhookUrl {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("webhook-url".into())))
            .min_length(Some(1))
            .max_length(Some(2048))
            .into()
    }
}

impl ToSchema for WebhookUrl {}

/// A webhook signing secret: `whsec_` and the standard base64 of a 16 to
/// 64 byte key (30 to 94 characters in all).
pub struct WebhookSecretText;

impl PartialSchema for WebhookSecretText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("webhook-secret".into())))
            .min_length(Some(30))
            .max_length(Some(94))
            .into()
    }
}

impl ToSchema for WebhookSecretText {}

/// The webhook event types an endpoint receives: one or more, each once.
pub struct WebhookEventTypes;

impl PartialSchema for WebhookEventTypes {
    fn schema() -> RefOr<Schema> {
        let names = tally_store::WebhookEventType::ALL.map(|t| t.as_str());
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names)),
            )
            .min_items(Some(1))
            .unique_items(true)
            .into()
    }
}

impl ToSchema for WebhookEventTypes {}

/// A company or a person.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CustomerType {
    /// A company.
    Corporate,
    /// A person.
    Person,
}

/// Priced from an aggregator, or a fixed fee.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ProductType {
    /// Priced from an aggregator's quantity.
    Usage,
    /// A fixed amount per period.
    Fee,
}

/// The unit of a billing interval.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum IntervalPeriod {
    /// Days.
    Days,
    /// Weeks.
    Weeks,
    /// Calendar months.
    Months,
    /// Calendar years.
    Years,
}

/// How `DELETE /v1/events` and `POST /v1/events/purge` name events.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Matching {
    /// By `event_type` and `record_ids`.
    RecordIds,
}

/// A feature's code: `^[a-z0-9][a-z0-9_-]*$`, 1 to 100 characters.
pub struct FeatureCode;

impl PartialSchema for FeatureCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z0-9][a-z0-9_-]{0,99}$"))
            .into()
    }
}

impl ToSchema for FeatureCode {}

/// A description: at most 1 000 characters, no U+0000.
pub struct DescriptionText;

impl PartialSchema for DescriptionText {
    fn schema() -> RefOr<Schema> {
        text(0, 1000).into()
    }
}

impl ToSchema for DescriptionText {}

/// A feature's value: `true`/`false` for a boolean feature; for a number
/// feature a number from 0 to 10^15 (or the same as a string), or `null`
/// for unlimited.
pub struct FeatureValueInput;

impl PartialSchema for FeatureValueInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .minimum(Some(0))
                    .maximum(Some(1e15)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]{1,15}(\\.[0-9]{1,6})?$")),
            )
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

impl ToSchema for FeatureValueInput {}

/// What a feature's values are.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum FeatureValueKind {
    /// On or off.
    Boolean,
    /// A quantity or a limit.
    Number,
}

/// How several products' values of a number feature combine.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Resolution {
    /// The largest wins.
    Maximum,
    /// They add up.
    Sum,
}

/// A feature's value as shown: a boolean, a number, or `null` (unlimited).
pub struct FeatureValueOutput;

impl PartialSchema for FeatureValueOutput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }
}

impl ToSchema for FeatureValueOutput {}

/// A threshold's value: a number, or a numeric string, kept exact.
pub struct ThresholdValue;

impl PartialSchema for ThresholdValue {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(decimal_number())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^-?[0-9]{1,12}(\\.[0-9]{1,6})?$")),
            )
            .into()
    }
}

impl ToSchema for ThresholdValue {}

/// A threshold in percent of a usage limit: above 0, at most 1 000.
pub struct PercentThreshold;

impl PartialSchema for PercentThreshold {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0))
            .maximum(Some(1000))
            .into()
    }
}

impl ToSchema for PercentThreshold {}
