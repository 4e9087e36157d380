//! The PostgreSQL the end-to-end test runs against: `TALLY_TEST_POSTGRES_URL`
//! when set, else a throwaway cluster started with the storage tests' own
//! harness (initdb and pg_ctl found on PATH or under /usr/lib/postgresql). When
//! neither works the test fails with the reason; it never skips.

#[allow(dead_code)]
#[path = "../../../../crates/tally-store-postgres/tests/it/harness/binaries.rs"]
mod binaries;
#[allow(dead_code)]
#[path = "../../../../crates/tally-store-postgres/tests/it/harness/cluster.rs"]
mod cluster;

/// A database URL, and the cluster behind it (stopped when dropped).
pub struct Database {
    pub url: String,
    _cluster: Option<cluster::Cluster>,
}

pub fn database_url() -> Database {
    if let Ok(url) = std::env::var("TALLY_TEST_POSTGRES_URL")
        && !url.trim().is_empty()
    {
        return Database {
            url,
            _cluster: None,
        };
    }
    let started = binaries::find_bin_dir().and_then(|bin| {
        let run_as = binaries::RunAs::detect()?;
        cluster::Cluster::start(bin, run_as)
    });
    match started {
        Ok(cluster) => Database {
            url: cluster.admin_url(),
            _cluster: Some(cluster),
        },
        Err(reason) => panic!("no postgres for the end-to-end test: {reason}"),
    }
}
