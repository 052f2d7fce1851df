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

/// A bound on how many pieces of blocking work of one sort run at once: work past it waits
/// its turn on the async side, then runs on tokio's blocking threads. One gate bounds CPU
/// work ([`blocking`], [`cpu_work_limit`]); the accounts keep another for password hashes,
/// which also hold 19 MiB each while they run.
#[derive(Debug)]
pub struct WorkGate {
    places: Semaphore,
    limit: usize,
}

/// Why gated work gave no answer: the blocking thread panicked (or the runtime is shutting
/// down). Callers turn it into their own error.
#[derive(Debug)]
pub struct WorkFailed(String);

impl std::fmt::Display for WorkFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blocking work failed: {}", self.0)
    }
}

impl std::error::Error for WorkFailed {}

impl WorkGate {
    /// A gate that lets `limit` pieces run at once (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            places: Semaphore::new(limit),
            limit,
        }
    }

    /// How many pieces run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Runs `f` on a blocking thread once a place is free.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkFailed> {
        // The semaphore is never closed, so acquiring cannot fail; say so if it ever did.
        let _place = self
            .places
            .acquire()
            .await
            .map_err(|e| WorkFailed(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| WorkFailed(e.to_string()))
    }
}

/// How many pieces of CPU work run at once: two per CPU, so that one long piece (a workbook,
/// a history) never holds every CPU's turn while syncs wait.
pub fn cpu_work_limit() -> usize {
    2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

static CPU_WORK: LazyLock<WorkGate> = LazyLock::new(|| WorkGate::new(cpu_work_limit()));

/// Runs CPU work on a blocking thread, once one of the [`cpu_work_limit`] places is free.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    CPU_WORK.run(f).await.map_err(ApiError::internal)
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
    blocking(move || f(&|| token.is_cancelled())).await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sends `burst` pieces of 5 ms each through `run` all at once, checks that every piece
    /// ran, and returns the most that ran at the same moment.
    pub(crate) async fn most_at_once<F>(
        burst: usize,
        run: impl Fn(Box<dyn FnOnce() + Send>) -> F,
    ) -> usize
    where
        F: Future<Output = bool> + Send + 'static,
    {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut works = tokio::task::JoinSet::new();
        for _ in 0..burst {
            let (running, most) = (running.clone(), most.clone());
            works.spawn(run(Box::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
            })));
        }
        let mut done = 0;
        while let Some(ran) = works.join_next().await {
            assert_eq!(ran.ok(), Some(true), "a piece of the burst did not run");
            done += 1;
        }
        assert_eq!(done, burst);
        most.load(Ordering::SeqCst)
    }

    /// A gate runs at most its limit at once, however large the burst, and every piece runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gate_runs_at_most_its_limit_at_once() {
        for limit in [1, 3] {
            let gate = std::sync::Arc::new(WorkGate::new(limit));
            let most = most_at_once(12 * limit, |piece| {
                let gate = gate.clone();
                async move { gate.run(piece).await.is_ok() }
            })
            .await;
            assert!(
                (1..=limit).contains(&most),
                "{most} ran at once, limit {limit}"
            );
        }
        assert_eq!(
            WorkGate::new(0).limit(),
            1,
            "a gate always lets one through"
        );
    }

    /// A burst of CPU work (a thousand phones' pushes) runs at most [`cpu_work_limit`] pieces
    /// at once through either entry, so at most that many blocking threads work for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cpu_work_runs_at_most_its_limit_at_once() {
        let turn = std::sync::atomic::AtomicUsize::new(0);
        let most = most_at_once(10 * cpu_work_limit(), |piece| {
            let even = turn
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .is_multiple_of(2);
            async move {
                if even {
                    blocking(piece).await.is_ok()
                } else {
                    blocking_cancellable(move |_| piece()).await.is_ok()
                }
            }
        })
        .await;
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
