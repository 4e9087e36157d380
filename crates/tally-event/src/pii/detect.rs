//! E-mail and payment card detection.

use super::{PiiKind, PiiMatch, claim};

/// Most digits in a card number (ISO/IEC 7812).
const MAX_CARD_DIGITS: usize = 19;
/// Fewest digits in a card number.
const MIN_CARD_DIGITS: usize = 13;

/// `local@domain.tld`, the local part of `[A-Za-z0-9._+-*]`, the domain of ASCII
/// labels and an alphabetic top-level domain of at least two letters.
pub(super) fn emails(text: &str, found: &mut Vec<PiiMatch>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start
            .checked_sub(1)
            .and_then(|before| bytes.get(before))
            .is_some_and(|&b| is_local_byte(b))
        {
            start -= 1;
        }
        while start < at && bytes.get(start) == Some(&b'.') {
            start += 1;
        }
        let mut end = at + 1;
        while bytes.get(end).is_some_and(|&b| is_domain_byte(b)) {
            end += 1;
        }
        // A sentence may end right after the address: "write to a@b.com."
        while end > at + 1 && matches!(bytes.get(end - 1), Some(b'.' | b'-')) {
            end -= 1;
        }
        let (Some(local), Some(domain)) = (text.get(start..at), text.get(at + 1..end)) else {
            continue;
        };
        if is_local_part(local) && is_domain(domain) && !is_masked_local(local) {
            claim(found, PiiKind::Email, start..end);
        }
    }
}

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b'*')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn is_local_part(local: &str) -> bool {
    local.bytes().any(|b| b.is_ascii_alphanumeric())
        && !local.ends_with('.')
        && !local.contains("..")
}

fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let well_formed = labels
        .iter()
        .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    let tld_ok = labels
        .last()
        .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    labels.len() >= 2 && well_formed && tld_ok
}

/// The separators between the parts of a local part that masking keeps.
pub(super) const LOCAL_SEPARATORS: [char; 4] = ['.', '_', '+', '-'];

/// A local part in the shape masking produces (`l***.c***`): already obfuscated.
fn is_masked_local(local: &str) -> bool {
    local
        .split(LOCAL_SEPARATORS)
        .filter(|part| !part.is_empty())
        .all(|part| {
            let mut chars = part.chars();
            chars.next().is_some() && {
                let rest = chars.as_str();
                !rest.is_empty() && rest.bytes().all(|b| b == b'*')
            }
        })
}

/// Card numbers: runs of digit groups separated by single spaces or dashes, standing
/// alone (no letter or digit touching the run). Any window of whole groups holding
/// 13–19 digits, starting with 2–6 and passing Luhn, is a card number.
pub(super) fn cards(text: &str, found: &mut Vec<PiiMatch>) {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let starts_run = bytes.get(index).is_some_and(u8::is_ascii_digit)
            && !index
                .checked_sub(1)
                .and_then(|before| bytes.get(before))
                .is_some_and(u8::is_ascii_alphanumeric);
        if !starts_run {
            index += 1;
            continue;
        }
        let groups = digit_groups(bytes, index);
        let end = groups.last().map_or(index + 1, |group| group.end);
        if !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            card_windows(bytes, &groups, found);
        }
        index = end.max(index + 1);
    }
}

/// The digit groups of a run starting at `start`: digits, then more groups after
/// single spaces or dashes.
fn digit_groups(bytes: &[u8], start: usize) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut position = start;
    loop {
        let group_start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            position += 1;
        }
        groups.push(group_start..position);
        let separator = matches!(bytes.get(position), Some(b' ' | b'-'));
        if !(separator && bytes.get(position + 1).is_some_and(u8::is_ascii_digit)) {
            return groups;
        }
        position += 1;
    }
}

fn card_windows(bytes: &[u8], groups: &[std::ops::Range<usize>], found: &mut Vec<PiiMatch>) {
    let mut first = 0;
    while first < groups.len() {
        let mut ends = Vec::new();
        let mut digits = 0;
        for (last, group) in groups.iter().enumerate().skip(first) {
            digits += group.len();
            if digits > MAX_CARD_DIGITS {
                break;
            }
            if digits >= MIN_CARD_DIGITS {
                ends.push(last);
            }
        }
        // The longest window wins: a 16-digit card may hold a 13-digit Luhn prefix.
        let hit = ends.into_iter().rev().find_map(|last| {
            let range = groups.get(first)?.start..groups.get(last)?.end;
            is_card(bytes.get(range.clone())?).then_some((last, range))
        });
        match hit {
            Some((last, range)) => {
                claim(found, PiiKind::CardNumber, range);
                first = last + 1;
            }
            None => first += 1,
        }
    }
}

fn is_card(span: &[u8]) -> bool {
    let digits: Vec<u8> = span
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect();
    digits.first().is_some_and(|first| (2..=6).contains(first)) && luhn(&digits)
}

/// The Luhn checksum over digit values (0–9): doubling every second digit from the
/// right, the sum is a multiple of ten.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let digit = u32::from(digit);
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}
