//! Pricing on its own: quote a graduated and a volume price, with tax.
//!
//! One price list for API calls, in euro cents, used two ways:
//!
//! | tier | units           | per unit  | once      |
//! |------|-----------------|-----------|-----------|
//! | 0    | up to 1000      | 2 ¢       |           |
//! | 1    | 1000 to 10000   | 1.5 ¢     |           |
//! | 2    | above 10000     | 0.8 ¢     | 10.00 €   |
//!
//! Graduated prices each unit by the tier it falls in; volume prices every unit by
//! the tier the total reaches. The program quotes both at a few quantities, prints
//! the breakdown per tier, the rounded subtotal, 20 % tax and the total, and checks
//! every figure against the value worked out by hand (in the comments below).
//!
//! Run it with `cargo run -p tally-pricing --example quote`; it exits with a
//! non-zero status if any result differs from the expected one.

use std::process::ExitCode;

use rust_decimal::Decimal;
use tally_pricing::{BreakdownLine, Currency, Money, PriceModel, PriceModelDef, TaxRate, price};

/// The tiers as the API takes them: decimals as strings, amounts in minor units.
const TIERS: &str = r#"[
    {"up_to": "1000",  "unit_amount": "2",   "flat_amount": "0"},
    {"up_to": "10000", "unit_amount": "1.5", "flat_amount": "0"},
    {"up_to": null,    "unit_amount": "0.8", "flat_amount": "1000"}
]"#;

/// One quote and the figures expected for it, in euro cents.
struct Case {
    model: &'static str,
    quantity: &'static str,
    /// The amount of each breakdown line, in order.
    lines: &'static [&'static str],
    /// The exact amount, the sum of the lines.
    amount: &'static str,
    subtotal: i64,
    tax: i64,
    total: i64,
}

const CASES: &[Case] = &[
    // 800 × 2
    Case {
        model: "graduated",
        quantity: "800",
        lines: &["1600"],
        amount: "1600",
        subtotal: 1600,
        tax: 320,
        total: 1920,
    },
    // 1000 × 2 + 1500 × 1.5
    Case {
        model: "graduated",
        quantity: "2500",
        lines: &["2000", "2250"],
        amount: "4250",
        subtotal: 4250,
        tax: 850,
        total: 5100,
    },
    // 1000 × 2 + 9000 × 1.5 + (2345.5 × 0.8 + 1000); tax 20 % of 18376 = 3675.2
    Case {
        model: "graduated",
        quantity: "12345.5",
        lines: &["2000", "13500", "2876.4"],
        amount: "18376.4",
        subtotal: 18376,
        tax: 3675,
        total: 22051,
    },
    // 800 × 2: still in the first tier
    Case {
        model: "volume",
        quantity: "800",
        lines: &["1600"],
        amount: "1600",
        subtotal: 1600,
        tax: 320,
        total: 1920,
    },
    // every unit at 1.5: 2500 × 1.5
    Case {
        model: "volume",
        quantity: "2500",
        lines: &["3750"],
        amount: "3750",
        subtotal: 3750,
        tax: 750,
        total: 4500,
    },
    // every unit at 0.8, plus the tier's flat amount: 12345.5 × 0.8 + 1000;
    // tax 20 % of 10876 = 2175.2
    Case {
        model: "volume",
        quantity: "12345.5",
        lines: &["10876.4"],
        amount: "10876.4",
        subtotal: 10876,
        tax: 2175,
        total: 13051,
    },
];

fn main() -> ExitCode {
    let currency = Currency::EUR;
    let tax_rate = TaxRate::new(Decimal::from(20)).expect("20 % is a valid tax rate");
    let mut all_ok = true;
    for case in CASES {
        let model = match model(case.model) {
            Ok(model) => model,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        };
        let quantity = dec(case.quantity);
        println!("{} price, {quantity} calls", case.model);
        let quote = match price(&model, quantity) {
            Ok(quote) => quote,
            Err(error) => {
                eprintln!("  pricing failed ({}): {error}", error.code());
                all_ok = false;
                continue;
            }
        };
        let got_lines: Vec<String> = quote
            .breakdown
            .iter()
            .map(|l| l.amount.to_string())
            .collect();
        for line in &quote.breakdown {
            println!("  {}", describe(line));
        }
        all_ok &= check(
            "per-line amounts (cents)",
            got_lines.join(" + "),
            case.lines.join(" + "),
        );
        all_ok &= check(
            "amount (cents)",
            quote.amount.to_string(),
            case.amount.to_owned(),
        );

        let taxed = match quote.with_tax(tax_rate) {
            Ok(taxed) => taxed,
            Err(error) => {
                eprintln!("  tax failed ({}): {error}", error.code());
                all_ok = false;
                continue;
            }
        };
        let money = |minor| Money::new(minor, currency).to_string();
        all_ok &= check("subtotal", money(taxed.subtotal), money(case.subtotal));
        all_ok &= check(
            &format!("tax {} %", tax_rate.percent()),
            money(taxed.tax),
            money(case.tax),
        );
        all_ok &= check("total", money(taxed.total), money(case.total));
        println!();
    }

    if all_ok {
        println!("every figure matches the hand-computed value");
        ExitCode::SUCCESS
    } else {
        eprintln!("some figures differ from the expected values");
        ExitCode::FAILURE
    }
}

/// A validated model of `kind` (`graduated` or `volume`) over [`TIERS`].
fn model(kind: &str) -> Result<PriceModel, String> {
    let json = format!(r#"{{"type": "{kind}", "tiers": {TIERS}}}"#);
    let def: PriceModelDef =
        serde_json::from_str(&json).map_err(|error| format!("price definition: {error}"))?;
    PriceModel::parse(&def).map_err(|error| format!("invalid price: {error}"))
}

/// One tier line: `tier 1  (1000, 10000]    9000 × 1.5 + 0 = 13500 ¢`.
fn describe(line: &BreakdownLine) -> String {
    let tier = line
        .tier
        .map_or_else(String::new, |index| format!("tier {index}"));
    // Tiers cover (from, to]; the first one also holds zero, the last is open.
    let open = if line.from.is_zero() { '[' } else { '(' };
    let range = match line.to {
        Some(to) => format!("{open}{}, {to}]", line.from),
        None => format!("{open}{}, ∞)", line.from),
    };
    format!(
        "{tier:<7} {range:<14} {:>8} × {} + {} = {} ¢",
        line.quantity, line.unit_amount, line.flat_amount, line.amount
    )
}

/// Prints one result beside its expected value; true when they agree.
fn check(label: &str, got: String, expected: String) -> bool {
    let ok = got == expected;
    let verdict = if ok { "ok" } else { "MISMATCH" };
    println!("  {label:<26} {got:>12}  (expected {expected}) {verdict}");
    ok
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}
