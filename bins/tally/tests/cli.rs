//! Runs the built `tally validate` on fixture files and standard input.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/events")
        .join(name)
}

fn tally(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env_remove("TALLY_PII_POLICY")
        .env_remove("TALLY_MAX_FUTURE_SKEW_MS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn sample_is_all_valid() {
    let sample = fixture("sample.ndjson");
    let output = tally(&["validate", sample.to_str().unwrap()], None);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.starts_with("line 1: ok\n"), "{text}");
    assert!(
        text.ends_with("7 events: 7 valid, 0 invalid, 0 pii warnings\n"),
        "{text}"
    );
}

const MIXED_REPORT: &str = "\
line 1: ok
line 3: /customer_id empty: customer_id must not be empty
line 3: /event_type invalid_characters: event_type may only contain letters, digits and _ . : -
line 3: /timestamp timestamp_in_seconds: timestamp 1641419812 looks like seconds since the epoch: send milliseconds (1641419812000)
line 3: /record/id invalid_type: record.id must be a string or an integer, not a decimal number
line 3: /record/address nested_object: record properties cannot be objects: records are flat
line 3: /extra unknown_field: unknown field: an event has only customer_id, event_type, timestamp and record
line 4: malformed_json: malformed JSON at line 1 column 132: EOF while parsing an object
line 5: ok
line 5: /record/email pii_warning: email
line 6: invalid_type: event must be a JSON object
line 7: /timestamp invalid_timestamp: timestamp must be RFC 3339 (2024-12-20T16:04:11Z), YYYY-MM-DD HH:MM:SS[.fff] in UTC, or integer milliseconds since the epoch
line 7: /record/items/0 array_of_objects: arrays cannot hold objects
line 7: /record/tags/1 invalid_type: array items must be strings, numbers or booleans, not null
6 events: 2 valid, 4 invalid, 1 pii warning
";

#[test]
fn mixed_reports_every_error_and_exits_1() {
    let mixed = fixture("mixed.ndjson");
    let output = tally(&["validate", mixed.to_str().unwrap()], None);
    assert_eq!(stdout(&output), MIXED_REPORT);
    assert_eq!(output.status.code(), Some(1));
}

/// `--quiet` keeps every problem and the summary, and drops the `ok` lines.
#[test]
fn quiet_prints_only_problems_and_the_summary() {
    let mixed = fixture("mixed.ndjson");
    let output = tally(&["validate", "--quiet", mixed.to_str().unwrap()], None);
    let expected: String = MIXED_REPORT
        .lines()
        .filter(|line| !line.ends_with(": ok"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(MIXED_REPORT.lines().any(|line| line.ends_with(": ok")));
    assert_eq!(stdout(&output), expected);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn dash_reads_standard_input() {
    let mixed = std::fs::read(fixture("mixed.ndjson")).unwrap();
    let output = tally(&["validate", "-"], Some(&mixed));
    assert_eq!(stdout(&output), MIXED_REPORT);
    assert_eq!(output.status.code(), Some(1));

    let valid = std::fs::read(fixture("sample.ndjson")).unwrap();
    let output = tally(&["validate", "-"], Some(&valid));
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn invalid_utf8_is_an_error_not_a_crash() {
    let input = b"{\"customer_id\": \"cus_\xff\xfe\", \"event_type\": \"a\"}\n\xc3\x28\n";
    let output = tally(&["validate", "-"], Some(input));
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("line 1: malformed_json: "), "{text}");
    assert!(text.contains("line 2: malformed_json: "), "{text}");
    assert!(
        text.ends_with("2 events: 0 valid, 2 invalid, 0 pii warnings\n"),
        "{text}"
    );
}

#[test]
fn options_change_the_rules() {
    let pii = br#"{"customer_id": "c", "event_type": "users", "timestamp": "2024-12-20T16:04:11Z", "record": {"id": 1, "email": "john@example.com"}}"#;
    let output = tally(&["validate", "--pii-policy", "reject", "-"], Some(pii));
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("line 1: /record/email pii_detected: "));

    let future = br#"{"customer_id": "c", "event_type": "t", "timestamp": "9999-12-31T00:00:00Z", "record": {"id": 1}}"#;
    let output = tally(&["validate", "-"], Some(future));
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("timestamp_in_future"));
    let output = tally(
        &["validate", "--max-future-skew-ms", "0", "-"],
        Some(future),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn unreadable_file_and_bad_flags_exit_2() {
    let output = tally(&["validate", "/nonexistent/events.ndjson"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open"));

    let output = tally(&["validate", "--pii-policy", "block", "-"], None);
    assert_eq!(output.status.code(), Some(2));
}

/// Commands that read or change existing data refuse a database that does not
/// exist instead of creating an empty one.
#[test]
fn data_commands_never_create_a_database() {
    let dir = std::env::temp_dir().join(format!("tally-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("typo.db");
    let url = format!("sqlite://{}", path.display());
    let export = [
        "export",
        "--database-url",
        &url,
        "--account",
        "default",
        "--invoice",
        "inv_x",
    ];
    let purge = [
        "purge",
        "--database-url",
        &url,
        "--account",
        "default",
        "--event-type",
        "calls",
        "r1",
        "--yes",
    ];
    let keys = [
        "keys",
        "list",
        "--database-url",
        &url,
        "--account",
        "default",
    ];
    let settings = [
        "settings",
        "get",
        "--database-url",
        &url,
        "--account",
        "default",
    ];
    for args in [&export[..], &purge[..], &keys[..], &settings[..]] {
        let output = tally(args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no database at"), "{stderr}");
        assert!(!path.exists(), "{args:?} created {}", path.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `keys create`, `keys list` and `keys revoke`; `settings get` and `set`.
#[test]
fn keys_and_settings_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("tally-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("keys.db").display());
    let with_db = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--database-url", &url, "--account", "acme"]);
        tally(&all, None)
    };
    let created = with_db(&["keys", "create"]);
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    assert!(
        stdout(&created).starts_with("tally_sk_"),
        "{}",
        stdout(&created)
    );
    with_db(&["keys", "create"]);
    let listed = with_db(&["keys", "list"]);
    let lines: Vec<String> = stdout(&listed).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("key_")), "{lines:?}");
    assert!(
        !stdout(&listed).contains("tally_sk_"),
        "secrets are never listed"
    );
    let first = lines[0].split('\t').next().unwrap().to_owned();
    let revoked = with_db(&["keys", "revoke", &first]);
    assert_eq!(revoked.status.code(), Some(0), "{revoked:?}");
    let after = stdout(&with_db(&["keys", "list"]));
    assert!(!after.contains(&first), "{after}");
    assert_eq!(after.lines().count(), 1);
    let again = with_db(&["keys", "revoke", &first]);
    assert_ne!(
        again.status.code(),
        Some(0),
        "a revoked key cannot be revoked twice"
    );

    let defaults = stdout(&with_db(&["settings", "get"]));
    let defaults: serde_json::Value = serde_json::from_str(&defaults).unwrap();
    assert_eq!(defaults["pii_policy"], "warn");
    let set = with_db(&["settings", "set", "pii_policy=mask", "max_future_skew_ms=0"]);
    assert_eq!(set.status.code(), Some(0), "{set:?}");
    let read: serde_json::Value =
        serde_json::from_str(&stdout(&with_db(&["settings", "get"]))).unwrap();
    assert_eq!(
        (&read["pii_policy"], &read["max_future_skew_ms"]),
        (&serde_json::json!("mask"), &serde_json::json!(0))
    );
    let unknown = with_db(&["settings", "set", "pii_polcy=off"]);
    assert_ne!(unknown.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("pii_polcy"), "{stderr}");
    // The code the API would answer with, from the one table.
    assert!(stderr.starts_with("error [invalid_request]: "), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
