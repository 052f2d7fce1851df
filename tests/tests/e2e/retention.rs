//! Retention (issue 15): a household that moved away is archived by a supervisor; its private
//! document leaves every phone (including one that pushes an edit of it), nothing more is
//! written to it, and once erased the resident's ID number is gone from the server's database
//! files, while the household and the audit trail stay.

use anyhow::{Context, ensure};
use gridbook_server::config::Settings;
use gridbook_server::records::retention;
use gridbook_tests::client::{get, post};
use gridbook_tests::{Backend, TestApp};
use serde_json::json;
use sync_core::models::HouseholdPrivate;
use sync_core::models::household::{Household, HouseholdStatus, ResidentStatus};
use sync_core::protocol::codes;
use sync_core::record::Role;

use crate::support::{at, files_holding, household_and_identities, on_both_backends_with};

on_both_backends_with!(
    erased_at_once =>
    an_archived_households_private_document_leaves_phones_and_is_erased,
);

/// A retention period of zero: an archived private document is due for erasure at once.
fn erased_at_once(settings: &mut Settings) {
    settings.archive_retention = std::time::Duration::ZERO;
}

async fn an_archived_households_private_document_leaves_phones_and_is_erased(
    app: TestApp,
) -> anyhow::Result<()> {
    let place = app.grid_a();
    let worker = app.user("wang", Role::GridWorker, place.clone()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, place.clone())
        .await?;
    let admin = app.user("auditor", Role::Admin, place.clone()).await?;
    let mut phone = app.phone(&worker).await?;
    let mut tablet = app.phone(&worker).await?;
    let (mut household, identities) = household_and_identities(&place, "301");
    let id_number = identities[0].id_number.clone().context("an ID number")?;
    phone.create_household(&household, identities, at(0))?;
    phone.sync(&app).await?;
    tablet.sync(&app).await?;
    let private = HouseholdPrivate::id_for(&household.id);
    ensure!(tablet.replica.document(&private).is_some());

    let boss_token = app.login(&boss).await?.access_token;
    let path = format!("/v1/households/{}/archive", household.id);
    // Only a household that moved away, only with a reason, only by a supervisor.
    let a = post(&app, &boss_token, &path, &json!({"reason": "全户迁往铜仁"})).await?;
    ensure!(
        a.status == 409 && a.body["error"]["code"] == "not_moved_out",
        "{}",
        a.text
    );
    let worker_token = app.login(&worker).await?.access_token;
    let a = post(
        &app,
        &worker_token,
        &path,
        &json!({"reason": "全户迁往铜仁"}),
    )
    .await?;
    ensure!(a.status == 403, "{}", a.text);

    // The household moves away.
    phone
        .replica
        .update(&household.id, at(10), |h: &mut Household| {
            h.status = HouseholdStatus::MovedOut;
            for r in &mut h.residents {
                r.status = ResidentStatus::MovedOut;
                r.moved_out = Some("2026-03-10".parse().expect("date"));
            }
        })?;
    phone.sync(&app).await?;
    household = phone
        .replica
        .document(&household.id)
        .context("held")?
        .read()?;
    // The tablet edits the private document offline, before it hears of the archive.
    tablet
        .replica
        .update(&private, at(11), |p: &mut HouseholdPrivate| {
            p.notes = "搬走前留下的新号码".into();
        })?;

    let a = post(&app, &boss_token, &path, &json!({})).await?;
    ensure!(
        a.status == 422 && a.body["error"]["code"] == "reason_required",
        "{}",
        a.text
    );
    let a = post(&app, &boss_token, &path, &json!({"reason": "全户迁往铜仁"})).await?;
    ensure!(a.status == 200, "{}", a.text);
    ensure!(
        a.body["private_document"] == private.to_string(),
        "{}",
        a.text
    );
    let again = post(&app, &boss_token, &path, &json!({"reason": "全户迁往铜仁"})).await?;
    ensure!(again.status == 409, "{}", again.text);

    // The phone drops it at its next sync; the tablet's edit is refused and it drops it too.
    let trip = phone.round_trip(&app).await?;
    ensure!(
        trip.response.removed == vec![private.clone()],
        "{:?}",
        trip.response.removed
    );
    ensure!(trip.report.removed == vec![private.clone()]);
    ensure!(phone.replica.document(&private).is_none());
    ensure!(
        phone.replica.document(&household.id).is_some(),
        "the household stays"
    );
    let trip = tablet.round_trip(&app).await?;
    let result = trip
        .response
        .docs
        .iter()
        .find(|r| r.id == private)
        .context("the tablet's push")?;
    ensure!(
        result
            .error
            .as_ref()
            .is_some_and(|e| e.code == codes::ARCHIVED),
        "{result:?}"
    );
    ensure!(tablet.replica.document(&private).is_none());
    // Nobody reads it from the server any more... by sync.
    let mut fresh = app.phone(&worker).await?;
    fresh.sync(&app).await?;
    ensure!(fresh.replica.document(&private).is_none());
    ensure!(fresh.replica.document(&household.id).is_some());

    // Erased after the retention period (here: the test's period is over at once).
    if app.backend == Backend::Sqlite {
        ensure!(
            !files_holding(app.dir(), &id_number)?.is_empty(),
            "before erasure the ID number is in the database files"
        );
    }
    let erased = retention::erase_due(app.state()).await?;
    ensure!(erased == 1, "erased {erased}");
    if app.backend == Backend::Sqlite {
        let left = files_holding(app.dir(), &id_number)?;
        ensure!(left.is_empty(), "the ID number is still in {left:?}");
    }
    ensure!(
        gridbook_server::db::docs::load(app.db(), &private)
            .await?
            .is_none()
    );
    ensure!(retention::erase_due(app.state()).await? == 0, "erased once");

    // The audit trail stays, with no value in it.
    let admin_token = app.login(&admin).await?.access_token;
    for action in ["household_archived", "personal_data_erased"] {
        let a = get(
            &app,
            &admin_token,
            &format!("/v1/admin/audit?action={action}&per_page=10"),
        )
        .await?;
        ensure!(a.status == 200, "{}", a.text);
        let items = a.body["items"].as_array().context("items")?;
        ensure!(items.len() == 1, "{action}: {}", a.text);
        ensure!(
            items[0]["record_id"] == household.id.to_string(),
            "{}",
            a.text
        );
        ensure!(!a.text.contains(&id_number), "{}", a.text);
    }
    app.stop().await
}
