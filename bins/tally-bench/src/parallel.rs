//! Jobs spread over kept-alive connections: each connection takes the next job
//! as soon as its previous answer is in.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;

use crate::http::{Conn, Target};

/// Opens `count` connections to `target`.
pub async fn connect(target: &Target, count: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        conns.push(Conn::open(target).await?);
    }
    Ok(conns)
}

/// Runs `work(conn, i)` for every `i` in `0..jobs` over `conns`, and returns
/// each job's result in job order with the answers retried on the way.
pub async fn run<T, F, Fut>(conns: Vec<Conn>, jobs: usize, work: F) -> anyhow::Result<(Vec<T>, u64)>
where
    T: Send + 'static,
    F: Fn(Conn, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<(Conn, T)>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let (next, work) = (next.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return anyhow::Ok((done, conn.retries));
                }
                let (back, result) = work(conn, i).await?;
                conn = back;
                done.push((i, result));
            }
        }));
    }
    let mut all = Vec::with_capacity(jobs);
    let mut retries = 0;
    for task in tasks {
        let (done, task_retries) = task.await.context("a connection task failed")??;
        all.extend(done);
        retries += task_retries;
    }
    all.sort_by_key(|(i, _)| *i);
    Ok((all.into_iter().map(|(_, result)| result).collect(), retries))
}
