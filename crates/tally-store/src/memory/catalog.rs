//! Catalog traits for `MemoryStore`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tally_event::{CustomerRef, EventType, Timestamp};

use super::{MemoryStore, Tenant};
use crate::catalog::{
    Account, AggregatorRecord, Customer, Product, ResolvedCustomer, Subscription, SubscriptionQuery,
};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, AggregatorId, ApiKeyId, CustomerId, ProductId, SubscriptionId};
use crate::keys::{ApiKey, ApiKeyHash};
use crate::page::{Page, PageRequest};
use crate::traits::{AccountStore, CatalogStore, CustomerStore, SubscriptionStore};

pub(super) fn insert_new<K: Ord + Clone, V: Clone>(
    map: &mut BTreeMap<K, V>,
    key: &K,
    value: &V,
    entity: &'static str,
) -> StoreResult<V> {
    if map.contains_key(key) {
        return Err(StoreError::conflict(entity, "id already exists"));
    }
    map.insert(key.clone(), value.clone());
    Ok(value.clone())
}

pub(super) fn get<K: Ord, V: Clone>(
    map: &BTreeMap<K, V>,
    key: &K,
    entity: &'static str,
) -> StoreResult<V> {
    map.get(key).cloned().ok_or(StoreError::not_found(entity))
}

fn replace<K: Ord, V: Clone>(
    map: &mut BTreeMap<K, V>,
    key: &K,
    entity: &'static str,
    update: impl FnOnce(&mut V),
) -> StoreResult<V> {
    let slot = map.get_mut(key).ok_or(StoreError::not_found(entity))?;
    update(slot);
    Ok(slot.clone())
}

fn remove<K: Ord, V>(map: &mut BTreeMap<K, V>, key: &K, entity: &'static str) -> StoreResult<()> {
    map.remove(key)
        .map(|_| ())
        .ok_or(StoreError::not_found(entity))
}

/// Pages `values` ordered by `(created_at, id)`, as every catalog list is.
pub(super) fn oldest_first<V: Clone, K: Ord>(
    values: impl Iterator<Item = V>,
    page: PageRequest,
    sort_key: impl Fn(&V) -> (Timestamp, K),
) -> StoreResult<Page<V>> {
    page.check()?;
    let mut all: Vec<V> = values.collect();
    all.sort_by_key(|v| sort_key(v));
    Ok(Page::slice(all, page))
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &Account) -> StoreResult<Account> {
        self.with_state(|state| {
            if state.accounts.values().any(|a| a.name == account.name) {
                return Err(StoreError::conflict("account", "name already exists"));
            }
            insert_new(&mut state.accounts, &account.id, account, "account")
        })
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        self.with_state(|state| get(&state.accounts, id, "account"))
    }

    async fn find_account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        self.with_state(|state| Ok(state.accounts.values().find(|a| a.name == name).cloned()))
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.with_state(|state| {
            let mut all: Vec<Account> = state.accounts.values().cloned().collect();
            all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(all)
        })
    }

    async fn update_account_settings(
        &self,
        id: &AccountId,
        settings: &serde_json::Value,
    ) -> StoreResult<Account> {
        self.with_state(|state| {
            let account = state
                .accounts
                .get_mut(id)
                .ok_or(StoreError::not_found("account"))?;
            account.settings = settings.clone();
            Ok(account.clone())
        })
    }

    async fn list_api_keys(&self, account: &AccountId) -> StoreResult<Vec<ApiKey>> {
        self.with_state(|state| {
            let mut keys: Vec<ApiKey> = state
                .api_keys
                .values()
                .filter(|k| k.account_id == *account)
                .cloned()
                .collect();
            keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(keys)
        })
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<ApiKey> {
        self.with_state(|state| {
            if !state.accounts.contains_key(&key.account_id) {
                return Err(StoreError::not_found("account"));
            }
            let taken = state.api_keys.values().any(|k| k.id == key.id);
            if taken || state.api_keys.contains_key(&key.hash) {
                return Err(StoreError::conflict("api key", "id or hash already exists"));
            }
            state.api_keys.insert(key.hash.clone(), key.clone());
            Ok(key.clone())
        })
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKey>> {
        self.with_state(|state| Ok(state.api_keys.get(hash).cloned()))
    }

    async fn delete_api_key(&self, account: &AccountId, id: &ApiKeyId) -> StoreResult<()> {
        self.with_state(|state| {
            let before = state.api_keys.len();
            state
                .api_keys
                .retain(|_, k| !(k.id == *id && k.account_id == *account));
            if state.api_keys.len() == before {
                return Err(StoreError::not_found("api key"));
            }
            Ok(())
        })
    }
}

fn external_id_taken(tenant: &Tenant, customer: &Customer) -> bool {
    customer.external_id.as_ref().is_some_and(|ext| {
        tenant
            .customers
            .values()
            .any(|c| c.id != customer.id && c.external_id.as_ref() == Some(ext))
    })
}

fn find_by_ref(tenant: &Tenant, reference: &CustomerRef) -> Option<Customer> {
    let by_id = CustomerId::parse(reference.as_str())
        .ok()
        .and_then(|id| tenant.customers.get(&id));
    by_id
        .or_else(|| {
            tenant
                .customers
                .values()
                .find(|c| c.external_id.as_deref() == Some(reference.as_str()))
        })
        .cloned()
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        self.with_tenant(account, |tenant| {
            if external_id_taken(tenant, customer) {
                return Err(StoreError::conflict(
                    "customer",
                    "external id already exists",
                ));
            }
            insert_new(&mut tenant.customers, &customer.id, customer, "customer")
        })
    }

    async fn get_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<Customer> {
        self.with_tenant(account, |tenant| get(&tenant.customers, id, "customer"))
    }

    async fn find_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
    ) -> StoreResult<Option<Customer>> {
        self.with_tenant(account, |tenant| Ok(find_by_ref(tenant, reference)))
    }

    async fn resolve_or_create_customer(
        &self,
        account: &AccountId,
        reference: &CustomerRef,
        new_id: &CustomerId,
        now: Timestamp,
    ) -> StoreResult<ResolvedCustomer> {
        self.with_tenant(account, |tenant| {
            if let Some(customer) = find_by_ref(tenant, reference) {
                return Ok(ResolvedCustomer {
                    customer,
                    created: false,
                });
            }
            let customer = Customer::automatic(new_id.clone(), reference.as_str(), now);
            let customer = insert_new(&mut tenant.customers, new_id, &customer, "customer")?;
            Ok(ResolvedCustomer {
                customer,
                created: true,
            })
        })
    }

    async fn list_customers(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        self.with_tenant(account, |tenant| {
            oldest_first(tenant.customers.values().cloned(), page, |c| {
                (c.created_at, c.id.clone())
            })
        })
    }

    async fn update_customer(
        &self,
        account: &AccountId,
        customer: &Customer,
    ) -> StoreResult<Customer> {
        self.with_tenant(account, |tenant| {
            if !tenant.customers.contains_key(&customer.id) {
                return Err(StoreError::not_found("customer"));
            }
            if external_id_taken(tenant, customer) {
                return Err(StoreError::conflict(
                    "customer",
                    "external id already exists",
                ));
            }
            replace(&mut tenant.customers, &customer.id, "customer", |slot| {
                *slot = Customer {
                    created_at: slot.created_at,
                    ..customer.clone()
                }
            })
        })
    }

    async fn delete_customer(&self, account: &AccountId, id: &CustomerId) -> StoreResult<()> {
        self.with_tenant(account, |tenant| {
            remove(&mut tenant.customers, id, "customer")?;
            // Its overrides and threshold states go with it, as the SQL
            // backends' triggers do.
            tenant
                .customer_entitlements
                .retain(|(customer, _), _| customer != id);
            tenant
                .threshold_states
                .retain(|(customer, _, _), _| customer != id);
            Ok(())
        })
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn create_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        self.with_tenant(account, |t| {
            insert_new(&mut t.aggregators, &aggregator.id, aggregator, "aggregator")
        })
    }

    async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &AggregatorId,
    ) -> StoreResult<AggregatorRecord> {
        self.with_tenant(account, |t| get(&t.aggregators, id, "aggregator"))
    }

    async fn list_aggregators(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<AggregatorRecord>> {
        self.with_tenant(account, |t| {
            oldest_first(t.aggregators.values().cloned(), page, |a| {
                (a.created_at, a.id.clone())
            })
        })
    }

    async fn aggregators_for_event_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
    ) -> StoreResult<Vec<AggregatorRecord>> {
        self.with_tenant(account, |t| {
            let mut all: Vec<AggregatorRecord> = t
                .aggregators
                .values()
                .filter(|a| a.event_type == *event_type)
                .cloned()
                .collect();
            all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(all)
        })
    }

    async fn update_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        self.with_tenant(account, |t| {
            replace(&mut t.aggregators, &aggregator.id, "aggregator", |slot| {
                *slot = AggregatorRecord {
                    created_at: slot.created_at,
                    ..aggregator.clone()
                }
            })
        })
    }

    async fn delete_aggregator(&self, account: &AccountId, id: &AggregatorId) -> StoreResult<()> {
        self.with_tenant(account, |t| remove(&mut t.aggregators, id, "aggregator"))
    }

    async fn create_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        self.with_tenant(account, |t| {
            insert_new(&mut t.products, &product.id, product, "product")
        })
    }

    async fn get_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<Product> {
        self.with_tenant(account, |t| get(&t.products, id, "product"))
    }

    async fn list_products(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Product>> {
        self.with_tenant(account, |t| {
            oldest_first(t.products.values().cloned(), page, |p| {
                (p.created_at, p.id.clone())
            })
        })
    }

    async fn update_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        self.with_tenant(account, |t| {
            replace(&mut t.products, &product.id, "product", |slot| {
                *slot = Product {
                    created_at: slot.created_at,
                    ..product.clone()
                }
            })
        })
    }

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<()> {
        self.with_tenant(account, |t| {
            remove(&mut t.products, id, "product")?;
            // Its entitlements go with it, as the SQL backends' triggers do.
            t.product_entitlements
                .retain(|(product, _), _| product != id);
            Ok(())
        })
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn create_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        self.with_tenant(account, |t| {
            insert_new(
                &mut t.subscriptions,
                &subscription.id,
                subscription,
                "subscription",
            )
        })
    }

    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Subscription> {
        self.with_tenant(account, |t| get(&t.subscriptions, id, "subscription"))
    }

    async fn list_subscriptions(
        &self,
        account: &AccountId,
        query: &SubscriptionQuery,
    ) -> StoreResult<Page<Subscription>> {
        self.with_tenant(account, |t| {
            let matching = t.subscriptions.values().filter(|s| {
                query
                    .customer_id
                    .as_ref()
                    .is_none_or(|c| *c == s.customer_id)
            });
            oldest_first(matching.cloned(), query.page, |s| {
                (s.created_at, s.id.clone())
            })
        })
    }

    async fn update_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        self.with_tenant(account, |t| {
            replace(
                &mut t.subscriptions,
                &subscription.id,
                "subscription",
                |slot| {
                    *slot = Subscription {
                        created_at: slot.created_at,
                        ..subscription.clone()
                    }
                },
            )
        })
    }

    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<()> {
        self.with_tenant(account, |t| {
            remove(&mut t.subscriptions, id, "subscription")
        })
    }
}
