//! Upgrading to the household private documents (issue 15), end to end: a phone of the old
//! layout (residents' ID number, phone and special groups inside the household document) with
//! offline edits, the server's migration, then that phone's sync. Nothing the phone wrote is
//! lost, the values end in the private document, and the household document holds none.

use anyhow::{Context, ensure};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use gridbook_server::records::legacy;
use gridbook_server::records::push::decide_and_persist;
use gridbook_tests::{Session, TestApp, TestUser, resident_with_id_number};

use crate::support::{files_holding, on_both_backends};
use serde_json::Value;
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::models::household::{Address, Household};
use sync_core::models::household_private::has_legacy_fields;
use sync_core::models::{AnyRecord, HouseholdPrivate};
use sync_core::protocol::{Bytes, DocPush, DocStatus, SyncRequest, SyncResponse};
use sync_core::record::{RecordMeta, Role};
use sync_core::server::{Access, Caller};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

on_both_backends!(
    an_old_phones_offline_edits_survive_the_migration_and_its_sync,
    archiving_an_old_layout_household_erases_it_with_its_private_document,
    a_new_database_has_no_data_migration_left_to_run,
);

/// A database migrated while it holds no record has nothing to rewrite: every data migration
/// is marked done, so the first start after `gridbook demo` does not read every stored
/// household (it took 22 s a demo street, and a node on a city's database did not start within
/// 2 minutes). A database that holds records keeps its data migrations to run.
async fn a_new_database_has_no_data_migration_left_to_run(app: TestApp) -> anyhow::Result<()> {
    use gridbook_server::db::migrations::{
        DATA_MIGRATIONS, HOUSEHOLD_PRIVATE_SPLIT, data_migration_done,
    };
    // As `gridbook demo` does: the schema, then records, and no server in between.
    let fresh = gridbook_tests::FreshDb::new(app.backend)
        .await?
        .context("the backend is configured")?;
    let new = gridbook_server::db::Db::connect(fresh.url()).await?;
    new.migrate().await?;
    for name in DATA_MIGRATIONS {
        ensure!(data_migration_done(&new, name).await?, "{name} is done");
    }
    new.close().await;
    let db = app.db();
    // Records stored, the marker gone (as on a database from before the migration existed):
    // migrating the schema again leaves it to run.
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    phone.replica.create(
        &crate::support::household(&app.grid_a(), "1-101"),
        crate::support::now(),
    )?;
    phone.sync(&app).await?;
    match db {
        gridbook_server::db::Db::Sqlite(pool) => {
            sqlx::query("DELETE FROM data_migrations")
                .execute(pool)
                .await?;
        }
        gridbook_server::db::Db::Postgres(pool) => {
            sqlx::query("DELETE FROM data_migrations")
                .execute(pool)
                .await?;
        }
    }
    db.migrate().await?;
    ensure!(!data_migration_done(db, HOUSEHOLD_PRIVATE_SPLIT).await?);
    Ok(())
}

/// Everything, as the server's own maintenance.
#[derive(Clone, Copy)]
struct All;

impl Access for All {
    fn may_read(&self, _: &RecordMeta) -> bool {
        true
    }
    fn may_write(&self, _: &RecordMeta) -> bool {
        true
    }
}

/// An old phone: one household document it edits with raw Automerge operations, as the app
/// of the old layout wrote residents (every field inside the household document).
struct OldPhone {
    session: Session,
    doc: Document,
    author: Author,
    /// What the server confirmed last.
    base: Vec<automerge::ChangeHash>,
}

impl OldPhone {
    /// Sets `key` of resident 0 to a string (or inserts a special group when `key` is
    /// `special_groups`), as one change.
    fn edit_resident(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        let am = self.doc.automerge_mut();
        am.set_actor(self.author.actor.clone());
        let mut tx = am.transaction();
        let (_, residents) = tx.get(ROOT, "residents")?.context("residents")?;
        let (_, resident) = tx.get(&residents, 0)?.context("resident 0")?;
        if key == "special_groups" {
            let groups = match tx.get(&resident, "special_groups")? {
                Some((_, list)) => list,
                None => tx.put_object(&resident, "special_groups", ObjType::List)?,
            };
            let at = tx.length(&groups);
            let group = tx.insert_object(&groups, at, ObjType::Map)?;
            tx.put(&group, "id", sync_core::ids::ItemId::new().to_string())?;
            tx.put(&group, "group", value)?;
            tx.put(&group, "verified", true)?;
        } else {
            tx.put(&resident, key, value)?;
        }
        tx.commit();
        Ok(())
    }

    fn push(&self) -> DocPush {
        DocPush {
            id: self.doc.id().clone(),
            kind: self.doc.kind(),
            base_heads: self.base.clone(),
            changes: Bytes::from_changes(self.doc.automerge().get_changes(&self.base).iter()),
        }
    }

    /// One sync of its household: push, then apply what the server sends of it.
    async fn sync(&mut self, app: &TestApp) -> anyhow::Result<()> {
        let request = SyncRequest::new(self.session.device.clone(), None, vec![self.push()]);
        let response = app.post_sync(&self.session.access_token, &request).await?;
        ensure!(
            response.status().is_success(),
            "sync: {}",
            response.status()
        );
        let response: SyncResponse = response.json().await?;
        let result = &response.docs[0];
        ensure!(
            result.status == DocStatus::Ok,
            "push refused: {:?}",
            result.error
        );
        let id = self.doc.id().clone();
        for update in response.updates.iter().filter(|u| u.id == id) {
            self.doc
                .automerge_mut()
                .load_incremental(update.changes.as_slice())?;
        }
        self.doc
            .automerge_mut()
            .load_incremental(result.changes.as_slice())?;
        self.base = self.doc.heads();
        Ok(())
    }
}

async fn stored_json(app: &TestApp, id: &sync_core::ids::DocId) -> anyhow::Result<Value> {
    let loaded = gridbook_server::db::docs::load(app.db(), id)
        .await?
        .context("stored record")?;
    Ok(loaded.record.json.clone())
}

/// A household of the old layout (its resident's ID number, and phone when `with_phone`,
/// inside the household document) as the server of that layout stored it, and the old phone
/// that wrote it. `shape` adjusts the household first. Returns the phone, the household and
/// the ID number.
async fn stored_old_layout_household(
    app: &TestApp,
    worker: &TestUser,
    with_phone: bool,
    shape: impl FnOnce(&mut Household),
) -> anyhow::Result<(OldPhone, Household, String)> {
    let session = app.login(worker).await?;
    let (resident, identity, id_number) = resident_with_id_number("王秀英", "19520304");
    let mut household = Household::new(
        app.grid_a(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    household.residents.push(resident);
    shape(&mut household);
    let author = Author::new(
        actor_for_device(&session.device),
        Timestamp::from_millis(1_770_000_000_000),
    );
    let doc = Document::create(&household, &author, &ValidationContext::default())?;
    let mut old = OldPhone {
        session,
        doc,
        author,
        base: Vec::new(),
    };
    old.edit_resident("id_number", &id_number)?;
    if with_phone {
        old.edit_resident("phone", identity.phone.as_deref().unwrap_or_default())?;
    }
    let caller = Caller {
        user: worker.id.clone(),
        device: old.session.device.clone(),
        role: Role::GridWorker,
    };
    let (results, _) = decide_and_persist(
        app.state(),
        &caller,
        &All,
        vec![app.grid_a().grid],
        vec![old.push()],
    )
    .await?;
    ensure!(results[0].status == DocStatus::Ok, "{:?}", results[0].error);
    old.base = old.doc.heads();
    Ok((old, household, id_number))
}

async fn an_old_phones_offline_edits_survive_the_migration_and_its_sync(
    app: TestApp,
) -> anyhow::Result<()> {
    let place = app.grid_a();
    let worker = app.user("wang", Role::GridWorker, place.clone()).await?;

    // The old phone's household, stored by the server of the old layout: the resident's ID
    // number and phone inside the household document.
    let (mut old, household, id_number) = stored_old_layout_household(&app, &worker, true, |h| {
        h.liaison_group = "lg-1".parse().ok();
    })
    .await?;
    let hid = household.id.clone();
    ensure!(has_legacy_fields(&stored_json(&app, &hid).await?));

    // Offline, before the upgrade reaches it: a new phone number and a special group.
    old.edit_resident("phone", "13977776666")?;
    old.edit_resident("special_groups", "elderly_alone")?;

    // The server of the new layout starts: the migration moves the stored values.
    let moved = legacy::migrate_households(app.state()).await?;
    ensure!(moved == 1, "one household migrated, not {moved}");
    let stored = stored_json(&app, &hid).await?;
    ensure!(
        !has_legacy_fields(&stored),
        "the household keeps old fields: {stored}"
    );
    let pid = HouseholdPrivate::id_for(&hid);
    let private = stored_json(&app, &pid).await?;
    ensure!(
        private["residents"][0]["id_number"] == id_number.as_str()
            && private["residents"][0]["phone"] == "13800001111",
        "the migration moved the values: {private}"
    );

    // The old phone syncs its offline edits: they reach the private document, nothing lost.
    old.sync(&app).await?;
    let private = gridbook_server::db::docs::load(app.db(), &pid)
        .await?
        .context("private document")?;
    let Some(AnyRecord::HouseholdPrivate(p)) = private.record.record.clone() else {
        anyhow::bail!("the private document does not read");
    };
    let entry = &p.residents[0];
    ensure!(entry.id_number.as_deref() == Some(id_number.as_str()));
    ensure!(
        entry.phone.as_deref() == Some("13977776666"),
        "the old phone's new number: {entry:?}"
    );
    ensure!(
        entry
            .special_groups
            .iter()
            .any(|g| g.group == "elderly_alone"),
        "the old phone's special group (inserted into a list the migration deleted): {entry:?}"
    );
    let stored = stored_json(&app, &hid).await?;
    ensure!(
        !has_legacy_fields(&stored),
        "the household keeps old fields: {stored}"
    );
    // The old phone converged on the household without them.
    ensure!(
        !has_legacy_fields(&old.doc.json()),
        "the old phone still shows old fields"
    );
    ensure!(old.doc.read::<Household>()?.residents[0].name == "王秀英");

    // A phone of the new layout receives both documents and reads the values.
    let mut new = app.phone(&worker).await?;
    new.sync(&app).await?;
    let p: HouseholdPrivate = new
        .replica
        .document(&pid)
        .context("the private document on the new phone")?
        .read()?;
    ensure!(p.residents[0].phone.as_deref() == Some("13977776666"));

    // The household's own history still holds the old values (a deleted value stays in the
    // history), so it reaches no liaison's or supervisor's phone; a household written in the
    // new layout does.
    let fresh = Household::new(
        place.clone(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "403".into(),
        },
    );
    let mut fresh_in_group = fresh.clone();
    fresh_in_group.liaison_group = Some("lg-1".parse()?);
    new.replica
        .create(&fresh_in_group, Timestamp::from_millis(1_770_000_100_000))?;
    new.sync(&app).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, place.clone())
        .await?;
    let liaison = app
        .user_in_group("lian", Role::Liaison, place.clone(), Some("lg-1".parse()?))
        .await?;
    for user in [&boss, &liaison] {
        let mut phone = app.phone(user).await?;
        phone.sync(&app).await?;
        let held = phone.replica.doc_ids();
        ensure!(
            held == vec![fresh_in_group.id.clone()],
            "{:?}'s phone holds {held:?}",
            user.role
        );
        for id in held {
            let text = phone
                .replica
                .document(&id)
                .context("held")?
                .automerge()
                .save();
            ensure!(
                !text
                    .windows(id_number.len())
                    .any(|w| w == id_number.as_bytes()),
                "an ID number on a {:?}'s phone",
                user.role
            );
        }
    }
    Ok(())
}

/// A household written before the private documents keeps its residents' old values in its
/// own Automerge history: archiving it takes the household document off the phones and erases
/// it with its private document (the audit trail stays).
async fn archiving_an_old_layout_household_erases_it_with_its_private_document(
    app: TestApp,
) -> anyhow::Result<()> {
    let place = app.grid_a();
    let worker = app.user("wang", Role::GridWorker, place.clone()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, place.clone())
        .await?;
    let (_, household, id_number) = stored_old_layout_household(&app, &worker, false, |h| {
        h.status = sync_core::models::household::HouseholdStatus::MovedOut;
    })
    .await?;
    ensure!(legacy::migrate_households(app.state()).await? == 1);
    let mut phone = app.phone(&worker).await?;
    phone.sync(&app).await?;
    ensure!(phone.replica.document(&household.id).is_some());

    let token = app.login(&boss).await?.access_token;
    let a = gridbook_tests::client::post(
        &app,
        &token,
        &format!("/v1/households/{}/archive", household.id),
        &serde_json::json!({"reason": "全户迁往铜仁"}),
    )
    .await?;
    ensure!(a.status == 200, "{}", a.text);
    let trip = phone.round_trip(&app).await?;
    let pid = HouseholdPrivate::id_for(&household.id);
    let mut removed = trip.response.removed.clone();
    removed.sort();
    let mut expected = vec![household.id.clone(), pid];
    expected.sort();
    ensure!(removed == expected, "{removed:?}");
    ensure!(phone.replica.doc_ids().is_empty());

    // Erased once the retention period is over: everything archived is due at the end of time.
    let due = gridbook_server::db::retention::due(app.db(), i64::MAX).await?;
    ensure!(due.len() == 1 && due[0].with_household, "{due:?}");
    let mut tx = app.db().begin_write().await?;
    gridbook_server::db::retention::erase(&mut tx, &due[0]).await?;
    tx.commit().await?;
    gridbook_server::db::retention::checkpoint(app.db()).await?;
    ensure!(
        gridbook_server::db::docs::load(app.db(), &household.id)
            .await?
            .is_none(),
        "the household document is erased too"
    );
    if app.backend == gridbook_tests::Backend::Sqlite {
        let left = files_holding(app.dir(), &id_number)?;
        ensure!(left.is_empty(), "the ID number is still in {left:?}");
    }
    Ok(())
}
