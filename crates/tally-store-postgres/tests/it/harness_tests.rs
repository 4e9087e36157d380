//! The harness itself: discovery, who runs the server, cleanup, isolation.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use sqlx::{ConnectOptions, Connection, Executor, Row};

use crate::harness::binaries::{BinDir, RunAs, find_bin_dir, find_bin_dir_in};
use crate::harness::cluster::Cluster;
use crate::harness::{
    Server, TEST_ICU_LOCALE, URL_VAR, admin_options, fresh_database, server, start_throwaway,
};

/// The throwaway cluster is not what the tests use when `TALLY_TEST_POSTGRES_URL`
/// is set (PostgreSQL's binaries may not even be installed then): say so, and
/// check that the given server is the one in use instead.
fn using_given_server() -> bool {
    if std::env::var(URL_VAR).is_ok_and(|url| !url.trim().is_empty()) {
        eprintln!("{URL_VAR} is set: checking that server instead of a throwaway cluster");
        assert!(matches!(server(), Server::External(_)));
        return true;
    }
    false
}

fn fake_tools(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for tool in ["initdb", "pg_ctl"] {
        let path = dir.join(tool);
        fs::write(&path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn discovery_without_postgres_fails_with_a_hint() {
    let empty = tempfile::tempdir().unwrap();
    let err = find_bin_dir_in(&[empty.path().to_owned()], empty.path()).unwrap_err();
    assert!(err.contains("no initdb and pg_ctl found"), "{err}");
    assert!(err.contains("TALLY_TEST_POSTGRES_URL"), "{err}");
}

#[test]
fn discovery_takes_the_highest_complete_debian_version() {
    let root = tempfile::tempdir().unwrap();
    fake_tools(&root.path().join("9.6/bin"));
    fake_tools(&root.path().join("15/bin"));
    // 16 lacks pg_ctl, so it is not a candidate.
    fs::create_dir_all(root.path().join("16/bin")).unwrap();
    fs::write(root.path().join("16/bin/initdb"), "").unwrap();
    let found = find_bin_dir_in(&[], root.path()).unwrap();
    assert_eq!(found, BinDir(root.path().join("15/bin")));
}

#[test]
fn discovery_prefers_path_over_debian_directories() {
    let root = tempfile::tempdir().unwrap();
    fake_tools(&root.path().join("versions/17/bin"));
    fake_tools(&root.path().join("on-path"));
    let path = vec![root.path().join("elsewhere"), root.path().join("on-path")];
    let found = find_bin_dir_in(&path, &root.path().join("versions")).unwrap();
    assert_eq!(found, BinDir(root.path().join("on-path")));
}

#[tokio::test]
async fn throwaway_cluster_serves_then_disappears_on_drop() {
    if using_given_server() {
        return;
    }
    let run_as = RunAs::detect().unwrap();
    let mut cluster = start_throwaway().unwrap();
    let options = admin_options(&cluster.admin_url()).unwrap();
    let mut connection = options.connect().await.unwrap();
    let one: i32 = connection.fetch_one("SELECT 1").await.unwrap().get(0);
    assert_eq!(one, 1);
    connection.close().await.unwrap();
    let data_owner = fs::metadata(cluster.dir().join("data")).unwrap().uid();
    match run_as {
        // As root the server runs as the postgres user, which owns its files.
        RunAs::SystemUser { uid, .. } => assert_eq!(data_owner, uid),
        RunAs::CurrentUser => assert_ne!(data_owner, 0),
    }
    let dir = cluster.dir().to_owned();
    cluster.stop().unwrap();
    assert!(options.connect().await.is_err(), "server still accepts");
    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[tokio::test]
async fn each_test_database_is_isolated() {
    let first = fresh_database().await;
    let second = fresh_database().await;
    assert_ne!(first.name, second.name);
    let mut a = first.options.connect().await.unwrap();
    a.execute("CREATE TABLE only_here (x INT)").await.unwrap();
    let mut b = second.options.connect().await.unwrap();
    let seen: i64 = b
        .fetch_one("SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'")
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
}

/// Test databases sort text linguistically by default, not by bytes: a query
/// that forgets `COLLATE "C"` orders differently there, so the byte-order
/// checks of the suite can fail.
#[tokio::test]
async fn test_databases_do_not_default_to_byte_order() {
    let db = fresh_database().await;
    let mut conn = db.options.connect().await.unwrap();
    let row = conn
        .fetch_one(
            "SELECT datlocprovider::text, daticulocale, 'a' < 'B' AS linguistic, \
                    'a' COLLATE \"C\" < 'B' AS bytewise \
             FROM pg_database WHERE datname = current_database()",
        )
        .await
        .unwrap();
    let provider: String = row.get(0);
    let icu_locale: Option<String> = row.get(1);
    assert_eq!(provider, "i", "the test database uses an ICU collation");
    assert_eq!(icu_locale.as_deref(), Some(TEST_ICU_LOCALE));
    assert!(
        row.get::<bool, _>(2),
        "'a' < 'B' under the default collation"
    );
    assert!(!row.get::<bool, _>(3), "'B' < 'a' by bytes");
}

/// The cleanup that does not rely on `Drop`: when the process that started a
/// cluster dies (here a stand-in killed with SIGKILL), the reaper stops the
/// server and deletes its directory.
#[tokio::test]
async fn a_killed_owner_leaves_no_server_behind() {
    if using_given_server() {
        return;
    }
    let mut owner = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let bin = find_bin_dir().unwrap();
    let mut cluster = Cluster::start_watching(bin, RunAs::detect().unwrap(), owner.id()).unwrap();
    let options = admin_options(&cluster.admin_url()).unwrap();
    options.connect().await.unwrap().close().await.unwrap();
    owner.kill().unwrap();
    owner.wait().unwrap();
    // The reaper polls once a second; allow a generous deadline on a busy machine.
    let mut gone = false;
    for _ in 0..600 {
        if !cluster.dir().exists() && options.connect().await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    cluster.assume_stopped();
    assert!(gone, "server or {} still there", cluster.dir().display());
}
