//! Documents nested far deeper than any record, pushed through `POST /v1/sync` by a grid
//! worker's and by a household liaison's device: the server refuses each as
//! `invalid_record` naming the depth limit, stores nothing of it, and goes on answering.
//! (Before the limit, 300 levels under an unknown key aborted the whole process with a stack
//! overflow.)

use anyhow::Context;
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use gridbook_tests::{Session, TestApp};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::protocol::{Bytes, DocPush, DocStatus, SyncRequest, SyncResponse, codes};
use sync_core::record::Role;
use sync_core::shape::MAX_DEPTH;
use sync_core::validate::ValidationContext;

use crate::support::{at, household, on_both_backends};

on_both_backends!(
    a_record_nested_300_deep_is_refused_and_the_server_keeps_answering,
    nesting_under_a_stored_record_counts_its_existing_depth,
);

/// Nests `levels` maps under `key`, starting at `parent`, as one change by `session`'s device.
fn nest(doc: &mut Document, session: &Session, parent: automerge::ObjId, key: &str, levels: usize) {
    let am = doc.automerge_mut();
    am.set_actor(actor_for_device(&session.device));
    let mut tx = am.transaction();
    let mut obj = parent;
    for _ in 0..levels {
        obj = tx
            .put_object(&obj, key, ObjType::Map)
            .unwrap_or(automerge::ROOT);
    }
    tx.commit();
}

async fn push(
    app: &TestApp,
    session: &Session,
    doc: &Document,
    base: &[automerge::ChangeHash],
) -> anyhow::Result<SyncResponse> {
    let request = SyncRequest::new(
        session.device.clone(),
        None,
        vec![DocPush {
            id: doc.id().clone(),
            kind: doc.kind(),
            base_heads: base.to_vec(),
            changes: Bytes(doc.automerge().save_after(base)),
        }],
    );
    let response = app.post_sync(&session.access_token, &request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "sync answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

fn assert_refused_for_depth(response: &SyncResponse) {
    let result = &response.docs[0];
    assert_eq!(result.status, DocStatus::Rejected, "{result:?}");
    let error = result.error.as_ref().expect("a reason");
    assert_eq!(error.code, codes::INVALID_RECORD, "{error:?}");
    let said = format!("{} {:?}", error.message, error.fields);
    assert!(said.contains(&format!("{MAX_DEPTH} levels deep")), "{said}");
}

async fn a_record_nested_300_deep_is_refused_and_the_server_keeps_answering(
    app: TestApp,
) -> anyhow::Result<()> {
    let worker = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let liaison = app
        .user_in_group("chen", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let changes_before = app.change_count().await?;
    // 300 levels fit in under 1 KiB of changes; 5,000 in a few KiB.
    for (user, levels) in [(&worker, 5_000), (&worker, 300), (&liaison, 300)] {
        let session = app.login(user).await?;
        let author = Author::new(actor_for_device(&session.device), at(0));
        let mut doc = Document::create(
            &household(&app.grid_a(), "301"),
            &author,
            &ValidationContext::default(),
        )?;
        nest(&mut doc, &session, ROOT, "unknown", levels);
        assert!(doc.automerge().save_after(&[]).len() < 32 * 1024);
        let response = push(&app, &session, &doc, &[]).await?;
        assert_refused_for_depth(&response);
        assert!(app.projection(doc.id()).await?.is_none(), "nothing stored");
    }
    assert_eq!(app.change_count().await?, changes_before);

    // The server still serves a normal sync.
    let mut phone = app.phone(&worker).await?;
    let id = phone
        .replica
        .create(&household(&app.grid_a(), "302"), at(1))?;
    phone.sync(&app).await?;
    assert!(app.projection(&id).await?.is_some());
    Ok(())
}

async fn nesting_under_a_stored_record_counts_its_existing_depth(
    app: TestApp,
) -> anyhow::Result<()> {
    let worker = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let session = app.login(&worker).await?;
    let author = Author::new(actor_for_device(&session.device), at(0));
    let mut doc = Document::create(
        &household(&app.grid_a(), "303"),
        &author,
        &ValidationContext::default(),
    )?;
    // A first push leaves the record stored; the next nests under an existing object
    // (the residents list's first resident) past the limit.
    let stored = push(&app, &session, &doc, &[]).await?;
    assert_eq!(stored.docs[0].status, DocStatus::Ok);
    let base = doc.heads();
    let residents = match doc.automerge().get(ROOT, "residents")? {
        Some((_, id)) => id,
        None => anyhow::bail!("the household has a residents list"),
    };
    let first = doc
        .automerge()
        .get(&residents, 0)?
        .map(|(_, id)| id)
        .context("a first resident")?;
    nest(&mut doc, &session, first, "nested", MAX_DEPTH);
    let before = app.projection(doc.id()).await?;
    let response = push(&app, &session, &doc, &base).await?;
    assert_refused_for_depth(&response);
    assert_eq!(app.projection(doc.id()).await?, before, "nothing changed");
    Ok(())
}
