//! File names inside an export archive: a product's name made safe on every
//! operating system, and made unique within one archive.
//!
//! A name is safe when it has none of `/ \ : * ? " < > |`, no control or
//! bidirectional-override character, does not start with a dot (hidden on Unix,
//! `..` walks up), does not end with a dot or a space (Windows drops them), is
//! not a reserved Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`…`COM9`,
//! `LPT0`…`LPT9` and the superscript `COM¹`…`LPT³`, with any extension and in any case) and fits in
//! [`MAX_STEM_BYTES`] bytes of UTF-8 before its suffix. Uniqueness ignores case,
//! because Windows and macOS file systems do.

use std::collections::HashSet;

/// The longest stem, in bytes. With ` (NNNNN)` and `.csv` the whole name stays
/// far below the 255 bytes that most file systems allow.
pub const MAX_STEM_BYTES: usize = 120;

/// The stem used when nothing of the product's name survives.
const FALLBACK_STEM: &str = "product";

const RESERVED: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

/// `name` as a file stem that every operating system accepts, never empty.
pub fn safe_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| if forbidden(c) { '_' } else { c })
        .collect();
    truncate_at_char(&mut stem, MAX_STEM_BYTES);
    let trimmed = stem.trim_end_matches(['.', ' ']).trim_start_matches(' ');
    let mut stem = match trimmed.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => trimmed.to_owned(),
    };
    if stem.is_empty() {
        stem = FALLBACK_STEM.to_owned();
    }
    if reserved_on_windows(&stem) {
        // `CON.csv` opens the console on Windows; `CON_.csv` is a plain file.
        stem.truncate(stem.find('.').unwrap_or(stem.len()));
        stem.push('_');
    }
    stem
}

/// Whether `c` may not appear in a file name on some operating system, or would
/// make the name read differently than it is (bidirectional overrides).
fn forbidden(c: char) -> bool {
    matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        || c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Windows reserves these device names whatever the extension: `nul.tar.gz` too.
fn reserved_on_windows(stem: &str) -> bool {
    let base = stem.split('.').next().unwrap_or(stem).trim_end_matches(' ');
    let upper = base.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let digit = chars.next();
    (prefix == "COM" || prefix == "LPT")
        && matches!(digit, Some('0'..='9' | '¹' | '²' | '³'))
        && chars.next().is_none()
}

fn truncate_at_char(text: &mut String, max_bytes: usize) {
    if text.len() <= max_bytes {
        return;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// Hands out file names that are unique within one archive: the second product
/// named `API calls` becomes `API calls (2).csv`. Memory holds one entry per
/// name handed out (one per product of an invoice).
#[derive(Debug, Default)]
pub struct UniqueNames {
    taken: HashSet<String>,
}

impl UniqueNames {
    /// No name taken yet.
    pub fn new() -> Self {
        UniqueNames::default()
    }

    /// A safe, unused file name for `product_name` with `extension` (`"csv"`).
    pub fn file_name(&mut self, product_name: &str, extension: &str) -> String {
        let stem = safe_stem(product_name);
        let mut candidate = format!("{stem}.{extension}");
        let mut n = 1u64;
        while !self.taken.insert(candidate.to_lowercase()) {
            n += 1;
            candidate = format!("{stem} ({n}).{extension}");
        }
        candidate
    }
}

#[cfg(test)]
mod tests;
