//! Currencies and money.

use tally_pricing::{Currency, Money, PricingError, TaxRate, Taxed};

use crate::dec;

#[test]
fn currencies_know_their_exponents() {
    for (code, exponent) in [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("SEK", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CAD", 2),
        ("INR", 2),
        ("CLP", 0),
    ] {
        let currency = Currency::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!((currency.code(), currency.exponent()), (code, exponent));
    }
    assert_eq!(Currency::parse("eur"), Ok(Currency::EUR));
    assert_eq!(
        Currency::parse("XXX"),
        Err(PricingError::UnknownCurrency("XXX".to_owned()))
    );
    assert!(Currency::all().count() >= 50);
}

#[test]
fn currency_serializes_as_its_code() {
    let json =
        serde_json::to_string(&Money::new(10000, Currency::EUR)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json, r#"{"minor":10000,"currency":"EUR"}"#);
    assert!(serde_json::from_str::<Currency>(r#""ZZZ""#).is_err());
}

#[test]
fn money_shows_major_units_exactly() {
    assert_eq!(Money::new(12000, Currency::EUR).to_string(), "120.00 EUR");
    assert_eq!(Money::new(14, Currency::JPY).to_string(), "14 JPY");
    assert_eq!(Money::new(-132, Currency::KWD).to_string(), "-0.132 KWD");
}

#[test]
fn money_adds_within_one_currency_and_range() {
    let eur = |minor| Money::new(minor, Currency::EUR);
    assert_eq!(eur(1).checked_add(eur(2)), Ok(eur(3)));
    assert_eq!(
        eur(i64::MAX).checked_add(eur(1)),
        Err(PricingError::Overflow)
    );
    assert_eq!(
        eur(1).checked_add(Money::new(1, Currency::USD)),
        Err(PricingError::CurrencyMismatch(Currency::EUR, Currency::USD))
    );
}

#[test]
fn tax_rates_are_never_negative_and_totals_never_wrap() {
    assert_eq!(TaxRate::new(dec("-1")), Err(PricingError::NegativeTaxRate));
    assert!(serde_json::from_str::<TaxRate>(r#""-5""#).is_err());
    let rate = TaxRate::new(dec("20")).unwrap_or(TaxRate::ZERO);
    assert_eq!(
        Taxed::compute(10000, rate),
        Ok(Taxed {
            subtotal: 10000,
            tax: 2000,
            total: 12000
        })
    );
    assert_eq!(
        Taxed::compute(-25, TaxRate::new(dec("10")).unwrap_or(TaxRate::ZERO)).map(|t| t.tax),
        Ok(-3)
    );
    assert_eq!(Taxed::compute(i64::MAX, rate), Err(PricingError::Overflow));
}
