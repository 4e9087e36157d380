//! Runs the built `tally` binary: `validate` on fixture files and standard
//! input, the data commands, and `import` into a SQLite file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use tally_store::{EventQuery, MAX_TAKE, PageRequest};

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
    let events = dir.join("events.ndjson");
    std::fs::write(&events, "{}\n").unwrap();
    let import = [
        "import",
        events.to_str().unwrap(),
        "--database-url",
        &url,
        "--account",
        "default",
    ];
    for args in [
        &export[..],
        &purge[..],
        &keys[..],
        &settings[..],
        &import[..],
    ] {
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

/// A SQLite database with the account `acme`, made as a user makes one.
fn database_with_account(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("tally.db").display());
    let created = tally(
        &[
            "keys",
            "create",
            "--account",
            "acme",
            "--database-url",
            &url,
        ],
        None,
    );
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    url
}

/// `tally import FILE --account acme --database-url URL` with more flags.
fn import(url: &str, file: &Path, flags: &[&str]) -> Output {
    let mut args = vec!["import", file.to_str().unwrap(), "--account", "acme"];
    args.extend(["--database-url", url]);
    args.extend(flags);
    tally(&args, None)
}

/// The account's current events as `GET /v1/events` lists them, in timestamp
/// order: `{event_type, customer, timestamp, record}` with the customer's
/// external id.
fn stored_events(url: &str) -> Vec<Value> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = tally_engine::open_existing_store(url).await.unwrap();
        let account = store.find_account_by_name("acme").await.unwrap().unwrap();
        let query = EventQuery {
            page: PageRequest {
                take: MAX_TAKE,
                skip: 0,
            },
            ..EventQuery::default()
        };
        let page = store.list_events(&account.id, &query).await.unwrap();
        assert!(page.total < u64::from(MAX_TAKE), "one page holds them all");
        let mut events = Vec::new();
        for event in page.items {
            let customer = store
                .get_customer(&account.id, &event.customer_id)
                .await
                .unwrap();
            events.push(json!({
                "event_type": event.event_type.to_string(),
                "customer": customer.external_id,
                "timestamp": event.timestamp.to_rfc3339(),
                "record": event.record.to_json(),
            }));
        }
        events
    })
}

/// The rejects file as (line, error codes) pairs, in file order.
fn rejects(path: &Path) -> Vec<(u64, Vec<String>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let reject: Value = serde_json::from_str(line).unwrap();
            let codes = reject["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|error| error["code"].as_str().unwrap().to_owned())
                .collect();
            (reject["line"].as_u64().unwrap(), codes)
        })
        .collect()
}

/// An `api_call` event of customer `c1` with record id `id`, on 20 December 2024.
fn call(id: &str) -> String {
    format!(
        r#"{{"event_type": "api_call", "customer_id": "c1", "timestamp": "2024-12-20T16:04:11Z", "record": {{"id": "{id}", "ms": 12}}}}"#
    )
}

#[test]
fn import_stores_valid_events_and_lists_the_refused_ones_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_with_account(dir.path());
    let lines = [
        call("a1"),
        call("a2"),
        String::new(),
        "{\"event_type\": \"api_call\", oops".to_owned(),
        call("a3"),
        call("a4").replace("api_call", "api call"),
        call("a5"),
        call("a6").replace("\"customer_id\": \"c1\", ", ""),
        call("a7"),
        call("a8"),
    ];
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let output = import(&url, &file, &[]);
    let rejects_file = dir.path().join("events.ndjson.rejects.ndjson");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "9 events: 6 accepted (6 created, 0 updated, 0 unchanged, 0 stale), 3 refused\n\
             refused events are in {}\n",
            rejects_file.display()
        )
    );
    assert_eq!(
        rejects(&rejects_file),
        [
            (4, vec!["malformed_json".to_owned()]),
            (6, vec!["invalid_characters".to_owned()]),
            (8, vec!["required".to_owned()]),
        ]
    );
    let stored = stored_events(&url);
    let ids: Vec<&str> = stored
        .iter()
        .map(|event| event["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a5", "a7", "a8"]);
    assert_eq!(
        stored[0],
        json!({"event_type": "api_call", "customer": "c1",
            "timestamp": "2024-12-20T16:04:11.000Z", "record": {"id": "a1", "ms": 12}})
    );
    assert!(!dir.path().join("events.ndjson.import-state").exists());

    // The same file again: every event is already there, and the rejects
    // file is written anew rather than appended to.
    let again = import(&url, &file, &[]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        stdout(&again).starts_with("9 events: 6 accepted (0 created, 0 updated, 6 unchanged"),
        "{}",
        stdout(&again)
    );
    assert_eq!(rejects(&rejects_file).len(), 3);

    // Without refusals: exit 0, and the old rejects file is gone.
    let valid = dir.path().join("valid.ndjson");
    std::fs::write(&valid, call("b1") + "\n" + &call("a1")).unwrap();
    let output = import(&url, &valid, &["--rejects", rejects_file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        "2 events: 2 accepted (1 created, 0 updated, 1 unchanged, 0 stale), 0 refused\n"
    );
    assert!(!rejects_file.exists());
}

#[test]
fn import_maps_csv_columns_and_keeps_text_columns_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_with_account(dir.path());
    // CRLF line ends, a quoted cell over two lines, a blank line, a row of
    // the wrong width and one the store refuses: line numbers stay exact.
    let csv = "kind,customer,when,ref,zip,amount,note\r\n\
               api_call,c1,1734710651000,r1,01234,12.50,\"two\r\nlines\"\r\n\
               \r\n\
               api_call,c2,2024-12-20T17:00:00Z,r2,75001,-3,\"say \"\"hi\"\"\"\r\n\
               api_call,c2,2024-12-20T18:00:00Z,r3\r\n\
               api_call,c2,not a date,r4,75002,1,\r\n\
               api_call,c3,2024-12-20T19:00:00Z,r5,00000,true,\r\n";
    let file = dir.path().join("usage.csv");
    std::fs::write(&file, csv).unwrap();
    let map = [
        "--map",
        "event_type=kind",
        "--map",
        "customer_id=customer",
        "--map",
        "timestamp=when",
        "--map",
        "record.id=ref",
        "--text",
        "record.zip",
    ];

    let output = import(&url, &file, &map);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).starts_with("5 events: 3 accepted (3 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&output)
    );
    let rejects_file = dir.path().join("usage.csv.rejects.ndjson");
    assert_eq!(
        rejects(&rejects_file),
        [
            (6, vec!["invalid_csv".to_owned()]),
            (7, vec!["invalid_timestamp".to_owned()]),
        ]
    );
    let stored = stored_events(&url);
    assert_eq!(
        stored,
        [
            json!({"event_type": "api_call", "customer": "c1",
                "timestamp": "2024-12-20T16:04:11.000Z",
                "record": {"id": "r1", "zip": "01234", "amount": 12.50, "note": "two\r\nlines"}}),
            json!({"event_type": "api_call", "customer": "c2",
                "timestamp": "2024-12-20T17:00:00.000Z",
                "record": {"id": "r2", "zip": "75001", "amount": -3, "note": "say \"hi\""}}),
            json!({"event_type": "api_call", "customer": "c3",
                "timestamp": "2024-12-20T19:00:00.000Z",
                "record": {"id": "r5", "zip": "00000", "amount": true}}),
        ]
    );
    // Without --text, a zip code that looks like a number becomes one.
    let output = import(&url, &file, &map[..8]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let second = &stored_events(&url)[1];
    assert_eq!(second["record"]["zip"], json!(75001), "{second}");
}

#[test]
fn an_interrupted_import_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_with_account(dir.path());
    let lines = [
        call("a1"),
        "not json".to_owned(),
        call("a2"),
        call("a3"),
        call("a4").replace("api_call", "api call"),
        call("a5"),
        call("a6"),
    ];
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let state = dir.path().join("events.ndjson.import-state");
    let rejects_file = dir.path().join("events.ndjson.rejects.ndjson");
    let interrupted = ["--batch-size", "2", "--stop-after-batches", "2"];

    let first = import(&url, &file, &interrupted);
    assert_eq!(first.status.code(), Some(2), "{first:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("import stopped after line 4; the same command goes on from there"),
        "{stderr}"
    );
    assert!(state.exists());
    assert_eq!(
        rejects(&rejects_file),
        [(2, vec!["malformed_json".to_owned()])]
    );
    assert_eq!(stored_events(&url).len(), 3);
    // A refusal written after the last recorded batch (as by a crash before
    // the state was saved) is cut off by the resume, not listed twice.
    let mut written = std::fs::read_to_string(&rejects_file).unwrap();
    written.push_str("{\"line\": 5, \"event\": {}, \"errors\": []}\n");
    std::fs::write(&rejects_file, written).unwrap();

    let resumed = import(&url, &file, &["--batch-size", "2"]);
    assert_eq!(resumed.status.code(), Some(1), "{resumed:?}");
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("resuming after line 4"),
        "{resumed:?}"
    );
    // Counts cover both runs; nothing was sent twice (no `unchanged`).
    assert!(
        stdout(&resumed).starts_with(
            "7 events: 5 accepted (5 created, 0 updated, 0 unchanged, 0 stale), 2 refused\n"
        ),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(
        rejects(&rejects_file),
        [
            (2, vec!["malformed_json".to_owned()]),
            (5, vec!["invalid_characters".to_owned()]),
        ]
    );
    assert_eq!(stored_events(&url).len(), 5);
    assert!(!state.exists(), "a finished import removes its state");

    // --restart ignores a state and reads from the first line.
    let stopped = import(&url, &file, &interrupted);
    assert_eq!(stopped.status.code(), Some(2), "{stopped:?}");
    let restarted = [
        "--batch-size",
        "2",
        "--stop-after-batches",
        "1",
        "--restart",
    ];
    let restarted = import(&url, &file, &restarted);
    assert_eq!(restarted.status.code(), Some(2), "{restarted:?}");
    let stderr = String::from_utf8_lossy(&restarted.stderr);
    assert!(stderr.contains("import stopped after line 2;"), "{stderr}");
    assert!(!stderr.contains("resuming"), "{stderr}");
    let whole = import(&url, &file, &["--restart"]);
    assert_eq!(whole.status.code(), Some(1), "{whole:?}");
    assert!(
        stdout(&whole).starts_with("7 events: 5 accepted (0 created, 0 updated, 5 unchanged"),
        "{}",
        stdout(&whole)
    );
    assert_eq!(rejects(&rejects_file).len(), 2);
    assert!(!state.exists());
}

/// Mistakes in the command line exit 2 with a message naming the mistake,
/// before anything is imported.
#[test]
fn import_refuses_bad_usage_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_with_account(dir.path());
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, call("a1") + "\n").unwrap();
    let path = file.to_str().unwrap();
    let missing = dir.path().join("missing.ndjson");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--account", "acme", "--map", "record.id=id"],
            "--map, --text and --unmapped apply to CSV",
        ),
        (&[], "--account"),
        (
            &["--account", "acme", "--url", "http://127.0.0.1:9"],
            "cannot be used with",
        ),
        (&["--url", "http://127.0.0.1:9"], "--url needs an API key"),
        (
            &["--account", "acme", "--batch-size", "5001"],
            "a batch holds 1 to 5000 events",
        ),
        (&["--account", "nobody"], "no account named nobody"),
        (
            &["--account", "acme", "--format", "xml"],
            "invalid value 'xml'",
        ),
    ];
    for (flags, message) in cases {
        let mut args = vec!["import", path, "--database-url", &url];
        args.extend(flags);
        let output = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(&args)
            .env_remove("TALLY_API_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let output = import(&url, &missing, &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.ndjson"), "{stderr}");
    assert!(stored_events(&url).is_empty(), "nothing was imported");
}

/// Versions of one event on consecutive lines, in batches of one (several
/// in flight): the last line's version is the current one, as when they are
/// sent one after the other.
#[test]
fn later_lines_win_over_earlier_versions_of_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_with_account(dir.path());
    let versions: Vec<String> = (1..=6)
        .map(|version| call("a1").replace("\"ms\": 12", &format!("\"ms\": {version}")))
        .collect();
    let file = dir.path().join("versions.ndjson");
    std::fs::write(&file, versions.join("\n") + "\n" + &call("b1")).unwrap();
    let output = import(&url, &file, &["--batch-size", "1"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        "7 events: 7 accepted (2 created, 5 updated, 0 unchanged, 0 stale), 0 refused\n"
    );
    let stored = stored_events(&url);
    let records: Vec<&Value> = stored.iter().map(|event| &event["record"]).collect();
    assert_eq!(
        records,
        [
            &json!({"id": "a1", "ms": 6}),
            &json!({"id": "b1", "ms": 12})
        ]
    );
}
