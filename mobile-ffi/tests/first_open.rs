//! Several threads that open their stores at the same moment, as the very first thing the
//! process does with SQLite, all succeed.
//!
//! SQLCipher finishes its own start-up after SQLite marks itself initialised, so a thread that
//! keys a connection while another is still starting SQLite up used to be refused ("PRAGMA key
//! requires a key of one or more characters"; CI met it once). This file is its own process so
//! that the opens below are the process's first; the window is narrow (it did not show here in
//! dozens of rounds), so the threads arrive spread over a millisecond and several rounds run as
//! child processes.

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gridbook_mobile::Phone;

const THREADS: usize = 32;
const ROUNDS: usize = 10;
const CHILD: &str = "GRIDBOOK_FIRST_OPEN_CHILD";

/// Opens `THREADS` stores at once; panics with the errors if any open failed.
fn open_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let path = dir.path().join(format!("phone-{i}.db"));
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                // Spread over a few milliseconds: a thread that arrives while another is
                // inside SQLCipher's start-up is the one that was refused.
                let go = Instant::now() + Duration::from_micros(25 * i as u64);
                while Instant::now() < go {
                    std::thread::yield_now();
                }
                Phone::open(path.to_string_lossy().into_owned(), format!("{i:064x}"))
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let errors: Vec<String> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(errors.is_empty(), "opens refused: {errors:?}");
}

#[test]
fn stores_opened_at_the_same_moment_all_open() {
    if std::env::var_os(CHILD).is_some() {
        open_at_once();
        return;
    }
    let me = std::env::current_exe().unwrap();
    for round in 0..ROUNDS {
        let out = Command::new(&me)
            .args([
                "--exact",
                "stores_opened_at_the_same_moment_all_open",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
