//! Masking: keep a first character, hide the rest.

use std::borrow::Cow;

use super::detect::LOCAL_SEPARATORS;
use super::{PiiKind, find_pii};

/// `text` with every detection masked; borrowed when nothing was found.
pub fn mask_pii(text: &str) -> Cow<'_, str> {
    let found = find_pii(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    for detection in found {
        masked.push_str(text.get(copied..detection.range.start).unwrap_or_default());
        let span = text.get(detection.range.clone()).unwrap_or_default();
        match detection.kind {
            PiiKind::Email => mask_email(span, &mut masked),
            PiiKind::CardNumber | PiiKind::Iban | PiiKind::Phone => mask_number(span, &mut masked),
        }
        copied = detection.range.end;
    }
    masked.push_str(text.get(copied..).unwrap_or_default());
    Cow::Owned(masked)
}

/// The first character and `***`: `John` → `J***`. Empty stays empty.
pub fn mask_word(word: &str) -> String {
    let mut masked = String::new();
    push_masked_word(word, &mut masked);
    masked
}

fn push_masked_word(word: &str, out: &mut String) {
    if let Some(first) = word.chars().next() {
        out.push(first);
        out.push_str("***");
    }
}

/// Each part of the local part masked, separators and domain kept:
/// `lucas.carter@yourcompany.com` → `l***.c***@yourcompany.com`.
fn mask_email(span: &str, out: &mut String) {
    let Some((local, domain)) = span.split_once('@') else {
        push_masked_word(span, out);
        return;
    };
    let mut part_start = 0;
    for (at, separator) in local.match_indices(LOCAL_SEPARATORS) {
        push_masked_word(local.get(part_start..at).unwrap_or_default(), out);
        out.push_str(separator);
        part_start = at + separator.len();
    }
    push_masked_word(local.get(part_start..).unwrap_or_default(), out);
    out.push('@');
    out.push_str(domain);
}

/// The first letter or digit kept (after a leading `+`), every other letter or digit
/// replaced by `*`, separators kept: `+33 6 12 34 56 78` → `+3* * ** ** ** **`.
fn mask_number(span: &str, out: &mut String) {
    let mut kept_first = false;
    for c in span.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push(c);
        } else if kept_first {
            out.push('*');
        } else {
            out.push(c);
            kept_first = true;
        }
    }
}
