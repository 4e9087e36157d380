//! The body of `POST /v1/events/batch`, for the OpenAPI document; the
//! schemas of the values inputs read themselves are billing's
//! (`tally_billing::schema`), the types that parse them.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

pub use tally_billing::schema::*;

/// The body of `POST /v1/events/batch`: 1 to 5000 items. Each is checked as
/// an `EventInput` on its own and a refused one is reported in
/// `events_failed` while the others are stored, so the body's schema takes
/// any item: a batch is refused as a whole only for its shape.
pub struct EventBatch;

impl PartialSchema for EventBatch {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(crate::routes::enums::any_json())
            .min_items(Some(1))
            .max_items(Some(tally_billing::MAX_BATCH_EVENTS))
            .description(Some(
                "1 to 5000 events, each an EventInput; a refused one is listed in \
                 `events_failed` with its problems and the others are stored",
            ))
            .into()
    }
}

impl ToSchema for EventBatch {}
