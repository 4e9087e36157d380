//! The PII scan: personal data in record strings, and what each policy does with it.
//!
//! Detected, in string values and string array items (never in keys, in the record
//! `id`, nor in `customer_id`; see `docs/events.md` for why):
//! - e-mail addresses: `local@domain.tld`; a local part already masked in the shape
//!   masking produces (`l***.c***@…`) is not flagged again;
//! - payment card numbers: 13–19 digits, optionally in groups separated by single
//!   spaces or dashes, first digit 2–6 (the payment networks), passing Luhn;
//! - IBANs: a known country code, its exact length, optionally grouped by single
//!   spaces, passing the mod-97 check;
//! - phone numbers: `+` followed by 8–15 digits; national forms with a trunk `0`
//!   (`06 12 34 56 78`, `020 7946 0958`) or North American `(555) 123-4567`; plain
//!   digit runs without `+` and ISO dates are never phones.
//!
//! Masking rewrites only the detected span: an e-mail keeps the first character of
//! each part of its local part and its domain (`lucas.carter@yourcompany.com` →
//! `l***.c***@yourcompany.com`); numbers keep their first character (and a leading
//! `+` with its first digit) and every other letter or digit becomes `*`, separators
//! kept (`4111 1111 1111 1111` → `4*** **** **** ****`). Masked text is never flagged
//! again, so masking is idempotent.

mod detect;
mod iban;
mod mask;
mod phone;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::pointer;
use crate::validate::{ErrorCode, Errors};
use crate::value::{Record, Scalar, Value};

pub use iban::is_valid_iban;
pub use mask::{mask_pii, mask_word};

/// Whether `number` (digits, with spaces or dashes between groups) passes the Luhn
/// checksum that card numbers carry.
pub fn passes_luhn(number: &str) -> bool {
    let separators_ok = number
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-'));
    let digits: Vec<u8> = number
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    separators_ok && detect::luhn(&digits)
}

/// What an account does with personal data found in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiPolicy {
    /// No scan.
    Off,
    /// Accept the event and list what was found.
    #[default]
    Warn,
    /// Accept the event with the personal data masked, and list what was masked.
    Mask,
    /// Refuse the event (`pii_detected`).
    Reject,
}

impl PiiPolicy {
    /// Every policy, from the most lenient to the strictest.
    pub const ALL: [PiiPolicy; 4] = [
        PiiPolicy::Off,
        PiiPolicy::Warn,
        PiiPolicy::Mask,
        PiiPolicy::Reject,
    ];

    /// The setting's name: `off`, `warn`, `mask` or `reject` (what `FromStr` parses).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiPolicy::Off => "off",
            PiiPolicy::Warn => "warn",
            PiiPolicy::Mask => "mask",
            PiiPolicy::Reject => "reject",
        }
    }
}

/// A PII policy name that is none of `off`, `warn`, `mask`, `reject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PII policy {0:?}: expected off, warn, mask or reject")]
pub struct UnknownPiiPolicy(pub String);

impl FromStr for PiiPolicy {
    type Err = UnknownPiiPolicy;
    fn from_str(text: &str) -> Result<Self, UnknownPiiPolicy> {
        PiiPolicy::ALL
            .into_iter()
            .find(|policy| policy.as_str() == text)
            .ok_or_else(|| UnknownPiiPolicy(text.to_owned()))
    }
}

impl std::fmt::Display for PiiPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of personal data found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// An e-mail address (`local@domain.tld`).
    Email,
    /// A payment card number: 13–19 digits, first digit 2–6, passing Luhn.
    CardNumber,
    /// An IBAN of a known country, of its exact length, passing the mod-97 check.
    Iban,
    /// A phone number: international (`+` and 8–15 digits) or a national form.
    Phone,
}

impl PiiKind {
    /// The snake_case name reported in warnings: `email`, `card_number`, `iban`, `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::CardNumber => "card_number",
            PiiKind::Iban => "iban",
            PiiKind::Phone => "phone",
        }
    }

    fn description(self) -> &'static str {
        match self {
            PiiKind::Email => "an e-mail address",
            PiiKind::CardNumber => "a payment card number",
            PiiKind::Iban => "an IBAN",
            PiiKind::Phone => "a phone number",
        }
    }
}

impl std::fmt::Display for PiiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Personal data found at a JSON pointer (`/record/email`, `/record/notes/2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PiiWarning {
    /// The JSON pointer of the string holding the data.
    pub path: String,
    /// What was found there.
    pub kind: PiiKind,
}

/// One detection in a text: its kind and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiMatch {
    /// What was found.
    pub kind: PiiKind,
    /// Where, as a byte range of the scanned text.
    pub range: Range<usize>,
}

/// Every detection in `text`, sorted by position, never overlapping. Where two
/// detectors claim the same characters, the first of e-mail, IBAN, card, phone wins.
pub fn find_pii(text: &str) -> Vec<PiiMatch> {
    let mut found = Vec::new();
    detect::emails(text, &mut found);
    iban::ibans(text, &mut found);
    detect::cards(text, &mut found);
    phone::phones(text, &mut found);
    found.sort_by_key(|found| found.range.start);
    found
}

/// Adds `candidate` unless it overlaps an earlier, stronger detection.
fn claim(found: &mut Vec<PiiMatch>, kind: PiiKind, range: Range<usize>) {
    let overlaps = found
        .iter()
        .any(|other| other.range.start < range.end && range.start < other.range.end);
    if !overlaps {
        found.push(PiiMatch { kind, range });
    }
}

/// Personal data in a record's strings, one warning per path and kind.
pub fn scan_record(record: &Record) -> Vec<PiiWarning> {
    scan_properties(record.properties())
}

/// Masks personal data in a record's strings in place; returns what was masked.
pub fn mask_record(record: &mut Record) -> Vec<PiiWarning> {
    let warnings = scan_properties(record.properties());
    mask_properties(record.properties_mut());
    warnings
}

/// Applies `policy` to validated properties: warnings for `warn` and `mask` (after
/// masking), `pii_detected` errors for `reject`.
pub(crate) fn apply_policy(
    policy: PiiPolicy,
    properties: &mut BTreeMap<String, Value>,
    errors: &mut Errors,
) -> Vec<PiiWarning> {
    match policy {
        PiiPolicy::Off => Vec::new(),
        PiiPolicy::Warn => scan_properties(properties),
        PiiPolicy::Mask => {
            let warnings = scan_properties(properties);
            mask_properties(properties);
            warnings
        }
        PiiPolicy::Reject => {
            for warning in scan_properties(properties) {
                let message = format!(
                    "looks like {}: remove or mask personal data before sending it",
                    warning.kind.description()
                );
                errors.push(warning.path, ErrorCode::PiiDetected, message);
            }
            Vec::new()
        }
    }
}

/// The scanned strings of a record: every string value and string array item, with
/// its path. The `id` is an identifier, not content: it is not scanned.
fn scanned_strings(properties: &BTreeMap<String, Value>) -> Vec<(String, &str)> {
    let mut strings = Vec::new();
    for (key, value) in properties.iter().filter(|(key, _)| key.as_str() != "id") {
        match value {
            Value::String(text) => strings.push((pointer::record_property(key), text.as_str())),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Scalar::String(text) = item {
                        strings.push((pointer::record_item(key, index), text.as_str()));
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    strings
}

fn scan_properties(properties: &BTreeMap<String, Value>) -> Vec<PiiWarning> {
    let mut warnings = Vec::new();
    for (path, text) in scanned_strings(properties) {
        let mut kinds: Vec<PiiKind> = find_pii(text).into_iter().map(|m| m.kind).collect();
        kinds.sort();
        kinds.dedup();
        warnings.extend(kinds.into_iter().map(|kind| PiiWarning {
            path: path.clone(),
            kind,
        }));
    }
    warnings
}

fn mask_properties(properties: &mut BTreeMap<String, Value>) {
    for (key, value) in properties.iter_mut() {
        if key == "id" {
            continue;
        }
        match value {
            Value::String(text) => mask_in_place(text),
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Scalar::String(text) = item {
                        mask_in_place(text);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// Masks `text`, keeping it within the string limit: masking an e-mail of
/// one-letter parts (`a.b.c@x.io` → `a***.b***.c***@x.io`) lengthens it, and a
/// stored value must still be one the validator would accept. Cutting the tail of
/// a masked value only hides more.
fn mask_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(mut masked) = mask_pii(text) {
        truncate_to_char_boundary(&mut masked, crate::validate::MAX_STRING_BYTES);
        *text = masked;
    }
}

fn truncate_to_char_boundary(text: &mut String, max_bytes: usize) {
    if text.len() <= max_bytes {
        return;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}
