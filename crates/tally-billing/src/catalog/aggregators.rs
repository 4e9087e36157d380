//! Aggregators (`agg_…`) and their named filters (`agf_…`).

use tally_aggregate::{Aggregator, AggregatorDef, DefinitionError};
use tally_event::Timestamp;
use tally_store::rollups::{RollupProgress, rolls_up};
use tally_store::{AccountId, AggregatorFilterId, AggregatorId, AggregatorRecord, Page, Product};

use super::price_versions::price_versions;
use crate::error::{BillingError, BillingResult, Problem};
use crate::input::Pagination;
use crate::rollups::{RollupState, state_of};
use crate::service::{Billing, all_pages, compile_stored};

/// A stored aggregator: its id, its definition (filters carry their `agf_` ids)
/// and when it was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorEntry {
    /// The aggregator's id (`agg_…`).
    pub id: AggregatorId,
    /// The definition as stored, every filter with its `agf_` id.
    pub definition: AggregatorDef,
    /// When the aggregator was created (UTC milliseconds).
    pub created_at: Timestamp,
    /// Where its rollups are: usage reads come from them once `ready`.
    pub rollup: RollupState,
}

impl Billing {
    /// Creates an aggregator. Every filter gets a fresh `agf_` id (ids in the
    /// request are ignored); the definition is compiled and every problem listed.
    pub async fn create_aggregator(
        &self,
        account: &AccountId,
        definition: &AggregatorDef,
    ) -> BillingResult<AggregatorEntry> {
        let mut definition = definition.clone();
        self.ids.with(|rng| {
            for filter in &mut definition.filters {
                filter.id = AggregatorFilterId::generate(rng).to_string();
            }
        });
        let compiled = compile(&definition)?;
        let record = AggregatorRecord {
            id: self.ids.with(AggregatorId::generate),
            name: definition.name.clone(),
            event_type: compiled.event_type().clone(),
            definition,
            created_at: self.now(),
        };
        let created = self.store.create_aggregator(account, &record).await?;
        self.readers.forget(account);
        self.sync_rollups_after_change(account).await;
        self.thresholds_changed(account).await;
        self.entry(account, &created).await
    }

    /// The aggregator with this id; `NotFound` for an unknown id or one that does not parse.
    pub async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<AggregatorEntry> {
        let (record, _) = self.load_aggregator(account, id).await?;
        self.entry(account, &record).await
    }

    /// The account's aggregators, oldest first. `Invalid` for an out-of-range page.
    pub async fn list_aggregators(
        &self,
        account: &AccountId,
        page: Pagination,
    ) -> BillingResult<Page<AggregatorEntry>> {
        let page = self
            .store
            .list_aggregators(account, page.to_page_request()?)
            .await?;
        let progress = self.store.rollup_progress(account).await?;
        let items = page
            .items
            .iter()
            .map(|record| entry(record, &progress))
            .collect::<BillingResult<_>>()?;
        Ok(Page {
            total: page.total,
            items,
        })
    }

    /// Replaces the definition. A filter with an `id` keeps it (it must be one of
    /// this aggregator's filters); one without gets a fresh id. Removing a filter
    /// that a product's price group uses is a `Conflict`.
    pub async fn update_aggregator(
        &self,
        account: &AccountId,
        id: &str,
        definition: &AggregatorDef,
    ) -> BillingResult<AggregatorEntry> {
        let (current, _) = self.load_aggregator(account, id).await?;
        let current_def = &current.definition;
        let mut definition = definition.clone();
        let mut problems = Vec::new();
        self.ids.with(|rng| {
            for (index, filter) in definition.filters.iter_mut().enumerate() {
                if filter.id.is_empty() {
                    filter.id = AggregatorFilterId::generate(rng).to_string();
                } else if !current_def
                    .filters
                    .iter()
                    .any(|known| known.id == filter.id)
                {
                    problems.push(Problem::new(
                        format!("/filters/{index}/id"),
                        "unknown_filter_id",
                        "not a filter of this aggregator: omit the id to create a filter",
                    ));
                }
            }
        });
        if !problems.is_empty() {
            return Err(BillingError::Invalid(problems));
        }
        let compiled = compile(&definition)?;
        self.check_filters_in_use(account, &current.id, &definition)
            .await?;
        let record = AggregatorRecord {
            name: definition.name.clone(),
            event_type: compiled.event_type().clone(),
            definition,
            ..current
        };
        let updated = self.store.update_aggregator(account, &record).await?;
        self.readers.forget(account);
        self.sync_rollups_after_change(account).await;
        self.thresholds_changed(account).await;
        self.entry(account, &updated).await
    }

    /// Deletes an aggregator no product uses (`Conflict` otherwise).
    pub async fn delete_aggregator(&self, account: &AccountId, id: &str) -> BillingResult<()> {
        let (record, _) = self.load_aggregator(account, id).await?;
        let products = self.all_products(account).await?;
        if let Some(product) = products
            .iter()
            .find(|p| p.aggregator_id.as_ref() == Some(&record.id))
        {
            return Err(BillingError::conflict(
                "aggregator",
                format!("product {} uses this aggregator", product.id),
            ));
        }
        let features = self.all_features(account).await?;
        if let Some(feature) = features
            .iter()
            .find(|f| f.aggregator_id.as_ref() == Some(&record.id))
        {
            return Err(BillingError::conflict(
                "aggregator",
                format!("feature {} limits usage of this aggregator", feature.code),
            ));
        }
        self.store.delete_aggregator(account, &record.id).await?;
        self.readers.forget(account);
        self.sync_rollups_after_change(account).await;
        self.thresholds_changed(account).await;
        Ok(())
    }

    /// [`Billing::sync_rollups`] after a committed catalog change. A failure
    /// is not the change's: it is kept for [`Billing::backfill_error`], and
    /// reads scan the raw events until the next sync (at the next change or
    /// server start) registers the rollups.
    async fn sync_rollups_after_change(&self, account: &AccountId) {
        let synced = self.sync_rollups(account).await;
        self.rollup_worker.record_sync(synced.as_ref().map(|_| ()));
    }

    async fn entry(
        &self,
        account: &AccountId,
        record: &AggregatorRecord,
    ) -> BillingResult<AggregatorEntry> {
        let progress = self.store.rollup_progress(account).await?;
        entry(record, &progress)
    }

    async fn check_filters_in_use(
        &self,
        account: &AccountId,
        aggregator: &AggregatorId,
        definition: &AggregatorDef,
    ) -> BillingResult<()> {
        let products = self.all_products(account).await?;
        let kept = |id: &AggregatorFilterId| definition.filters.iter().any(|f| f.id == id.as_str());
        for product in products
            .iter()
            .filter(|p| p.aggregator_id.as_ref() == Some(aggregator))
        {
            // Every price version may still price a period: all their groups count.
            let versions = price_versions(product);
            let used = versions
                .iter()
                .flat_map(|v| &v.price_groups)
                .filter_map(|g| g.aggregator_filter_id.as_ref());
            if let Some(missing) = used.into_iter().find(|id| !kept(id)) {
                return Err(BillingError::conflict(
                    "aggregator",
                    format!("filter {missing} is used by product {}", product.id),
                ));
            }
        }
        for feature in self.all_features(account).await? {
            if feature.aggregator_id.as_ref() != Some(aggregator) {
                continue;
            }
            if let Some(filter) = feature.aggregator_filter_id.filter(|id| !kept(id)) {
                return Err(BillingError::conflict(
                    "aggregator",
                    format!("filter {filter} is used by feature {}", feature.code),
                ));
            }
        }
        Ok(())
    }

    /// Every product of the account (catalog checks; catalogs are small).
    pub(crate) async fn all_products(&self, account: &AccountId) -> BillingResult<Vec<Product>> {
        all_pages(|page| self.store.list_products(account, page)).await
    }
}

/// Compiles a definition, its errors as problems.
pub(crate) fn compile(definition: &AggregatorDef) -> BillingResult<Aggregator> {
    Aggregator::compile(definition).map_err(|errors| {
        BillingError::Invalid(errors.into_iter().map(definition_problem).collect())
    })
}

fn definition_problem(error: DefinitionError) -> Problem {
    Problem::new(error.path, error.code.as_str(), error.message)
}

fn entry(record: &AggregatorRecord, progress: &[RollupProgress]) -> BillingResult<AggregatorEntry> {
    let rollup = match compile_stored(record)? {
        compiled if rolls_up(&compiled) => state_of(&compiled, progress),
        _ => RollupState::None,
    };
    Ok(AggregatorEntry {
        id: record.id.clone(),
        definition: record.definition.clone(),
        created_at: record.created_at,
        rollup,
    })
}
