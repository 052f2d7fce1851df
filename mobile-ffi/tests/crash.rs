//! A phone killed (SIGKILL) in the middle of local writes reopens its store intact, with
//! every edit whose call had returned.
//!
//! The test runs its own binary again as a child (`child_writes_until_killed`, selected by an
//! environment variable) that creates and edits households as fast as it can and prints one
//! line per acknowledged edit; the parent kills it at a different point each round, then
//! reopens the store and checks it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use gridbook_mobile::Phone;
use sync_core::models::household::{Address, Household};
use sync_core::record::Place;

const CHILD_STORE: &str = "GRIDBOOK_CRASH_CHILD_STORE";
/// The store's key (a passphrase: the key derivation runs at every open too).
const KEY: &str = "crash test passphrase";

fn place() -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: "dzk-01".parse().unwrap(),
    }
}

/// The child: endless acknowledged writes. Does nothing in a normal test run.
#[test]
fn child_writes_until_killed() {
    let Ok(path) = std::env::var(CHILD_STORE) else {
        return;
    };
    let phone = Phone::open(path, KEY.into()).unwrap();
    // The household every round tags (created by the first child).
    let tagged = match phone
        .list(None, Some("tagged".into()), false, 1, 0)
        .unwrap()
        .first()
    {
        Some(row) => row.id.clone(),
        None => {
            let mut h = Household::new(place(), address("tagged"));
            h.notes = "tagged".into();
            phone.create_household(h.clone()).unwrap();
            h.id
        }
    };
    let mut out = std::io::stdout().lock();
    for n in 0u64.. {
        let h = Household::new(place(), address(&format!("r{n}")));
        phone.create_household(h.clone()).unwrap();
        writeln!(out, "acked create {}", h.id).unwrap();
        let mut t = phone.household(tagged.to_string()).unwrap();
        let tag = format!("{}-{n}", h.id);
        t.tags.push(tag.clone());
        phone.update_household(t, None).unwrap();
        writeln!(out, "acked tag {tag}").unwrap();
        out.flush().unwrap();
    }
}

fn address(room: &str) -> Address {
    Address {
        compound: "乌江水岸".into(),
        building: "3".into(),
        unit: "1".into(),
        room: room.into(),
    }
}

#[test]
fn a_store_killed_mid_write_reopens_intact_with_every_acknowledged_edit() {
    if std::env::var(CHILD_STORE).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let mut created = BTreeSet::new();
    let mut tags = BTreeSet::new();
    for round in 0..6u32 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writes_until_killed", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_STORE, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a different number of acknowledged edits each round, while the child is
        // writing the next one.
        let kill_after = 5 + round * 17;
        let mut acked = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("acked create ") {
                created.insert(id.to_owned());
                acked += 1;
            } else if let Some(tag) = line.strip_prefix("acked tag ") {
                tags.insert(tag.to_owned());
                acked += 1;
            }
            if acked >= kill_after {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child was killed");

        let phone = Phone::open(path.to_string_lossy().into_owned(), KEY.into()).unwrap();
        assert_eq!(phone.check_store().unwrap(), "ok", "round {round}");
        let listed: BTreeSet<String> = phone
            .list(None, None, false, 1000, 0)
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        let missing: Vec<_> = created.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "round {round}: lost households {missing:?}"
        );
        for id in &created {
            phone.household(id.clone()).unwrap();
        }
        let tagged = phone
            .list(None, Some("tagged".into()), false, 1, 0)
            .unwrap();
        let held: BTreeSet<String> = phone
            .household(tagged[0].id.to_string())
            .unwrap()
            .tags
            .into_iter()
            .collect();
        let lost: Vec<_> = tags.difference(&held).collect();
        assert!(lost.is_empty(), "round {round}: lost tags {lost:?}");
    }
    assert!(
        created.len() >= 40,
        "{} households acknowledged",
        created.len()
    );
}
