//! CPU work (walking a document) off the async threads.

use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ApiResult};

/// Runs CPU work on a blocking thread.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Runs CPU work on a blocking thread and tells it when the request is gone: `f` gets a check
/// that turns true once the returned future is dropped (the client went away, or the server's
/// request timeout gave up on it), and should stop its work then. A blocking thread cannot be
/// stopped from outside; without this, a timed-out request's work would run on to its end.
pub async fn blocking_cancellable<T: Send + 'static>(
    f: impl FnOnce(&dyn Fn() -> bool) -> T + Send + 'static,
) -> ApiResult<T> {
    let token = CancellationToken::new();
    // Cancels the token when this future is dropped, whether or not the work finished.
    let _cancel_when_dropped = token.clone().drop_guard();
    tokio::task::spawn_blocking(move || f(&|| token.is_cancelled()))
        .await
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

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
