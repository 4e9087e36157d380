//! Features and entitlements: round trips, replacement, bulk reads, the
//! cascade when a product or a customer is deleted, and account isolation.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::catalog::{sample_aggregator, sample_product};
use super::fixtures::{at, new_account, new_customer};
use crate::entitlements::{
    CustomerEntitlement, Feature, FeatureValue, FeatureValueType, ProductEntitlement,
    ResolutionStrategy,
};
use crate::error::StoreError;
use crate::ids::{AggregatorFilterId, ProductId};
use crate::page::PageRequest;
use crate::traits::Store;

fn feature(code: &str, created_ms: i64) -> Feature {
    Feature {
        code: code.to_owned(),
        name: format!("Feature {code}"),
        description: None,
        value_type: FeatureValueType::Number,
        default_value: FeatureValue::Number(Decimal::ZERO),
        resolution_strategy: Some(ResolutionStrategy::Maximum),
        aggregator_id: None,
        aggregator_filter_id: None,
        threshold_percents: Vec::new(),
        created_at: at(created_ms),
        updated_at: at(created_ms),
    }
}

fn number(text: &str) -> FeatureValue {
    FeatureValue::Number(text.parse().unwrap())
}

/// Create, get, list (oldest first, paged), update (code, value type and
/// creation kept), a taken code and another account's features.
pub async fn features_round_trip(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let seats = feature("seats", 10);
    assert_eq!(store.create_feature(&account, &seats).await.unwrap(), seats);
    let taken = store.create_feature(&account, &feature("seats", 20)).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict { .. })),
        "a taken code is a conflict, got {taken:?}"
    );
    let sso = Feature {
        value_type: FeatureValueType::Boolean,
        default_value: FeatureValue::Boolean(false),
        resolution_strategy: None,
        description: Some("Single sign-on".into()),
        ..feature("sso", 5)
    };
    store.create_feature(&account, &sso).await.unwrap();
    let aggregator = sample_aggregator();
    store
        .create_aggregator(&account, &aggregator)
        .await
        .unwrap();
    let calls = Feature {
        default_value: FeatureValue::Unlimited,
        resolution_strategy: Some(ResolutionStrategy::Sum),
        aggregator_id: Some(aggregator.id.clone()),
        aggregator_filter_id: Some(AggregatorFilterId::random()),
        threshold_percents: vec![Decimal::from(80), Decimal::new(1005, 1)],
        ..feature("api-calls_v2", 30)
    };
    store.create_feature(&account, &calls).await.unwrap();

    assert_eq!(store.get_feature(&account, "sso").await.unwrap(), sso);
    assert_eq!(
        store.get_feature(&account, "api-calls_v2").await.unwrap(),
        calls
    );
    let all = store
        .list_features(&account, PageRequest::default())
        .await
        .unwrap();
    let codes: Vec<&str> = all.items.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        (all.total, codes),
        (3, vec!["sso", "seats", "api-calls_v2"])
    );
    let second = store
        .list_features(&account, PageRequest { take: 1, skip: 1 })
        .await
        .unwrap();
    assert_eq!((second.total, second.items), (3, vec![seats.clone()]));

    let changed = Feature {
        name: "Seats included".into(),
        description: Some("per plan".into()),
        default_value: FeatureValue::Unlimited,
        resolution_strategy: Some(ResolutionStrategy::Sum),
        aggregator_id: Some(aggregator.id.clone()),
        updated_at: at(99),
        // An update never changes these two: the stored ones stay.
        value_type: FeatureValueType::Boolean,
        created_at: at(77),
        ..seats.clone()
    };
    let updated = store.update_feature(&account, &changed).await.unwrap();
    let expected = Feature {
        value_type: FeatureValueType::Number,
        created_at: at(10),
        ..changed.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(
        store.get_feature(&account, "seats").await.unwrap(),
        expected
    );

    let missing = store.update_feature(&account, &feature("nope", 1)).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let other = new_account(store).await;
    assert!(matches!(
        store.get_feature(&other, "seats").await,
        Err(StoreError::NotFound { .. })
    ));
    let empty = store
        .list_features(&other, PageRequest::default())
        .await
        .unwrap();
    assert_eq!((empty.total, empty.items.len()), (0, 0));
    // The same code is free in another account.
    store.create_feature(&other, &seats).await.unwrap();
}

/// Put replaces, bulk reads select by product, deletes say when nothing was
/// there, and deleting a product or a customer takes its entitlements.
pub async fn entitlements_round_trip(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let aggregator = sample_aggregator();
    store
        .create_aggregator(&account, &aggregator)
        .await
        .unwrap();
    let starter = sample_product(&aggregator.id);
    let pro = sample_product(&aggregator.id);
    for product in [&starter, &pro] {
        store.create_product(&account, product).await.unwrap();
    }
    let grant =
        |product: &ProductId, code: &str, value: FeatureValue, ms: i64| ProductEntitlement {
            product_id: product.clone(),
            feature_code: code.to_owned(),
            value,
            updated_at: at(ms),
        };
    let writes = [
        grant(&starter.id, "seats", number("5"), 1),
        grant(&starter.id, "sso", FeatureValue::Boolean(false), 1),
        grant(&pro.id, "seats", number("12.5"), 1),
        grant(&starter.id, "seats", number("10"), 2),
        grant(&pro.id, "sso", FeatureValue::Boolean(true), 2),
    ];
    for entitlement in &writes {
        let stored = store
            .put_product_entitlement(&account, entitlement)
            .await
            .unwrap();
        assert_eq!(&stored, entitlement);
    }
    let of_starter = store
        .product_entitlements(&account, std::slice::from_ref(&starter.id))
        .await
        .unwrap();
    assert_eq!(of_starter, vec![writes[3].clone(), writes[1].clone()]);
    let mut both = store
        .product_entitlements(&account, &[pro.id.clone(), starter.id.clone()])
        .await
        .unwrap();
    both.sort_by(|a, b| (&a.product_id, &a.feature_code).cmp(&(&b.product_id, &b.feature_code)));
    let mut expected = vec![
        writes[3].clone(),
        writes[1].clone(),
        writes[2].clone(),
        writes[4].clone(),
    ];
    expected
        .sort_by(|a, b| (&a.product_id, &a.feature_code).cmp(&(&b.product_id, &b.feature_code)));
    assert_eq!(both, expected);
    assert!(
        store
            .product_entitlements(&account, &[])
            .await
            .unwrap()
            .is_empty()
    );

    store
        .delete_product_entitlement(&account, &starter.id, "sso")
        .await
        .unwrap();
    let again = store
        .delete_product_entitlement(&account, &starter.id, "sso")
        .await;
    assert!(matches!(again, Err(StoreError::NotFound { .. })));

    let customer = new_customer(store, &account, "ent-1").await;
    let override_of = |code: &str, value, expires_at| CustomerEntitlement {
        customer_id: customer.clone(),
        feature_code: code.to_owned(),
        value,
        reason: Some("deal".into()),
        expires_at,
        updated_at: at(3),
    };
    let seats = override_of("seats", FeatureValue::Unlimited, Some(at(1_000)));
    let sso = override_of("sso", FeatureValue::Boolean(true), None);
    store
        .put_customer_entitlement(&account, &override_of("seats", number("1"), None))
        .await
        .unwrap();
    for entitlement in [&seats, &sso] {
        store
            .put_customer_entitlement(&account, entitlement)
            .await
            .unwrap();
    }
    let overrides = store
        .customer_entitlements(&account, &customer)
        .await
        .unwrap();
    assert_eq!(overrides, vec![seats.clone(), sso.clone()]);

    // Another account sees none of it.
    let other = new_account(store).await;
    assert!(
        store
            .product_entitlements(&other, std::slice::from_ref(&pro.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .customer_entitlements(&other, &customer)
            .await
            .unwrap()
            .is_empty()
    );
    let elsewhere = store
        .delete_customer_entitlement(&other, &customer, "sso")
        .await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));

    store
        .delete_customer_entitlement(&account, &customer, "sso")
        .await
        .unwrap();
    store.delete_product(&account, &pro.id).await.unwrap();
    assert!(
        store
            .product_entitlements(&account, std::slice::from_ref(&pro.id))
            .await
            .unwrap()
            .is_empty(),
        "a deleted product's entitlements go with it"
    );
    assert_eq!(
        store
            .product_entitlements(&account, std::slice::from_ref(&starter.id))
            .await
            .unwrap(),
        vec![writes[3].clone()]
    );
    store.delete_customer(&account, &customer).await.unwrap();
    assert!(
        store
            .customer_entitlements(&account, &customer)
            .await
            .unwrap()
            .is_empty(),
        "a deleted customer's overrides go with it"
    );
}
