//! The JSON documents and text columns of catalog records that hold a type
//! another crate owns: written and parsed here only, so every backend stores
//! the same text and reads it back the same way.
//!
//! Each is parsed once, when a backend turns a row into a record; one that no
//! longer parses is [`StoreError::Corrupt`] naming the record, never a panic.
//! Documents are written through [`serde_json::Value`], whose objects keep
//! their keys sorted, as the store wrote them when it kept them as JSON: the
//! stored text does not depend on the order of a struct's fields.

use std::fmt::Display;

use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tally_aggregate::AggregatorDef;
use tally_pricing::{Currency, ProductBounds};

use crate::catalog::PriceGroup;
use crate::error::{StoreError, StoreResult};
use crate::ids::{AggregatorId, ProductId};
use crate::price_versions::PriceVersion;

/// The JSON document a backend stores for `value`.
pub fn to_document<T: Serialize>(value: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|error| StoreError::Internal(error.to_string()))
}

/// An aggregator's stored definition.
pub fn aggregator_definition(
    id: &AggregatorId,
    document: serde_json::Value,
) -> StoreResult<AggregatorDef> {
    parse(document, || format!("aggregator {id} definition"))
}

/// A product's stored price groups, each price validated.
pub fn price_groups(id: &ProductId, document: serde_json::Value) -> StoreResult<Vec<PriceGroup>> {
    parse(document, || format!("product {id} price groups"))
}

/// A product's stored price versions.
pub fn price_versions(
    id: &ProductId,
    document: serde_json::Value,
) -> StoreResult<Vec<PriceVersion>> {
    parse(document, || format!("product {id} price versions"))
}

/// A product's stored currency code.
pub fn currency(id: &ProductId, code: &str) -> StoreResult<Currency> {
    Currency::parse(code).map_err(|error| corrupt(format!("product {id} currency"), error))
}

/// A product's stored `min_amount` / `max_amount` columns.
pub fn bounds(
    id: &ProductId,
    min_amount: Option<Decimal>,
    max_amount: Option<Decimal>,
) -> StoreResult<ProductBounds> {
    ProductBounds::parse(min_amount, max_amount)
        .map_err(|error| corrupt(format!("product {id} bounds"), error))
}

/// The `min_amount` / `max_amount` columns of `bounds`: whole minor units, so
/// the text is the integer's (`100000`).
pub fn bound_columns(bounds: ProductBounds) -> (Option<Decimal>, Option<Decimal>) {
    (
        bounds.min_amount().map(Decimal::from),
        bounds.max_amount().map(Decimal::from),
    )
}

fn parse<T: DeserializeOwned>(
    document: serde_json::Value,
    what: impl FnOnce() -> String,
) -> StoreResult<T> {
    serde_json::from_value(document).map_err(|error| corrupt(what(), error))
}

fn corrupt(what: String, error: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents as the store wrote them while it kept them as untyped JSON:
    /// sorted keys, decimals as the text sent.
    const DEFINITION: &str = r#"{"allow_negative_values":false,"custom_event_name":null,"event_type":"calls","exposed_event_keys":null,"filters":[{"id":"agf_AAAAAAAAAAAAAAAAAAAAAA","name":"premium","where":{"conditional":"and","fields":[{"operator":"equals","property":"plan","value":"premium"}]}}],"formula":null,"name":"API calls","operation":"sum","property":"amount","thresholds":[{"comparison_operator":"gte","name":"soft","threshold_value":"0.0015"}],"type":"metered","unit_name":"call","where":{"conditional":"and","fields":[{"operator":"greater_than","property":"weight","value":12345678901234567890.5}]}}"#;
    const PRICE_GROUPS: &str = r#"[{"aggregator_filter_id":null,"id":"grp_AAAAAAAAAAAAAAAAAAAAAA","name":"calls","price":{"tiers":[{"flat_amount":"0","unit_amount":"0.0015","up_to":"1000"},{"flat_amount":"500.00","unit_amount":"0.0010","up_to":null}],"type":"graduated"}},{"aggregator_filter_id":"agf_AAAAAAAAAAAAAAAAAAAAAA","id":"grp_BBBBBBBBBBBBBBBBBBBBBB","name":"premium","price":{"fixed_amount":"30","per_event_cap":"500","per_event_floor":null,"property":"amount","rate":"2.90","type":"percentage"}},{"aggregator_filter_id":null,"id":"grp_CCCCCCCCCCCCCCCCCCCCCC","name":"blocks","price":{"package_amount":"2.50","package_size":"1000","rounding":"down","type":"package"}},{"aggregator_filter_id":null,"id":"grp_DDDDDDDDDDDDDDDDDDDDDD","name":"base","price":{"amount":"2900","type":"flat"}},{"aggregator_filter_id":null,"id":"grp_EEEEEEEEEEEEEEEEEEEEEE","name":"units","price":{"type":"per_unit","unit_amount":"0.15"}},{"aggregator_filter_id":null,"id":"grp_FFFFFFFFFFFFFFFFFFFFFF","name":"volume","price":{"tiers":[{"flat_amount":"0","unit_amount":"2","up_to":"1000.5"},{"flat_amount":"0","unit_amount":"1.5","up_to":null}],"type":"volume"}}]"#;
    const PRICE_VERSIONS: &str = r#"[{"created_at":"2024-11-01T00:00:00.000Z","effective_from":null,"max_amount":"100000","min_amount":null,"price_groups":[{"aggregator_filter_id":null,"id":"grp_EEEEEEEEEEEEEEEEEEEEEE","name":"units","price":{"type":"per_unit","unit_amount":"0.0015"}}],"version":1},{"created_at":"2024-12-01T00:00:00.000Z","effective_from":"2024-12-01T00:00:00.000Z","max_amount":"100000","min_amount":"2900","price_groups":[{"aggregator_filter_id":null,"id":"grp_EEEEEEEEEEEEEEEEEEEEEE","name":"units","price":{"type":"per_unit","unit_amount":"0.20"}}],"version":2}]"#;

    fn document(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    fn product() -> ProductId {
        ProductId::parse("itm_AAAAAAAAAAAAAAAAAAAAAA").unwrap()
    }

    /// What a backend writes back for a typed value.
    fn written<T: Serialize>(value: &T) -> String {
        to_document(value).unwrap().to_string()
    }

    #[test]
    fn typed_documents_are_written_back_as_the_text_they_were_read_from() {
        let aggregator = AggregatorId::parse("agg_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let definition = aggregator_definition(&aggregator, document(DEFINITION)).unwrap();
        assert_eq!(written(&definition), DEFINITION);
        let groups = price_groups(&product(), document(PRICE_GROUPS)).unwrap();
        assert_eq!(written(&groups), PRICE_GROUPS);
        let versions = price_versions(&product(), document(PRICE_VERSIONS)).unwrap();
        assert_eq!(written(&versions), PRICE_VERSIONS);
        assert_eq!(versions[1].bounds.min_amount(), Some(2900));
    }

    #[test]
    fn bounds_are_written_as_the_integers_they_hold() {
        let stored = (Some(Decimal::from(2900)), Some(Decimal::from(100_000)));
        let bounds = bounds(&product(), stored.0, stored.1).unwrap();
        let (min, max) = bound_columns(bounds);
        assert_eq!((min, max), stored);
        assert_eq!(
            (min.unwrap().to_string(), max.unwrap().to_string()),
            ("2900".to_owned(), "100000".to_owned())
        );
    }

    #[test]
    fn a_document_that_no_longer_parses_is_corrupt_and_names_its_record() {
        let invalid_price = r#"[{"aggregator_filter_id":null,"id":"grp_AAAAAAAAAAAAAAAAAAAAAA","name":"calls","price":{"type":"per_unit","unit_amount":"-1"}}]"#;
        let cases = [
            price_groups(&product(), document(invalid_price)).map(|_| ()),
            price_groups(&product(), document(r#"{"not":"an array"}"#)).map(|_| ()),
            price_versions(&product(), document(r#"[{"version":1}]"#)).map(|_| ()),
            currency(&product(), "XXX").map(|_| ()),
            bounds(&product(), Some(Decimal::from(2)), Some(Decimal::ONE)).map(|_| ()),
        ];
        for result in cases {
            match result {
                Err(StoreError::Corrupt(message)) => {
                    assert!(message.contains("itm_AAAAAAAAAAAAAAAAAAAAAA"), "{message}");
                }
                other => panic!("expected corrupt, got {other:?}"),
            }
        }
        let aggregator = AggregatorId::parse("agg_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let error = aggregator_definition(&aggregator, document(r#"{"name":"x"}"#)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("aggregator agg_AAAAAAAAAAAAAAAAAAAAAA definition")
        );
    }
}
