//! Writers per grid, and the long polls (`SyncRequest::wait_ms`) that wait for them.
//!
//! * Every write through the sync pipeline (a phone's push, a supervisor's case action or
//!   conflict resolution) takes its grids' turn ([`Live::writing`]) before it loads
//!   and decides anything, so concurrent pushes to the same records are each decided once, on
//!   the previous one's result from the cache, instead of being decided in parallel and all but
//!   one decided again under the database lock. (The database lock and the version check stay:
//!   they are what makes several server nodes safe.)
//! * A device waiting for news registers for its grids ([`Live::wait_for`]) and is woken when a
//!   write to one of them ends: once, however many writes end meanwhile (a [`Notify`] holds at
//!   most one wake-up), and only for its own grids, so a write in one grid never makes the
//!   waiters of the others read the database.
//! * With several server nodes on one PostgreSQL database, every write that bumps a grid's
//!   sequence also sends `NOTIFY gridbook_grid_written` with the grid's id, delivered when its
//!   transaction commits ([`crate::db::docs::bump_grid_seq`]). Each node listens
//!   ([`crate::db::notify::listen`]) and wakes the waiters of the grids named, so a phone
//!   long-polling one node is answered as soon as another node's write commits. A node that
//!   loses its listening connection reconnects and wakes all its waiters once: notifications
//!   sent meanwhile are lost, and every waiter reads the database again rather than wait out
//!   its time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sync_core::ids::GridId;
use tokio::sync::Notify;

/// Writers per grid, and the waiters to wake when a write ends.
#[derive(Debug, Default)]
pub struct Live {
    writers: Mutex<HashMap<GridId, usize>>,
    turns: Mutex<HashMap<GridId, Arc<tokio::sync::Mutex<()>>>>,
    waiters: Mutex<Waiters>,
    closing: AtomicBool,
    counters: Counters,
}

/// The waiters, all of them and by grid (a caller whose scope has no grid waits under none).
#[derive(Debug, Default)]
struct Waiters {
    next: u64,
    all: HashMap<u64, Arc<Notify>>,
    by_grid: HashMap<GridId, HashMap<u64, Arc<Notify>>>,
}

/// What [`Live`] counts for the operators' metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Wake-ups received from other nodes (one per grid per notification).
    pub remote_wakes: AtomicU64,
    /// Times the listening connection was lost (all waiters were woken).
    pub listener_reconnects: AtomicU64,
}

impl Live {
    /// Marks `grids` as being written at once (long polls wait), then waits for their turn
    /// (taken in sorted order, so two writers never wait for each other). Both last until the
    /// guard is dropped; then the grids' waiters wake up.
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

    /// Registers a waiter for `grids`: [`Waiter::woken`] returns once a write to one of them
    /// ends after this call (or all waiters are woken). Register before reading the database,
    /// so that a write ending in between still wakes it.
    pub fn wait_for(&self, grids: &[GridId]) -> Waiter<'_> {
        let notify = Arc::new(Notify::new());
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let id = waiters.next;
        waiters.next += 1;
        waiters.all.insert(id, notify.clone());
        let mut registered = grids.to_vec();
        registered.sort_unstable();
        registered.dedup();
        for grid in &registered {
            waiters
                .by_grid
                .entry(grid.clone())
                .or_default()
                .insert(id, notify.clone());
        }
        drop(waiters);
        if self.is_closing() {
            notify.notify_one();
        }
        Waiter {
            live: self,
            id,
            grids: registered,
            notify,
        }
    }

    /// Wakes the waiters of `grids` (each at most once until it waits again).
    pub fn wake<'g>(&self, grids: impl IntoIterator<Item = &'g GridId>) {
        let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for grid in grids {
            if let Some(of_grid) = waiters.by_grid.get(grid) {
                for notify in of_grid.values() {
                    notify.notify_one();
                }
            }
        }
    }

    /// Wakes every waiter: the server is stopping, or notifications from other nodes may have
    /// been lost.
    pub fn wake_all(&self) {
        let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for notify in waiters.all.values() {
            notify.notify_one();
        }
    }

    /// How many long polls are waiting.
    pub fn waiting(&self) -> usize {
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .all
            .len()
    }

    /// What this process counted.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The server is stopping: waiters answer now, so shutdown does not wait for long polls.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    /// Whether [`Live::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
}

/// A long poll registered for its grids; see [`Live::wait_for`]. Unregisters when dropped.
#[derive(Debug)]
pub struct Waiter<'a> {
    live: &'a Live,
    id: u64,
    grids: Vec<GridId>,
    notify: Arc<Notify>,
}

impl Waiter<'_> {
    /// Returns once the waiter was woken since it was registered or last woken.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiters = self.live.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.all.remove(&self.id);
        for grid in &self.grids {
            if let Some(of_grid) = waiters.by_grid.get_mut(grid) {
                of_grid.remove(&self.id);
                if of_grid.is_empty() {
                    waiters.by_grid.remove(grid);
                }
            }
        }
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
        self.live.wake(&self.grids);
    }
}

/// The grid ids a notification's payload names (comma-separated); names that are not grid
/// ids are skipped.
pub fn grids_in_payload(payload: &str) -> Vec<GridId> {
    payload
        .split(',')
        .filter_map(|g| g.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    fn grid(code: &str) -> GridId {
        code.parse().expect("grid")
    }

    #[tokio::test]
    async fn a_write_marks_its_grids_and_wakes_their_waiters_when_it_ends() {
        let live = Live::default();
        let (a, b) = (grid("dzk-01"), grid("dzk-02"));
        let of_a = live.wait_for(std::slice::from_ref(&a));
        let of_b = live.wait_for(std::slice::from_ref(&b));
        assert_eq!(live.waiting(), 2);
        let first = live.writing(vec![a.clone()]).await;
        // The second writer of the grid is marked at once but waits for its turn.
        let mut second = Box::pin(live.writing(vec![a.clone(), a.clone()]));
        assert!((&mut second).now_or_never().is_none(), "waits for its turn");
        assert!(live.busy(std::slice::from_ref(&a)));
        assert!(!live.busy(std::slice::from_ref(&b)));
        drop(first);
        assert!(live.busy(std::slice::from_ref(&a)), "one writer is left");
        assert!(of_a.woken().now_or_never().is_some(), "a's waiter is woken");
        assert!(of_b.woken().now_or_never().is_none(), "b's waiter is not");
        let second = second.await;
        drop(second);
        assert!(!live.busy(&[a.clone(), b.clone()]));
        of_a.woken().await;
        // A writer given up while waiting for its turn leaves no mark behind.
        let third = live.writing(vec![a.clone()]).await;
        let mut fourth = Box::pin(live.writing(vec![a.clone()]));
        assert!((&mut fourth).now_or_never().is_none(), "waits for its turn");
        drop(fourth);
        drop(third);
        assert!(!live.busy(std::slice::from_ref(&a)));
        drop((of_a, of_b));
        assert_eq!(live.waiting(), 0);
        assert!(live.waiters.lock().expect("lock").by_grid.is_empty());
    }

    #[tokio::test]
    async fn many_writes_wake_a_waiter_once_and_closing_wakes_everyone() {
        let live = Live::default();
        let (a, b) = (grid("dzk-01"), grid("dzk-02"));
        let both = live.wait_for(&[a.clone(), b.clone()]);
        live.wake([&a, &b, &a]);
        both.woken().await;
        assert!(both.woken().now_or_never().is_none(), "woken once");
        let other = live.wait_for(std::slice::from_ref(&b));
        // A caller whose scope has no grid (a street without grids yet) waits under none.
        let gridless = live.wait_for(&[]);
        assert_eq!(live.waiting(), 3);
        live.close();
        both.woken().await;
        other.woken().await;
        assert!(
            gridless.woken().now_or_never().is_some(),
            "a waiter of no grid is woken by closing"
        );
        // A waiter registered after closing is answered at once.
        live.wait_for(std::slice::from_ref(&a)).woken().await;
    }

    #[test]
    fn a_payload_names_grids_and_anything_else_is_skipped() {
        assert_eq!(
            grids_in_payload("dzk-01,dzk-02, ../x,"),
            vec![grid("dzk-01"), grid("dzk-02")]
        );
    }
}
