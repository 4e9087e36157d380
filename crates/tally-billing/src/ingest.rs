//! Ingestion: validate, resolve customers, upsert through the group commit.
//!
//! Nothing is acknowledged before the store committed it: a store error fails
//! the whole call. A request's valid events go to the store together, in one
//! transaction that concurrent requests may share (`commit.rs`); its events
//! are validated one by one, so valid events are stored even when others fail
//! (partial success), and each failure lists every problem of its event. A full
//! ingestion queue fails the call at once with `Overloaded`.

use std::collections::{HashMap, HashSet};

use tally_event::{
    CustomerRef, ParsedEvent, PiiWarning, UpsertOutcome, ValidationError, parse_event,
    parse_event_bytes,
};
use tally_store::{AccountId, CustomerId, EventId, EventSeq, NewEvent};

use crate::error::{BillingError, BillingResult, Problem};
use crate::readers::UsageWarning;
use crate::service::Billing;
use crate::settings::AccountSettings;

/// Most events one batch may hold.
pub const MAX_BATCH_EVENTS: usize = 5000;

/// What happened to one accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedEvent {
    /// The id of the event now stored under its key (`evt_…`): a new one when
    /// created, the stored one when updated or stale.
    pub id: EventId,
    /// `created`, `updated` (the stored event was replaced: its timestamp was not older),
    /// `stale` (kept as history; the current version is newer) or `unchanged` (identical to
    /// the current version: nothing stored).
    pub outcome: UpsertOutcome,
    /// The ingestion sequence number of the version stored; `None` when unchanged.
    pub seq: Option<EventSeq>,
    /// Personal data found (policies `warn` and `mask`), path and kind.
    pub warnings: Vec<PiiWarning>,
    /// What the event may bill less than expected for: no aggregator reads
    /// its type, or one cannot use its value ([`crate::readers`]).
    pub usage_warnings: Vec<UsageWarning>,
    /// The customer the event belongs to.
    pub customer_id: CustomerId,
    /// Whether this call created that customer (`automatically_created`).
    pub customer_created: bool,
}

/// One accepted event of a batch, by its position in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAccepted {
    /// The event's position in the batch.
    pub index: usize,
    /// What happened to it.
    pub event: IngestedEvent,
}

/// One refused event of a batch: every problem, paths relative to the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRejected {
    /// The event's position in the batch.
    pub index: usize,
    /// Every problem, paths relative to the event (`/record/address`).
    pub errors: Vec<Problem>,
}

/// The outcome of a batch, both lists in request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Stored events, in batch order.
    pub accepted: Vec<BatchAccepted>,
    /// Refused events, in batch order; the others were stored regardless.
    pub rejected: Vec<BatchRejected>,
}

type Validated = Result<ParsedEvent, Vec<Problem>>;

impl Billing {
    /// Ingests one event (JSON value). An invalid event, or an unknown customer
    /// when the account refuses auto-creation, is `Invalid`.
    pub async fn ingest_event(
        &self,
        account: &AccountId,
        event: &serde_json::Value,
    ) -> BillingResult<IngestedEvent> {
        let settings = self.account_settings(account).await?;
        let parsed = parse_event(event, &settings.validation_config(), self.now());
        self.ingest_one(account, &settings, parsed).await
    }

    /// Like [`Billing::ingest_event`] from the raw body (size, then syntax, then
    /// rules), which saves building a JSON value.
    pub async fn ingest_event_bytes(
        &self,
        account: &AccountId,
        body: &[u8],
    ) -> BillingResult<IngestedEvent> {
        let settings = self.account_settings(account).await?;
        let parsed = parse_event_bytes(body, &settings.validation_config(), self.now());
        self.ingest_one(account, &settings, parsed).await
    }

    /// Ingests 1..=5000 events with partial success. Only a wrong batch size
    /// (`""`: `batch_empty`, `batch_too_large`) or a store failure fails the call.
    pub async fn ingest_batch(
        &self,
        account: &AccountId,
        events: &[serde_json::Value],
    ) -> BillingResult<BatchOutcome> {
        check_batch_size(events.len())?;
        let settings = self.account_settings(account).await?;
        let config = settings.validation_config();
        let now = self.now();
        let validated = events
            .iter()
            .map(|event| parse_event(event, &config, now).map_err(event_problems))
            .collect();
        self.store_validated(account, &settings, validated).await
    }

    async fn ingest_one(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        parsed: Result<ParsedEvent, Vec<ValidationError>>,
    ) -> BillingResult<IngestedEvent> {
        let mut outcome = self
            .store_validated(account, settings, vec![parsed.map_err(event_problems)])
            .await?;
        if let Some(rejected) = outcome.rejected.pop() {
            return Err(BillingError::Invalid(rejected.errors));
        }
        outcome
            .accepted
            .pop()
            .map(|accepted| accepted.event)
            .ok_or_else(|| {
                BillingError::Store(tally_store::StoreError::Internal(
                    "event neither accepted nor rejected".into(),
                ))
            })
    }

    /// Resolves customers, then stores every valid event in one upsert.
    pub(crate) async fn store_validated(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        validated: Vec<Validated>,
    ) -> BillingResult<BatchOutcome> {
        let customers = self
            .resolve_customers(account, settings, &validated)
            .await?;
        let mut outcome = BatchOutcome::default();
        let mut ready = Vec::new();
        for (index, item) in validated.into_iter().enumerate() {
            let resolved = item.and_then(|parsed| {
                let customer = customers.get(&parsed.event.customer).cloned();
                match customer {
                    Some(Ok(found)) => Ok((parsed, found)),
                    Some(Err(problem)) => Err(vec![problem]),
                    None => Err(vec![customer_not_found()]),
                }
            });
            match resolved {
                Ok(ready_event) => ready.push((index, ready_event)),
                Err(errors) => outcome.rejected.push(BatchRejected { index, errors }),
            }
        }
        outcome.accepted = self.upsert_ready(account, ready).await?;
        Ok(outcome)
    }

    async fn upsert_ready(
        &self,
        account: &AccountId,
        ready: Vec<(usize, (ParsedEvent, ResolvedRef))>,
    ) -> BillingResult<Vec<BatchAccepted>> {
        if ready.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let readers = self.readers(account).await?;
        let ids: Vec<EventId> = self
            .ids
            .with(|rng| (0..ready.len()).map(|_| EventId::generate(rng)).collect());
        // Records move into the new events (no copy of a 5000-event batch);
        // what the answer needs is kept beside them.
        let mut answers = Vec::with_capacity(ready.len());
        let mut new_events = Vec::with_capacity(ready.len());
        for ((index, (parsed, customer)), id) in ready.into_iter().zip(ids) {
            let event = parsed.event;
            let usage_warnings = readers.warnings(&event);
            new_events.push(NewEvent {
                id,
                event_type: event.event_type,
                customer_id: customer.id.clone(),
                timestamp: event.timestamp,
                record: event.record,
                ingested_at: now,
            });
            answers.push((index, (parsed.warnings, usage_warnings), customer));
        }
        let results = self.commit.submit(account, new_events).await?;
        let touched: Vec<tally_store::CustomerId> = answers
            .iter()
            .map(|(_, _, customer)| customer.id.clone())
            .collect();
        self.watch_thresholds(account, touched).await;
        if results.len() != answers.len() {
            return Err(BillingError::Store(tally_store::StoreError::Internal(
                "upsert returned a result count unlike the batch".into(),
            )));
        }
        Ok(answers
            .into_iter()
            .zip(results)
            .map(
                |((index, (warnings, usage_warnings), customer), result)| BatchAccepted {
                    index,
                    event: IngestedEvent {
                        id: result.event_id,
                        outcome: result.outcome,
                        seq: result.seq,
                        warnings,
                        usage_warnings,
                        customer_id: customer.id,
                        customer_created: customer.created,
                    },
                },
            )
            .collect())
    }

    /// Each distinct customer reference of the valid events, resolved once,
    /// a few at a time (a batch usually names few customers; when it names
    /// many, concurrent lookups hide part of the round trips).
    async fn resolve_customers(
        &self,
        account: &AccountId,
        settings: &AccountSettings,
        validated: &[Validated],
    ) -> BillingResult<HashMap<CustomerRef, Result<ResolvedRef, Problem>>> {
        let mut distinct = HashSet::new();
        // Owned references: a stream of borrowed ones makes this future fail the
        // higher-ranked `Send` check that servers (axum handlers) require.
        let references: Vec<CustomerRef> = validated
            .iter()
            .flatten()
            .map(|parsed| &parsed.event.customer)
            .filter(|reference| distinct.insert(*reference))
            .cloned()
            .collect();
        // One bulk lookup finds the customers that exist (all of them, once
        // a customer has sent before); the rest are created together, in
        // one transaction, or refused.
        let mut resolved: HashMap<CustomerRef, Result<ResolvedRef, Problem>> = self
            .store
            .find_customers(account, &references)
            .await?
            .into_iter()
            .map(|(reference, customer)| {
                let found = ResolvedRef {
                    id: customer.id,
                    created: false,
                };
                (reference, Ok(found))
            })
            .collect();
        let missing: Vec<CustomerRef> = references
            .into_iter()
            .filter(|reference| !resolved.contains_key(reference))
            .collect();
        if missing.is_empty() {
            return Ok(resolved);
        }
        if !settings.auto_create_customers {
            resolved.extend(missing.into_iter().map(|r| (r, Err(customer_not_found()))));
            return Ok(resolved);
        }
        let wanted: Vec<(CustomerRef, CustomerId)> = self.ids.with(|rng| {
            missing
                .into_iter()
                .map(|reference| (reference, CustomerId::generate(rng)))
                .collect()
        });
        let created = self
            .store
            .resolve_or_create_customers(account, &wanted, self.now())
            .await?;
        for ((reference, _), found) in wanted.into_iter().zip(created) {
            let found = ResolvedRef {
                id: found.customer.id,
                created: found.created,
            };
            resolved.insert(reference, Ok(found));
        }
        Ok(resolved)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ResolvedRef {
    pub(crate) id: CustomerId,
    pub(crate) created: bool,
}

pub(crate) fn customer_not_found() -> Problem {
    Problem::new(
        "/customer_id",
        "customer_not_found",
        "no customer has this id or external id",
    )
}

/// Event validation errors as problems (same paths, codes and messages).
pub(crate) fn event_problems(errors: Vec<ValidationError>) -> Vec<Problem> {
    errors
        .into_iter()
        .map(|error| Problem::new(error.path, error.code.as_str(), error.message))
        .collect()
}

fn check_batch_size(len: usize) -> BillingResult<()> {
    if len == 0 {
        return Err(BillingError::invalid(
            "",
            "batch_empty",
            "a batch needs at least one event",
        ));
    }
    if len > MAX_BATCH_EVENTS {
        return Err(BillingError::invalid(
            "",
            "batch_too_large",
            format!("a batch holds at most {MAX_BATCH_EVENTS} events, got {len}"),
        ));
    }
    Ok(())
}
