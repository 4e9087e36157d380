//! `tally purge` on the database a server filled: refused without `--yes`,
//! then every version of the named events is gone for the restarted server.

use std::process::Command;

use axum::http::{Method, StatusCode};

use crate::server::{self, Server};
use crate::{ingest_seed_events, set_up_catalog};

#[tokio::test]
async fn purge_erases_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.db").display());
    let server = Server::start(&url);
    set_up_catalog(&server).await;
    ingest_seed_events(&server).await;
    let history = "/v1/events/history?event_type=api_call&record_id=D32NAA8";
    let (status, versions) = server.call(Method::GET, history, None).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    assert!(server.stop().success());

    let args = ["purge", "--database-url", &url, "--account", "default"];
    let args = [&args[..], &["--event-type", "api_call", "D32NAA8"]].concat();
    let refused = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(&args)
        .env_remove("TALLY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));

    let confirmed = [&args[..], &["--yes"]].concat();
    assert_eq!(server::tally(&confirmed), "purged 1 events\n");
    let server = Server::start(&url);
    let (status, body) = server.call(Method::GET, history, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
