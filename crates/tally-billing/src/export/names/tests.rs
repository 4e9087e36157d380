use proptest::prelude::*;

use super::*;

#[track_caller]
fn check(name: &str, expected: &str) {
    assert_eq!(safe_stem(name), expected, "stem of {name:?}");
}

#[test]
fn stems_of_awkward_names() {
    check("API calls", "API calls");
    check("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j");
    check("tab\there\nnew\u{7f}", "tab_here_new_");
    check("evil\u{202E}txt.exe", "evil_txt.exe");
    check("trailing. . ", "trailing");
    check("  leading spaces", "leading spaces");
    check(".hidden", "_hidden");
    check("..", "product");
    check("", "product");
    check("   ", "product");
    check("CON", "CON_");
    check("con.txt", "con_");
    check("Nul", "Nul_");
    check("COM1", "COM1_");
    check("lpt9", "lpt9_");
    check("COM¹", "COM¹_");
    check("COM10", "COM10");
    check("CONSOLE", "CONSOLE");
    check("Données €", "Données €");
}

#[test]
fn long_names_are_cut_on_a_character_boundary() {
    let stem = safe_stem(&"é".repeat(200));
    assert_eq!(stem, "é".repeat(MAX_STEM_BYTES / 2));
    let stem = safe_stem(&format!("a{}", "é".repeat(200)));
    assert!(stem.len() <= MAX_STEM_BYTES && stem.len() == MAX_STEM_BYTES - 1);
}

#[test]
fn a_shared_name_gets_a_number_ignoring_case() {
    let mut names = UniqueNames::new();
    assert_eq!(names.file_name("API calls", "csv"), "API calls.csv");
    assert_eq!(names.file_name("api CALLS", "csv"), "api CALLS (2).csv");
    assert_eq!(
        names.file_name("API calls (2)", "csv"),
        "API calls (2) (2).csv"
    );
    assert_eq!(names.file_name("API calls", "csv"), "API calls (3).csv");
    assert_eq!(names.file_name("a/b", "csv"), "a_b.csv");
    assert_eq!(names.file_name("a_b", "csv"), "a_b (2).csv");
}

/// What every name handed out must satisfy, checked independently of how
/// `safe_stem` builds it.
fn assert_safe(file_name: &str) {
    let stem = file_name.strip_suffix(".csv").unwrap_or_default();
    assert!(!stem.is_empty(), "{file_name:?} has no stem");
    assert!(file_name.len() <= 255, "{file_name:?} is too long");
    assert!(
        !stem.starts_with('.') && !stem.starts_with(' '),
        "{file_name:?}"
    );
    assert!(
        !stem.ends_with('.') && !stem.ends_with(' '),
        "{file_name:?}"
    );
    assert!(!file_name.chars().any(forbidden), "{file_name:?}");
    assert!(!reserved_on_windows(stem), "{file_name:?} is a device name");
}

proptest! {
    #[test]
    fn any_names_give_safe_unique_file_names(
        names in proptest::collection::vec(
            prop_oneof![
                any::<String>(),
                "[ .a-cA-C/\\\\:*?\"<>|\\x00-\\x1f]{0,12}",
                "(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\\.[a-z]{0,3})?[ .]{0,2}",
                "[a-zé]{100,140}",
            ],
            1..12,
        )
    ) {
        let mut unique = UniqueNames::new();
        let mut seen = HashSet::new();
        for name in &names {
            let file_name = unique.file_name(name, "csv");
            assert_safe(&file_name);
            prop_assert!(seen.insert(file_name.to_lowercase()), "{file_name:?} handed out twice");
        }
    }
}
