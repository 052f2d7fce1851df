//! Two server processes on one PostgreSQL database, phones syncing through both at random. One
//! node holds every writing transaction open after it took its sequence number, so a writer on
//! the other node overlaps it; no phone's cursor may miss a change, and a node's stale cache
//! never refuses a phone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use gridbook_tests::Backend;
use gridbook_tests::process::load_small_demo;
use sync_core::protocol::{Bytes, DocPush, DocStatus, SyncRequest, SyncResponse};
use sync_core::record::RecordKind;

use crate::phones::{four_phones, new_phone, same_records};
use crate::{node, on};

async fn two_nodes(database: String, dir: PathBuf) -> anyhow::Result<()> {
    load_small_demo(&dir, &database)?;
    let http = reqwest::Client::builder().build()?;
    // Node 1 holds each writing transaction 800 ms after taking its sequence numbers.
    let slow = node(&dir, &database, &["--fault-hold-write-ms", "800"]).await?;
    let fast = node(&dir, &database, &[]).await?;
    let urls = [slow.url.clone(), fast.url.clone()];

    // The forced overlap: A writes through the slow node and holds sequence number N; C writes
    // the same grid through the fast node meanwhile; B reads through the fast node while A
    // still holds N. If C could commit N+1 before A commits N, B's cursor would pass N and
    // B would never receive A's change.
    let mut a = new_phone(&http, &urls[0], "a", "dzk-01").await?;
    let mut b = new_phone(&http, &urls[1], "b", "dzk-01").await?;
    let mut c = new_phone(&http, &urls[1], "c", "dzk-01").await?;
    for p in [&mut a, &mut b, &mut c] {
        p.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    }
    let mut overlapped = false;
    for round in 0..3 {
        a.edit(1000 + round)?;
        c.edit(2000 + round)?;
        let (ha, hc) = (http.clone(), http.clone());
        let (ua, uc) = (urls[0].clone(), urls[1].clone());
        let writer_a = tokio::spawn(async move {
            let ok = a.round_trip(&ha, &ua).await?;
            anyhow::Ok((a, ok))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let writer_c = tokio::spawn(async move {
            let started = Instant::now();
            let ok = c.round_trip(&hc, &uc).await?;
            anyhow::Ok((c, ok, started.elapsed()))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        ensure!(b.round_trip(&http, &urls[1]).await?, "b's read failed");
        let (a2, ok_a) = writer_a.await??;
        let (c2, ok_c, waited) = writer_c.await??;
        overlapped |= waited >= Duration::from_millis(300);
        ensure!(ok_a && ok_c, "a writer failed");
        a = a2;
        c = c2;
        // B reads on: everything A and C wrote must arrive.
        b.sync(&http, &urls[round % 2], Duration::from_secs(30))
            .await?;
        a.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        b.sync(&http, &urls[1], Duration::from_secs(30)).await?;
        same_records(&a, &b).with_context(|| format!("overlap round {round}"))?;
        same_records(&c, &b).with_context(|| format!("overlap round {round}"))?;
    }

    // A stale cache must not refuse a phone. Node 1 caches a household (A writes it there);
    // node 2 changes it (C); B pulls that change through node 2 and then pushes the whole
    // document (as after `need_full` or a restore) through node 1, whose cached copy lacks
    // C's change: the server must look again at the database, not call it a foreign change.
    let target = a
        .replica
        .doc_ids()
        .into_iter()
        .find(|id| {
            a.replica
                .document(id)
                .is_some_and(|d| d.kind() == RecordKind::Household)
        })
        .context("a household")?;
    a.tag(&target, "cached-on-node-1")?;
    ensure!(a.round_trip(&http, &urls[0]).await?, "a's write failed");
    c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    c.tag(&target, "written-on-node-2")?;
    c.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    b.sync(&http, &urls[1], Duration::from_secs(30)).await?;
    let doc = b.replica.document(&target).context("b holds it")?;
    let full = SyncRequest::new(
        b.replica.device().clone(),
        b.replica.cursor().cloned(),
        vec![DocPush {
            id: target.clone(),
            kind: RecordKind::Household,
            base_heads: Vec::new(),
            changes: Bytes(doc.automerge().save_after(&[])),
        }],
    );
    let answer: SyncResponse = http
        .post(format!("{}/v1/sync", urls[0]))
        .bearer_auth(&b.token)
        .json(&full)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(
        answer.docs[0].status == DocStatus::Ok,
        "a whole-document push through the node with the stale cache: {:?}",
        answer.docs[0]
    );

    // C's write really waited for A's open transaction at least once (a lower bound: the
    // lock cannot make it faster), so the overlap this test is about did happen.
    ensure!(overlapped, "the writers never overlapped");

    // Then four phones on two grids, each round trip through a random node, for a while.
    let phones = four_phones(&http, &urls[1]).await?;
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut tasks = Vec::new();
    for mut p in phones {
        let (http, urls) = (http.clone(), urls.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                p.edit(n)?;
                n += 1;
                let url = &urls[rand::random_range(0..2)];
                ensure!(
                    p.round_trip(&http, url).await?,
                    "{}: a round trip failed",
                    p.name
                );
            }
            anyhow::Ok(p)
        }));
    }
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await??);
    }
    for _ in 0..2 {
        for p in &mut phones {
            let url = &urls[rand::random_range(0..2)];
            p.sync(&http, url, Duration::from_secs(30)).await?;
        }
    }
    same_records(&phones[0], &phones[1])?;
    same_records(&phones[2], &phones[3])?;
    // A new phone per grid agrees with them: nothing stored is missing from their copies.
    let mut fresh = new_phone(&http, &urls[0], "fresh-1", "dzk-01").await?;
    fresh.sync(&http, &urls[0], Duration::from_secs(30)).await?;
    same_records(&fresh, &phones[0])?;
    // B, idle since the overlap rounds, catches up through the slow node.
    b.sync(&http, &urls[0], Duration::from_secs(30)).await?;
    same_records(&fresh, &b)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_database_never_let_a_cursor_miss_a_change() -> anyhow::Result<()>
{
    on(Backend::Postgres, two_nodes).await
}
