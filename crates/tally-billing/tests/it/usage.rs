//! Usage on the seed events: totals, the events behind them, time series.

use serde_json::json;
use tally_billing::{
    BillingError, DateRange, Pagination, TimeSeriesQuery, UsageEventsQuery, UsageSummary,
};
use tally_store::AggregatorId;

use crate::support::{Harness, at, codes, problems};

/// The seed ingested, the clock at the end of January 2024, and the catalog:
/// `users` (licensed count of live users, with a `premium` filter), `calls`
/// (metered count of api calls, with a `verified` filter) and `duration` (sum).
struct Seeded {
    h: Harness,
    users: AggregatorId,
    calls: AggregatorId,
    verified: String,
    premium: String,
}

async fn seeded() -> Seeded {
    let h = Harness::new("2024-01-31T12:00:00Z").await;
    h.customer("acme-42", Some("20")).await;
    h.ingest_seed().await;
    let users = h
        .aggregator(json!({"name": "Active users", "event_type": "users", "operation": "count",
            "type": "licensed", "unit_name": "user",
            "where": {"conditional": "and", "fields": [{"property": "deleted_at", "operator": "is_null"}]},
            "custom_event_name": "{record.work_email} ({record.id})",
            "filters": [{"name": "premium", "where": {"conditional": "and", "fields": [
                {"property": "status", "operator": "equals", "value": "premium"}]}}]}))
        .await;
    let calls = h
        .aggregator(
            json!({"name": "API calls", "event_type": "api_call", "operation": "count",
            "unit_name": "call",
            "filters": [{"name": "verified", "where": {"conditional": "and", "fields": [
                {"property": "isVerified", "operator": "equals", "value": true}]}}]}),
        )
        .await;
    h.aggregator(
        json!({"name": "Duration", "event_type": "api_call", "operation": "sum",
        "property": "durationInMs", "unit_name": "ms"}),
    )
    .await;
    Seeded {
        premium: users.definition.filters[0].id.clone(),
        verified: calls.definition.filters[0].id.clone(),
        users: users.id,
        calls: calls.id,
        h,
    }
}

fn totals(summaries: &[UsageSummary]) -> Vec<(String, String, u64)> {
    summaries
        .iter()
        .map(|s| (s.name.clone(), s.total.to_string(), s.count))
        .collect()
}

#[tokio::test]
async fn without_subscription_every_aggregator_over_the_calendar_month() {
    let s = seeded().await;
    let usage =
        s.h.billing
            .customer_usage(&s.h.account, "acme-42")
            .await
            .unwrap();
    assert_eq!(
        totals(&usage),
        [
            ("API calls".into(), "4".into(), 4),
            ("Active users".into(), "3".into(), 3),
            ("Duration".into(), "207".into(), 4),
        ]
    );
    assert_eq!(usage[1].unit_name.as_deref(), Some("user"));
    assert_eq!(usage[0].period.start(), at("2024-01-01T00:00:00Z"));
    assert_eq!(usage[0].period.end(), at("2024-02-01T00:00:00Z"));
}

#[tokio::test]
async fn with_a_subscription_its_aggregators_over_its_period() {
    let s = seeded().await;
    let product = s
        .h
        .product(json!({"name": "Seats", "type": "usage", "aggregator_id": s.users, "currency": "EUR",
            "price_groups": [{"name": "all", "price": {"type": "per_unit", "unit_amount": "1000"}}]}))
        .await;
    s.h.subscription(
        json!({"customer_id": "acme-42", "product_ids": [product.id],
        "starts_at": "2023-12-05T00:00:00Z", "billing_interval": {"period": "months", "count": 1}}),
    )
    .await;
    let usage =
        s.h.billing
            .customer_usage(&s.h.account, "acme-42")
            .await
            .unwrap();
    assert_eq!(totals(&usage), [("Active users".into(), "3".into(), 3)]);
    // [Jan 5, Feb 5): 262 (Feb 10) is not there yet.
    assert_eq!(usage[0].period.start(), at("2024-01-05T00:00:00Z"));
    // In the next period user 262 has arrived.
    s.h.set_now("2024-02-20T00:00:00Z");
    let usage =
        s.h.billing
            .customer_usage(&s.h.account, "acme-42")
            .await
            .unwrap();
    assert_eq!(totals(&usage), [("Active users".into(), "4".into(), 4)]);

    // One aggregator defaults to the same period; explicit dates override it.
    let calls =
        s.h.billing
            .customer_aggregator_usage(
                &s.h.account,
                "acme-42",
                s.users.as_str(),
                &DateRange::default(),
            )
            .await
            .unwrap();
    assert_eq!(
        (calls.period_start, calls.period_end),
        (at("2024-02-05T00:00:00Z"), at("2024-03-05T00:00:00Z"))
    );
}

#[tokio::test]
async fn one_aggregator_over_a_range() {
    let s = seeded().await;
    let range = DateRange::new("2024-01-05", "2024-01-06T00:00:00Z");
    let usage =
        s.h.billing
            .customer_aggregator_usage(&s.h.account, "acme-42", s.calls.as_str(), &range)
            .await
            .unwrap();
    assert_eq!((usage.total.to_string(), usage.count), ("2".into(), 2));
    let whole =
        s.h.billing
            .customer_aggregator_usage(
                &s.h.account,
                "acme-42",
                s.calls.as_str(),
                &DateRange::default(),
            )
            .await
            .unwrap();
    assert_eq!(
        (whole.total.to_string(), whole.period_start),
        ("4".into(), at("2024-01-01T00:00:00Z"))
    );

    let backwards = DateRange::new("2024-02-01", "2024-01-01");
    let result =
        s.h.billing
            .customer_aggregator_usage(&s.h.account, "acme-42", s.calls.as_str(), &backwards)
            .await;
    assert_eq!(
        codes(&problems(result)),
        ["/start_date start_not_before_end"]
    );
    let result =
        s.h.billing
            .customer_aggregator_usage(&s.h.account, "acme-42", "agg_nope", &range)
            .await;
    assert!(
        matches!(result, Err(BillingError::NotFound { what: "aggregator" })),
        "{result:?}"
    );
    let result =
        s.h.billing
            .customer_aggregator_usage(&s.h.account, "nobody", s.calls.as_str(), &range)
            .await;
    assert!(
        matches!(result, Err(BillingError::NotFound { what: "customer" })),
        "{result:?}"
    );
}

#[tokio::test]
async fn usage_events_are_named_and_paginated() {
    let s = seeded().await;
    let query = UsageEventsQuery {
        range: DateRange::new("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        aggregator_filter_id: None,
        page: Pagination::new(2, 1),
    };
    let page =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.users.as_str(), &query)
            .await
            .unwrap();
    assert_eq!((page.total, page.taken, page.skipped), (3, 2, 1));
    let names: Vec<&str> = page.data.iter().map(|e| e.name.as_str()).collect();
    // Licensed: every live user before the end, in timestamp order (259, 260, 258).
    assert_eq!(
        names,
        [
            "b***@yourcompany.com (260)",
            "l***.c***@yourcompany.com (258)"
        ]
    );
    assert_eq!(
        page.data[1].timestamp.to_rfc3339(),
        "2024-01-15T00:00:00.000Z"
    );
    assert_eq!(page.data[1].payload["status"], json!("premium"));
    assert_eq!(page.data[1].payload["id"], json!(258));
    assert!(page.data[0].id.as_str().starts_with("evt_"));

    let premium = UsageEventsQuery {
        aggregator_filter_id: Some(s.premium.clone()),
        ..query.clone()
    };
    let page =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.users.as_str(), &premium)
            .await
            .unwrap();
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn usage_events_default_names_and_foreign_filters() {
    let s = seeded().await;
    let query = UsageEventsQuery::default();
    let page =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.calls.as_str(), &query)
            .await
            .unwrap();
    let names: Vec<&str> = page.data.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "api_call D32NAA1",
            "api_call D32NAA2",
            "api_call D32NAA3",
            "api_call D32NAA4"
        ]
    );

    let foreign = UsageEventsQuery {
        aggregator_filter_id: Some(s.premium.clone()),
        ..UsageEventsQuery::default()
    };
    let result =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.calls.as_str(), &foreign)
            .await;
    assert_eq!(
        codes(&problems(result)),
        ["/aggregator_filter_id filter_of_another_aggregator"]
    );
    let unknown = UsageEventsQuery {
        aggregator_filter_id: Some("agf_nobodyhasthisfilter00".to_owned()),
        ..UsageEventsQuery::default()
    };
    let result =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.calls.as_str(), &unknown)
            .await;
    assert_eq!(
        codes(&problems(result)),
        ["/aggregator_filter_id unknown_filter"]
    );
    let too_many = UsageEventsQuery {
        page: Pagination::new(101, 0),
        ..UsageEventsQuery::default()
    };
    let result =
        s.h.billing
            .customer_usage_events(&s.h.account, "acme-42", s.calls.as_str(), &too_many)
            .await;
    assert_eq!(codes(&problems(result)), ["/take out_of_range"]);
}

#[tokio::test]
async fn daily_time_series_across_customers_and_for_one() {
    let s = seeded().await;
    let query = TimeSeriesQuery {
        range: DateRange::new("2024-01-05T00:00:00Z", "2024-01-07T00:00:00Z"),
        group_by: Some("day".into()),
        ..TimeSeriesQuery::default()
    };
    let series =
        s.h.billing
            .aggregator_time_series(&s.h.account, s.calls.as_str(), &query)
            .await
            .unwrap();
    let points: Vec<(String, String)> = series
        .points
        .iter()
        .map(|p| (p.start.to_rfc3339(), p.total.to_string()))
        .collect();
    // acme-42 has two calls on the 5th and one on the 6th; globex one on the 5th.
    assert_eq!(
        points,
        [
            ("2024-01-05T00:00:00.000Z".into(), "3".into()),
            ("2024-01-06T00:00:00.000Z".into(), "1".into())
        ]
    );
    let verified_for_acme = TimeSeriesQuery {
        aggregator_filter_id: Some(s.verified.clone()),
        customer_id: Some("acme-42".into()),
        group_by: Some("hour".into()),
        ..query.clone()
    };
    let series =
        s.h.billing
            .aggregator_time_series(&s.h.account, s.calls.as_str(), &verified_for_acme)
            .await
            .unwrap();
    assert_eq!(series.points.len(), 48);
    let total: u64 = series.points.iter().map(|p| p.count).sum();
    assert_eq!(total, 2);
    assert_eq!(series.points[47].end, at("2024-01-07T00:00:00Z"));
}

#[tokio::test]
async fn time_series_limits() {
    let s = seeded().await;
    let hourly_year = TimeSeriesQuery {
        range: DateRange::new("2024-01-01", "2025-01-01"),
        group_by: Some("hour".into()),
        ..TimeSeriesQuery::default()
    };
    let result =
        s.h.billing
            .aggregator_time_series(&s.h.account, s.calls.as_str(), &hourly_year)
            .await;
    assert_eq!(codes(&problems(result)), ["/group_by too_many_buckets"]);
    let weekly = TimeSeriesQuery {
        group_by: Some("week".into()),
        ..TimeSeriesQuery::default()
    };
    let result =
        s.h.billing
            .aggregator_time_series(&s.h.account, s.calls.as_str(), &weekly)
            .await;
    assert_eq!(codes(&problems(result)), ["/group_by invalid_value"]);
    // The default: the current calendar month by day.
    let series =
        s.h.billing
            .aggregator_time_series(&s.h.account, s.users.as_str(), &TimeSeriesQuery::default())
            .await
            .unwrap();
    assert_eq!(series.points.len(), 31);
    // Licensed: the users alive at each day's end, each as its version dated
    // before then says. Jan 1: 258 (as of Nov 12) and 259. Jan 10..14: 258's
    // version of Jan 10 (sent after the Jan 15 one, kept as history) marks it
    // deleted, so only 259 and 260. Jan 31: 258 (as of Jan 15), 259 and 260;
    // 261 was deleted on Jan 25 by its own version.
    let totals: Vec<String> = series.points.iter().map(|p| p.total.to_string()).collect();
    assert_eq!(totals[0], "2");
    assert_eq!(totals[2], "3", "260 from Jan 3");
    assert_eq!(totals[9..14], ["2"; 5], "258 deleted as of Jan 10");
    assert_eq!(totals[14], "3", "258 again as of Jan 15");
    assert_eq!(totals[30], "3");
}

#[tokio::test]
async fn a_formula_dividing_by_zero_is_an_evaluation_error() {
    let s = seeded().await;
    let ratio =
        s.h.aggregator(
            json!({"name": "Ratio", "event_type": "api_call", "operation": "formula",
            "formula": "sum(durationInMs) / (count(*) - count(*))"}),
        )
        .await;
    let result =
        s.h.billing
            .customer_aggregator_usage(
                &s.h.account,
                "acme-42",
                ratio.id.as_str(),
                &DateRange::default(),
            )
            .await;
    assert!(
        matches!(result, Err(BillingError::Evaluation(_))),
        "{result:?}"
    );
}

/// Each point of the usage chart is the usage from the period's start to its
/// instant, read alone: whether the chart adds up a daily series (`count`, a
/// `sum` never clamped) or reads each day (`max`, a `sum` whose days go
/// below zero), and for a period starting in the middle of a day.
#[tokio::test]
async fn each_point_of_usage_progress_is_the_usage_up_to_it() {
    let h = Harness::new("2024-01-20T15:30:00Z").await;
    h.customer("acme-42", None).await;
    let definitions = [
        json!({"name": "Calls", "event_type": "api_call", "operation": "count"}),
        json!({"name": "Units", "event_type": "api_call", "operation": "sum", "property": "units"}),
        json!({"name": "Delta", "event_type": "api_call", "operation": "sum", "property": "delta"}),
        json!({"name": "Peak", "event_type": "api_call", "operation": "max", "property": "units"}),
    ];
    let mut products = Vec::new();
    for definition in definitions {
        let name = definition["name"].clone();
        let aggregator = h.aggregator(definition).await;
        let product = h
            .product(
                json!({"name": name, "type": "usage", "aggregator_id": aggregator.id,
                "currency": "EUR", "price_groups": [{"name": "all",
                "price": {"type": "per_unit", "unit_amount": "1"}}]}),
            )
            .await;
        products.push(product.id.to_string());
    }
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": products,
            "starts_at": "2024-01-03T12:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .await;
    // Some days without events, some with several; `delta` goes below zero
    // on its second day, so that sum is clamped and read day by day.
    let events: Vec<serde_json::Value> = [
        (3, 13, 4, 5),
        (3, 20, 1, -9),
        (4, 1, 7, 2),
        (7, 9, 2, 3),
        (9, 23, 5, -1),
        (20, 15, 3, 8),
    ]
    .iter()
    .enumerate()
    .map(|(n, (day, hour, units, delta))| {
        json!({"customer_id": "acme-42", "event_type": "api_call",
                "timestamp": format!("2024-01-{day:02}T{hour:02}:00:00Z"),
                "record": {"id": n, "units": units, "delta": delta}})
    })
    .collect();
    let outcome = h.billing.ingest_batch(&h.account, &events).await.unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);

    let charts = h
        .billing
        .usage_progress(&h.account, subscription.id.as_str())
        .await
        .unwrap();
    assert_eq!(charts.len(), 4);
    for chart in &charts {
        assert_eq!(chart.period.start(), at("2024-01-03T12:00:00Z"));
        let ends: Vec<String> = chart.points.iter().map(|p| p.at.to_rfc3339()).collect();
        assert_eq!(ends.first().unwrap(), "2024-01-04T00:00:00.000Z");
        assert_eq!(ends.last().unwrap(), "2024-01-20T15:30:00.000Z");
        assert_eq!(ends.len(), 18, "17 day ends, then now");
        for point in &chart.points {
            let range = DateRange::new(&chart.period.start().to_rfc3339(), &point.at.to_rfc3339());
            let alone = h
                .billing
                .customer_aggregator_usage(
                    &h.account,
                    "acme-42",
                    chart.aggregator_id.as_str(),
                    &range,
                )
                .await
                .unwrap();
            assert_eq!(
                point.quantity,
                alone.total,
                "{} at {}",
                chart.name,
                point.at.to_rfc3339()
            );
        }
    }
    let last = |name: &str| {
        let chart = charts.iter().find(|c| c.name == name).unwrap();
        chart.points.last().unwrap().quantity
    };
    assert_eq!(last("Calls"), 6.into());
    assert_eq!(last("Units"), 22.into());
    assert_eq!(last("Delta"), 8.into(), "5 - 9 + 2 + 3 - 1 + 8");
    assert_eq!(last("Peak"), 7.into());
}
