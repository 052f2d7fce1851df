//! Writers per grid in this process: pushes to one grid take turns, and long polls
//! (`SyncRequest::wait_ms`) wait for them.
//!
//! * Every write through the sync pipeline (a phone's push, a supervisor's case action or
//!   conflict resolution) takes its grids' turn ([`Live::writing`]) before it loads
//!   and decides anything, so concurrent pushes to the same records are each decided once, on
//!   the previous one's result from the cache, instead of being decided in parallel and all but
//!   one decided again under the database lock. (The database lock and the version check stay:
//!   they are what makes several server nodes safe.)
//! * A device waiting for news is answered as soon as a write to its grids commits, and once
//!   with everything when several devices of a grid push at once.
//!
//! This is per process. With several server nodes a waiting device learns of another node's
//! write when its wait ends (the answer then reads the database as usual), so nothing is
//! missed, only later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sync_core::ids::GridId;
use tokio::sync::watch;

/// Writers per grid, and a counter bumped whenever a write ends.
#[derive(Debug)]
pub struct Live {
    writers: Mutex<HashMap<GridId, usize>>,
    turns: Mutex<HashMap<GridId, Arc<tokio::sync::Mutex<()>>>>,
    ended: watch::Sender<u64>,
    closing: AtomicBool,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            writers: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            ended: watch::Sender::new(0),
            closing: AtomicBool::new(false),
        }
    }
}

impl Live {
    /// Marks `grids` as being written at once (long polls wait), then waits for their turn
    /// (taken in sorted order, so two writers never wait for each other). Both last until the
    /// guard is dropped; then waiters wake up.
    pub async fn writing(&self, mut grids: Vec<GridId>) -> Writing<'_> {
        grids.sort_unstable();
        grids.dedup();
        {
            let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
            for grid in &grids {
                *writers.entry(grid.clone()).or_default() += 1;
            }
        }
        // Marked before waiting: if this future is dropped while waiting, the guard below
        // still unmarks.
        let mut writing = Writing {
            live: self,
            grids,
            turns: Vec::new(),
        };
        let locks: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
            writing
                .grids
                .iter()
                .map(|g| turns.entry(g.clone()).or_default().clone())
                .collect()
        };
        for lock in locks {
            writing.turns.push(lock.lock_owned().await);
        }
        writing
    }

    /// Whether any of `grids` is being written by this process.
    pub fn busy(&self, grids: &[GridId]) -> bool {
        let writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        grids.iter().any(|g| writers.get(g).is_some_and(|n| *n > 0))
    }

    /// A receiver that changes whenever a write ends, and when the server starts to stop.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// The server is stopping: waiters answer now, so shutdown does not wait for long polls.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether [`Live::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

/// Grids being written; see [`Live::writing`].
#[derive(Debug)]
pub struct Writing<'a> {
    live: &'a Live,
    grids: Vec<GridId>,
    turns: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.turns.clear();
        {
            let mut writers = self.live.writers.lock().unwrap_or_else(|e| e.into_inner());
            for grid in &self.grids {
                if let Some(n) = writers.get_mut(grid) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        writers.remove(grid);
                    }
                }
            }
        }
        self.live.ended.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test]
    async fn a_write_marks_its_grids_and_wakes_waiters_when_it_ends() {
        let live = Live::default();
        let a: GridId = "dzk-01".parse().expect("grid");
        let b: GridId = "dzk-02".parse().expect("grid");
        let mut rx = live.subscribe();
        let first = live.writing(vec![a.clone()]).await;
        // The second writer of the grid is marked at once but waits for its turn.
        let mut second = Box::pin(live.writing(vec![a.clone(), a.clone()]));
        assert!((&mut second).now_or_never().is_none(), "waits for its turn");
        assert!(live.busy(std::slice::from_ref(&a)));
        assert!(!live.busy(std::slice::from_ref(&b)));
        drop(first);
        assert!(live.busy(std::slice::from_ref(&a)), "one writer is left");
        assert!(rx.has_changed().expect("open"));
        rx.mark_unchanged();
        let second = second.await;
        drop(second);
        assert!(!live.busy(&[a.clone(), b]));
        rx.changed().await.expect("woken");
        // A writer given up while waiting for its turn leaves no mark behind.
        let third = live.writing(vec![a.clone()]).await;
        let mut fourth = Box::pin(live.writing(vec![a.clone()]));
        assert!((&mut fourth).now_or_never().is_none(), "waits for its turn");
        drop(fourth);
        drop(third);
        assert!(!live.busy(&[a]));
    }
}
