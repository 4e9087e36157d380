//! Two properties a company might hold about its own pricing, written with the
//! strategies of `tally-testkit` and run as a program:
//!
//! 1. "No customer ever pays more than the cap": whatever the price model and the
//!    usage, a product with a `max_amount` bills at most that amount (before tax).
//! 2. "Moving to the new tiers never raises a bill by more than 10 %": for every
//!    quantity, the new graduated price is at most 110 % of the old one.
//!
//! `cargo run -p tally-testkit --example cap_property` exits with status 1 and the
//! smallest failing case when a property does not hold.

use std::process::ExitCode;
use std::str::FromStr;

use proptest::collection::vec;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use tally_pricing::{PriceModel, PriceModelDef, ProductBounds, TierDef, price, price_events};
use tally_testkit::{price_model, quantity};

/// The product's subtotal for `quantity` (or, for a percentage price, for the
/// per-event `values`), after the product's bounds.
fn billed(
    model: &PriceModel,
    bounds: &ProductBounds,
    quantity: Decimal,
    values: &[Decimal],
) -> Result<i64, TestCaseError> {
    let quote = match model.percentage_property() {
        Some(_) => price_events(model, values),
        None => price(model, quantity),
    }
    .map_err(|error| TestCaseError::fail(format!("pricing failed: {error}")))?;
    let adjustment = bounds
        .apply(quote.subtotal)
        .map_err(|error| TestCaseError::fail(format!("bounds failed: {error}")))?;
    Ok(quote.subtotal + adjustment.map_or(0, |a| a.amount))
}

fn the_cap_is_never_exceeded(runner: &mut TestRunner) -> Result<(), String> {
    let cases = (
        price_model(),
        0_i64..10_000_000,
        quantity(),
        vec(quantity(), 0..20),
    );
    runner
        .run(&cases, |(def, cap, quantity, values)| {
            let model = PriceModel::parse(&def).expect("the strategy gives valid models");
            let bounds = ProductBounds::parse(None, Some(Decimal::from(cap)))
                .expect("a whole, non-negative cap");
            let total = billed(&model, &bounds, quantity, &values)?;
            if total > cap {
                return Err(TestCaseError::fail(format!(
                    "billed {total} over the cap {cap}"
                )));
            }
            Ok(())
        })
        .map_err(|error| error.to_string())
}

fn tier(up_to: Option<&str>, unit_amount: &str) -> TierDef {
    let dec = |text: &str| Decimal::from_str(text).expect("a decimal");
    TierDef {
        up_to: up_to.map(dec),
        unit_amount: dec(unit_amount),
        flat_amount: Decimal::ZERO,
    }
}

fn graduated(tiers: Vec<TierDef>) -> PriceModel {
    PriceModel::parse(&PriceModelDef::Graduated { tiers }).expect("valid tiers")
}

fn new_tiers_raise_no_bill_by_more_than_10_percent(runner: &mut TestRunner) -> Result<(), String> {
    // cents per API call
    let old = graduated(vec![
        tier(Some("1000"), "2"),
        tier(Some("10000"), "1.5"),
        tier(None, "1"),
    ]);
    let new = graduated(vec![
        tier(Some("1000"), "2.2"),
        tier(Some("10000"), "1.4"),
        tier(None, "0.9"),
    ]);
    let limit = Decimal::from_str("1.1").expect("a decimal");
    runner
        .run(&quantity(), |quantity| {
            // Exact amounts: rounding each to a whole cent may move either by half
            // a cent, which is no price change.
            let amount = |model: &PriceModel| price(model, quantity).map(|q| q.amount);
            let (before, after) = (amount(&old), amount(&new));
            let (Ok(before), Ok(after)) = (before, after) else {
                return Err(TestCaseError::fail("pricing failed"));
            };
            if after > before * limit {
                return Err(TestCaseError::fail(format!(
                    "{quantity} calls: {before} before, {after} after"
                )));
            }
            Ok(())
        })
        .map_err(|error| error.to_string())
}

/// A property: runs its cases, or says why it failed.
type Property = fn(&mut TestRunner) -> Result<(), String>;

fn main() -> ExitCode {
    let properties: [(&str, Property); 2] = [
        ("the cap is never exceeded", the_cap_is_never_exceeded),
        (
            "the new tiers raise no bill by more than 10 %",
            new_tiers_raise_no_bill_by_more_than_10_percent,
        ),
    ];
    let mut failed = false;
    for (name, property) in properties {
        // No failure file: a program has no source file to keep failing seeds next to.
        let config = Config {
            failure_persistence: None,
            ..Config::with_cases(2000)
        };
        match property(&mut TestRunner::new(config)) {
            Ok(()) => println!("ok: {name}"),
            Err(error) => {
                println!("FAILED: {name}: {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
