//! ISO 4217 currencies and their minor-unit exponents.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PricingError;

/// An ISO 4217 currency known to Tally, with the number of decimals of its minor
/// unit (EUR 2: cents; JPY 0: no minor unit; KWD 3: fils).
///
/// Only codes in the table below parse, so a `Currency` always has a known
/// exponent. Parsing is case-insensitive; the code is kept in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// (code, exponent) per ISO 4217. Exponents follow the standard, not local habit
/// (HUF and TWD have 2 there even though cash rarely uses them).
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

impl Currency {
    /// Euro: 2 decimals, amounts in cents.
    pub const EUR: Currency = Currency {
        code: "EUR",
        exponent: 2,
    };
    /// US dollar: 2 decimals, amounts in cents.
    pub const USD: Currency = Currency {
        code: "USD",
        exponent: 2,
    };
    /// Japanese yen: no minor unit, amounts in yen.
    pub const JPY: Currency = Currency {
        code: "JPY",
        exponent: 0,
    };
    /// Kuwaiti dinar: 3 decimals, amounts in fils.
    pub const KWD: Currency = Currency {
        code: "KWD",
        exponent: 3,
    };

    /// Parses a three-letter code (`"EUR"`, `"eur"`).
    ///
    /// # Errors
    ///
    /// [`PricingError::UnknownCurrency`] (code `unknown_currency`) for a code not in
    /// Tally's table.
    ///
    /// ```
    /// use tally_pricing::{Currency, Money};
    ///
    /// let kwd = Currency::parse("kwd").unwrap();
    /// assert_eq!((kwd.code(), kwd.exponent()), ("KWD", 3));
    /// assert_eq!(Money::new(12_345, kwd).to_string(), "12.345 KWD");
    /// assert_eq!(Money::new(12_345, Currency::JPY).to_string(), "12345 JPY");
    /// assert!(Currency::parse("XXX").is_err());
    /// ```
    pub fn parse(code: &str) -> Result<Currency, PricingError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(code))
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| PricingError::UnknownCurrency(code.to_owned()))
    }

    /// The upper-case ISO code.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// Decimals of the minor unit: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// Every currency Tally knows, sorted by code.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .map(|&(code, exponent)| Currency { code, exponent })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}
