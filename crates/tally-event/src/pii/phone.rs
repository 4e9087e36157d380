//! Phone number detection, tuned against false positives: ids, amounts, dates and
//! timestamps are far more common in records than phone numbers.
//!
//! A candidate is a run of digits, spaces, `-`, `.`, `(`, `)` and a leading `+`,
//! at most 32 bytes, that starts after a space or punctuation (not after a letter,
//! digit, `-`, `.`, `_` or `/`) and is not followed by a letter or digit. It is a
//! phone number when, once trailing separators are dropped, it is one of:
//! - international: `+`, a digit 1–9, 8–15 digits in all (E.164);
//! - national with a trunk prefix: a first group of 2+ digits starting with `0`,
//!   at least two groups, 9–12 digits (`06 12 34 56 78`, `020 7946 0958`);
//! - North American: groups of 3-3-4 digits, area code starting 2–9, optionally
//!   after a `1` group (`(555) 123-4567`, `1-555-123-4567`).
//!
//! Plain digit runs without `+` are never phones, and neither is anything starting
//! like an ISO date (`2024-12-20`).

use super::{PiiKind, PiiMatch, claim};

/// Longest candidate, in bytes: `+44 (0) 20 7946 0958 ` with room to spare.
const MAX_CANDIDATE_BYTES: usize = 32;

pub(super) fn phones(text: &str, found: &mut Vec<PiiMatch>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        match phone_at(bytes, start) {
            Some(end) => {
                claim(found, PiiKind::Phone, start..end);
                start = end;
            }
            None => start += 1,
        }
    }
}

fn is_run_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

fn phone_at(bytes: &[u8], start: usize) -> Option<usize> {
    let first = *bytes.get(start)?;
    let opens = first.is_ascii_digit()
        || (matches!(first, b'+' | b'(') && bytes.get(start + 1).is_some_and(u8::is_ascii_digit));
    let before = start.checked_sub(1).and_then(|index| bytes.get(index));
    let after_boundary = !before.is_some_and(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_' | b'/' | b'(' | b')')
    });
    if !opens || !after_boundary {
        return None;
    }
    let mut end = start + 1;
    while bytes.get(end).is_some_and(|&b| is_run_byte(b)) {
        end += 1;
        if end - start > MAX_CANDIDATE_BYTES {
            return None;
        }
    }
    while end > start && !bytes.get(end - 1).is_some_and(u8::is_ascii_digit) {
        end -= 1;
    }
    // Digits glued to a word (`2023-11-12T00`, `555-1234abc`) are not a phone number.
    if bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    is_phone(bytes.get(start..end)?).then_some(end)
}

fn is_phone(candidate: &[u8]) -> bool {
    if !parentheses_balanced(candidate)
        || doubled_separator(candidate)
        || starts_like_date(candidate)
    {
        return false;
    }
    let groups: Vec<&[u8]> = candidate
        .split(|b| !b.is_ascii_digit())
        .filter(|group| !group.is_empty())
        .collect();
    let digits: usize = groups.iter().map(|group| group.len()).sum();
    if candidate.first() == Some(&b'+') {
        let country_ok = candidate.get(1).is_some_and(|b| (b'1'..=b'9').contains(b));
        return country_ok && (8..=15).contains(&digits);
    }
    north_american(&groups) || trunk_national(&groups, digits)
}

fn north_american(groups: &[&[u8]]) -> bool {
    let groups = match groups {
        [first, rest @ ..] if *first == b"1" && rest.len() == 3 => rest,
        groups => groups,
    };
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    let area_ok = groups
        .first()
        .and_then(|area| area.first())
        .is_some_and(|b| (b'2'..=b'9').contains(b));
    lengths == [3, 3, 4] && area_ok
}

fn trunk_national(groups: &[&[u8]], digits: usize) -> bool {
    let first_ok = groups
        .first()
        .is_some_and(|first| first.len() >= 2 && first.first() == Some(&b'0'));
    first_ok && groups.len() >= 2 && (9..=12).contains(&digits)
}

fn parentheses_balanced(candidate: &[u8]) -> bool {
    let opens = candidate.iter().filter(|&&b| b == b'(').count();
    let closes = candidate.iter().filter(|&&b| b == b')').count();
    let open_at = candidate.iter().position(|&b| b == b'(');
    let close_at = candidate.iter().position(|&b| b == b')');
    match (open_at, close_at) {
        (None, None) => true,
        (Some(open), Some(close)) => opens == 1 && closes == 1 && open < close,
        _ => false,
    }
}

/// `1 - 2`, `1..2`: lists and ranges, not phone numbers.
fn doubled_separator(candidate: &[u8]) -> bool {
    candidate
        .windows(2)
        .any(|pair| pair.iter().all(|b| matches!(b, b' ' | b'-' | b'.')))
}

/// `2024-12-20`, `2024.12.20`: dates, not phone numbers.
fn starts_like_date(candidate: &[u8]) -> bool {
    let shape = b"dddd-dd-dd";
    candidate.len() >= shape.len()
        && candidate
            .iter()
            .zip(shape)
            .all(|(&b, &expected)| match expected {
                b'd' => b.is_ascii_digit(),
                _ => matches!(b, b'-' | b'.' | b' '),
            })
}
