//! CPU work (walking a document, deciding a push, rendering a workbook) off the async
//! threads, at most [`cpu_work_limit`] pieces at once.
//!
//! Why a bound: tokio starts a new blocking thread for every piece of work that finds none
//! free (up to 512), and each thread keeps its own allocator heap. 1,000 phones' first syncs
//! on three nodes started 216-284 threads a node and lifted each past 350 MiB
//! (docs/BENCHMARKS.md, W6), though only two CPUs can run them. Past the bound, work waits
//! its turn on the async side, holding nothing but its inputs.

use std::sync::LazyLock;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// How many pieces of CPU work run at once: two per CPU, so that one long piece (a workbook,
/// a history) never holds every CPU's turn while syncs wait.
pub fn cpu_work_limit() -> usize {
    2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

static PLACES: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(cpu_work_limit()));

/// Runs CPU work on a blocking thread, once one of the [`cpu_work_limit`] places is free.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _place = PLACES.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Runs CPU work on a blocking thread, like [`blocking`], and tells it when the request is
/// gone: `f` gets a check that turns true once the returned future is dropped (the client went
/// away, or the server's request timeout gave up on it), and should stop its work then. A
/// blocking thread cannot be stopped from outside; without this, a timed-out request's work
/// would run on to its end.
pub async fn blocking_cancellable<T: Send + 'static>(
    f: impl FnOnce(&dyn Fn() -> bool) -> T + Send + 'static,
) -> ApiResult<T> {
    let token = CancellationToken::new();
    // Cancels the token when this future is dropped, whether or not the work finished.
    let _cancel_when_dropped = token.clone().drop_guard();
    let _place = PLACES.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || f(&|| token.is_cancelled()))
        .await
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of CPU work (a thousand phones' pushes) runs at most [`cpu_work_limit`] pieces
    /// at once, so at most that many blocking threads work for it, and every piece runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cpu_work_runs_at_most_its_limit_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let burst = 10 * cpu_work_limit();
        let mut works = tokio::task::JoinSet::new();
        for i in 0..burst {
            let (running, most) = (running.clone(), most.clone());
            let piece = move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            };
            if i % 2 == 0 {
                works.spawn(blocking(piece));
            } else {
                works.spawn(blocking_cancellable(move |_| piece()));
            }
        }
        let mut done = 0;
        while let Some(work) = works.join_next().await {
            assert!(matches!(work, Ok(Ok(()))));
            done += 1;
        }
        assert_eq!(done, burst);
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cpu_work_limit()).contains(&most),
            "{most} pieces ran at once, the limit is {}",
            cpu_work_limit()
        );
    }

    /// A request dropped before its blocking work ends (the client left, or the timeout layer
    /// gave up) tells the work, which then stops instead of running on unseen.
    #[tokio::test]
    async fn blocking_work_is_told_when_its_request_is_dropped() {
        let (tx, rx) = std::sync::mpsc::channel();
        let work = blocking_cancellable(move |cancelled| {
            let mut waited = 0;
            while !cancelled() && waited < 60_000 {
                std::thread::sleep(std::time::Duration::from_millis(1));
                waited += 1;
            }
            let _ = tx.send(cancelled());
        });
        let dropped = tokio::time::timeout(std::time::Duration::from_millis(50), work).await;
        assert!(dropped.is_err(), "the work is still running when dropped");
        let seen = tokio::task::spawn_blocking(move || {
            rx.recv_timeout(std::time::Duration::from_secs(30))
        })
        .await;
        assert_eq!(
            seen.ok(),
            Some(Ok(true)),
            "the work saw the drop and stopped"
        );

        // Work that finishes first answers as usual.
        let answer = blocking_cancellable(|cancelled| !cancelled()).await;
        assert_eq!(answer.ok(), Some(true));
    }
}
