//! `aggregate` for SQLite: the filter pushed down as a prefilter, the exact
//! evaluation done by the pure evaluator on the rows that pass it.
//!
//! Quantities are never summed by SQLite (its SUM over non-integers is a float
//! sum): rows stream page by page into a `tally_aggregate::Accumulator`, which
//! sums in `Decimal`, so the answer is the evaluator's by construction.

use futures::TryStreamExt;
use tally_aggregate::{AggregateResult, Aggregator, Window};
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventWindow, StoreResult, eval_error,
};

use crate::events::UsageScan;
use crate::filter_sql::prefilter;
use crate::open::SqliteStore;

impl SqliteStore {
    pub(crate) async fn aggregate_pushed_down(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
    ) -> StoreResult<AggregateResult> {
        let filter_id = filter.map(AggregatorFilterId::as_str);
        let mut accumulator = aggregator
            .accumulator(window, filter_id)
            .map_err(eval_error)?;
        let named = match filter_id {
            Some(id) => aggregator.named_filter(id).map_err(eval_error)?,
            None => None,
        };
        let window = EventWindow::from(window);
        let scan = UsageScan {
            pool: self.reader.clone(),
            account: account.as_str().to_owned(),
            customer: Some(customer.as_str().to_owned()),
            event_type: aggregator.event_type().as_str().to_owned(),
            start_ms: window.start_ms(),
            end_ms: window.end_ms(),
            filter: prefilter(aggregator.where_filter().into_iter().chain(named)),
        };
        let mut events = scan.into_stream();
        while let Some(event) = events.try_next().await? {
            accumulator.push(&event.to_event()?);
        }
        accumulator.finish().map_err(eval_error)
    }
}
