//! Hearing other nodes' writes: every write that bumps a grid's sequence on PostgreSQL sends
//! `NOTIFY gridbook_grid_written, '<grid id>'` in its transaction
//! ([`super::docs::bump_grid_seq`]); each node listens on one connection of its pool and wakes
//! the long polls of the grids named ([`crate::live`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::live::Live;

/// The PostgreSQL channel on which writes announce the grids they wrote.
pub const CHANNEL: &str = "gridbook_grid_written";

/// Listens on [`CHANNEL`] of the PostgreSQL database behind `pool` and wakes the waiters of the
/// grids other nodes (and this one) write, until the task is aborted. A lost connection is
/// re-established (retrying with a growing pause while the database is away), and every waiter
/// is woken once each time, because notifications sent meanwhile are lost.
pub async fn listen(live: Arc<Live>, pool: sqlx::PgPool) {
    let mut pause = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other nodes' writes; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        // Listening again: whatever was written while nobody listened is read now.
        live.wake_all();
        pause = Duration::from_millis(100);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let grids = crate::live::grids_in_payload(notification.payload());
                    live.counters()
                        .remote_wakes
                        .fetch_add(grids.len() as u64, Ordering::Relaxed);
                    live.wake(&grids);
                }
                Ok(None) => {
                    // The connection was lost and re-established.
                    live.counters()
                        .listener_reconnects
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "lost the connection listening for other nodes' writes; reconnected"
                    );
                    live.wake_all();
                }
                Err(e) => {
                    live.counters()
                        .listener_reconnects
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "listening for other nodes' writes failed; reconnecting");
                    live.wake_all();
                    tokio::time::sleep(pause).await;
                    break;
                }
            }
        }
    }
}
