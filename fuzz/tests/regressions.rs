//! Replays every file of `corpus/<target>/` and `regressions/<target>/` through the target's
//! function, without the fuzzer: the seeds and every crash the fuzzer ever found stay checked.
//! Run by `scripts/fuzz` (and alone: `cargo test --no-default-features` in `fuzz/`).

use std::cell::RefCell;
use std::path::Path;

use gridbook_fuzz::{Base, PushInput, Scenario, TARGETS, fixtures, seeds};
use sync_core::protocol::{Bytes, DocPush, split_changes};
use sync_core::server::apply_push;

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_and_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    let mut failed = Vec::new();
    // Panics that sync-core catches (Automerge's, on hostile changes) are not failures; only
    // the last panic's message is kept, for the one that escapes.
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string());
    }));
    for (target, run) in TARGETS {
        let seeds = files(&root.join("corpus").join(target));
        assert!(!seeds.is_empty(), "corpus/{target} has no seeds");
        for path in seeds
            .iter()
            .chain(&files(&root.join("regressions").join(target)))
        {
            let data = std::fs::read(path).expect("readable file");
            eprintln!("replaying {}", path.display());
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                let message = LAST_PANIC.with(|last| last.borrow().clone());
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .display()
                    .to_string();
                failed.push(format!("{name}: {message}"));
            }
            replayed += 1;
        }
    }
    drop(std::panic::take_hook());
    eprintln!("{replayed} inputs replayed");
    assert!(
        failed.is_empty(),
        "{} of {replayed} inputs fail (replay one with a backtrace: `cargo fuzz run -s none \\
         TARGET fuzz/regressions/TARGET/FILE` from the root):\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

#[test]
fn committed_seeds_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, name, data) in seeds() {
        let path = root.join("corpus").join(target).join(&name);
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == data,
            "{} is missing or stale: run `cargo run --example write_seeds` in fuzz/",
            path.display()
        );
    }
}

#[test]
fn framing_reproduces_real_chunks() {
    let f = fixtures();
    for chunks in [&f.household_edit, &f.case_comment, &f.case_accept] {
        let bodies = gridbook_fuzz::bodies(chunks);
        let framed = gridbook_fuzz::decode_bodies(&gridbook_fuzz::encode_bodies(&bodies));
        assert_eq!(&framed, chunks);
        assert!(split_changes(&framed).is_ok());
    }
}

#[test]
fn fixture_pushes_are_accepted() {
    let f = fixtures();
    let cases = [
        (&f.household, &f.household_edit, &f.worker, &f.worker_scope),
        (&f.case, &f.case_comment, &f.worker, &f.worker_scope),
        (&f.case, &f.case_accept, &f.supervisor, &f.supervisor_scope),
    ];
    for (stored, changes, caller, scope) in cases {
        let push = DocPush {
            id: stored.doc.id().clone(),
            kind: stored.doc.kind(),
            base_heads: stored.doc.heads(),
            changes: Bytes(changes.clone()),
        };
        let outcome = apply_push(Some(stored), &push, caller, scope, &f.ctx);
        assert!(outcome.is_accepted(), "{:?}", outcome.result());
    }
    let new = f.new_household.automerge().save_after(&[]);
    let push = DocPush {
        id: f.new_household.id().clone(),
        kind: f.new_household.kind(),
        base_heads: Vec::new(),
        changes: Bytes(new),
    };
    let outcome = apply_push(None, &push, &f.worker, &f.worker_scope, &f.ctx);
    assert!(outcome.is_accepted(), "{:?}", outcome.result());
    // The selector byte round-trips.
    let input = PushInput {
        scenario: Scenario::CaseBySupervisor,
        framed: true,
        base: Base::Unknown,
        other_kind: true,
    };
    assert_eq!(PushInput::from_byte(input.byte()), input);
}
