//! IBAN detection: a known country, its exact length, the mod-97 check.

use super::{PiiKind, PiiMatch, claim};

/// IBAN lengths by country (the SWIFT IBAN registry).
const LENGTHS: [(&str, usize); 89] = [
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// IBANs standing alone (no letter or digit touching them), in either case, written
/// as one word or in groups separated by single spaces.
pub(super) fn ibans(text: &str, found: &mut Vec<PiiMatch>) {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if let Some(end) = iban_at(bytes, start) {
            claim(found, PiiKind::Iban, start..end);
        }
    }
}

/// The end of a valid IBAN starting at `start`, if one does.
fn iban_at(bytes: &[u8], start: usize) -> Option<usize> {
    let touches_word = start
        .checked_sub(1)
        .and_then(|before| bytes.get(before))
        .is_some_and(u8::is_ascii_alphanumeric);
    let head = bytes.get(start..start + 4)?;
    let shaped = head.iter().take(2).all(u8::is_ascii_alphabetic)
        && head.iter().skip(2).all(u8::is_ascii_digit);
    if touches_word || !shaped {
        return None;
    }
    let country = [
        head.first()?.to_ascii_uppercase(),
        head.get(1)?.to_ascii_uppercase(),
    ];
    let length = LENGTHS
        .iter()
        .find(|(code, _)| code.as_bytes() == country)
        .map(|(_, length)| *length)?;
    let (characters, end) = collect(bytes, start, length)?;
    let stands_alone = !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
    (stands_alone && mod97_is_one(&characters)).then_some(end)
}

/// `length` alphanumeric characters from `start`, single spaces between them skipped.
fn collect(bytes: &[u8], start: usize, length: usize) -> Option<(Vec<u8>, usize)> {
    let mut characters = Vec::with_capacity(length);
    let mut position = start;
    while characters.len() < length {
        let byte = *bytes.get(position)?;
        if byte.is_ascii_alphanumeric() {
            characters.push(byte.to_ascii_uppercase());
        } else if byte == b' '
            && bytes
                .get(position + 1)
                .is_some_and(u8::is_ascii_alphanumeric)
        {
            // A single space between groups; the next byte is checked on the next turn.
        } else {
            return None;
        }
        position += 1;
    }
    Some((characters, position))
}

/// ISO 13616: move the first four characters to the end, read letters as 10..=35,
/// and the number must be 1 modulo 97.
fn mod97_is_one(characters: &[u8]) -> bool {
    let rotated = characters.iter().skip(4).chain(characters.iter().take(4));
    let mut remainder: u32 = 0;
    for &c in rotated {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

/// Whether `text` is exactly one valid IBAN (spaces between groups allowed).
pub fn is_valid_iban(text: &str) -> bool {
    iban_at(text.as_bytes(), 0) == Some(text.len())
}
