//! The county office (issue 19): the figures of every street, counts only. Each street's
//! figures equal what that street's supervisor reads; the county office reads no record, no
//! list, no export and no photo, syncs nothing, and no other role reads its figures.

use anyhow::{Context, ensure};
use gridbook_tests::TestApp;
use gridbook_tests::client::{get, post};
use serde_json::{Value, json};
use sync_core::record::Role;

use crate::support::{case, create_household, now, on_both_backends, second_street};

on_both_backends!(
    the_county_office_reads_every_streets_figures_and_nothing_else,
    a_county_office_account_has_no_place,
);

/// `answer.body["streets"]`'s entry for `id`.
fn street<'a>(answer: &'a Value, id: &str) -> anyhow::Result<&'a Value> {
    answer["streets"]
        .as_array()
        .context("streets")?
        .iter()
        .find(|s| s["id"] == id)
        .with_context(|| format!("street {id} in {answer}"))
}

async fn the_county_office_reads_every_streets_figures_and_nothing_else(
    app: TestApp,
) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let far = second_street(&app, &admin.access_token).await?;
    // Two households and a case in street st, one household and a case in s2.
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, far.clone()).await?;
    let mut near = app.phone(&li).await?;
    let mut away = app.phone(&wang).await?;
    let household = create_household(&mut near, &app.grid_a(), "1-101", now())?;
    create_household(&mut near, &app.grid_a(), "1-102", now())?;
    create_household(&mut away, &far, "9-901", now())?;
    let appeal = case(&app.grid_a(), &li.id);
    near.replica.create(&appeal, now())?;
    away.replica.create(&case(&far, &wang.id), now())?;
    near.sync(&app).await?;
    away.sync(&app).await?;
    // The supervisor of street st.
    let head = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let head = app.login(&head).await?.access_token;
    let office = app.user("county", Role::County, app.grid_a()).await?;
    let session = app.login(&office).await?;
    let office = session.access_token.clone();

    let county = get(&app, &office, "/v1/figures/streets?from=2020-01-01").await?;
    ensure!(county.status == 200, "{}", county.text);
    let near_figures = get(&app, &head, "/v1/figures?from=2020-01-01").await?;
    ensure!(near_figures.status == 200, "{}", near_figures.text);
    let st = street(&county.body, "st")?;
    let s2 = street(&county.body, "s2")?;
    ensure!(
        st["households"] == 2 && s2["households"] == 1,
        "{}",
        county.text
    );
    ensure!(county.body["totals"]["households"] == 3, "{}", county.text);
    ensure!(
        st["name"] == "测试街道" && s2["name"] == "第二街道",
        "{}",
        county.text
    );
    // The street's row is its supervisor's totals, figure for figure.
    for (key, value) in near_figures.body["totals"].as_object().context("totals")? {
        ensure!(
            st[key] == *value,
            "{key}: county {} vs street {value}",
            st[key]
        );
    }
    // Counts only: no grid, no community, no name of a person.
    ensure!(
        county.body.get("grids").is_none() && county.body.get("communities").is_none(),
        "{}",
        county.text
    );
    ensure!(
        !county.text.contains("王秀英"),
        "no resident's name: {}",
        county.text
    );

    // Nothing else: every list, record, export, report, photo and sync is refused with a
    // JSON body naming the refusal.
    let refused_gets = [
        "/v1/households".to_owned(),
        "/v1/cases".into(),
        "/v1/tasks".into(),
        "/v1/visits".into(),
        "/v1/patrols".into(),
        "/v1/activities".into(),
        "/v1/party-registrations".into(),
        "/v1/assets".into(),
        "/v1/assets/accounts".into(),
        "/v1/conflicts".into(),
        "/v1/figures".into(),
        "/v1/figures/timeline".into(),
        "/v1/reports/monthly".into(),
        "/v1/exports/households.csv".into(),
        "/v1/exports/cases.csv".into(),
        format!("/v1/records/{household}"),
        format!("/v1/records/{household}/history"),
        format!("/v1/records/{}", appeal.id),
        "/v1/admin/places".into(),
        "/v1/admin/audit".into(),
    ];
    for path in &refused_gets {
        let a = get(&app, &office, path).await?;
        ensure!(
            a.status == 403 && a.body["error"]["code"] == "forbidden",
            "GET {path} as the county office: {} {}",
            a.status,
            a.text
        );
    }
    let refused_posts = [
        (
            "/v1/sync".to_owned(),
            json!({ "protocol": 1, "device": session.device.to_string(), "cursor": null, "docs": [] }),
        ),
        (
            format!("/v1/records/{household}/reveal"),
            json!({ "field": "residents.0.id_number", "reason": "核实" }),
        ),
        (
            format!("/v1/cases/{}/actions", appeal.id),
            json!({ "action": "accept" }),
        ),
        (
            format!("/v1/households/{household}/archive"),
            json!({ "reason": "全户迁往铜仁" }),
        ),
        ("/v1/blobs/status".into(), json!({ "hashes": [] })),
    ];
    for (path, body) in &refused_posts {
        let a = post(&app, &office, path, body).await?;
        ensure!(
            a.status == 403 && a.body["error"]["code"] == "forbidden",
            "POST {path} as the county office: {} {}",
            a.status,
            a.text
        );
    }
    // And the county's figures are the county office's alone.
    let a = get(&app, &head, "/v1/figures/streets").await?;
    ensure!(
        a.status == 403 && a.body["error"]["code"] == "forbidden",
        "{}",
        a.text
    );
    let a = get(&app, &admin.access_token, "/v1/figures/streets").await?;
    ensure!(a.status == 403, "{}", a.text);
    app.stop().await
}

/// A county office account names no street, community or grid (422 otherwise).
async fn a_county_office_account_has_no_place(app: TestApp) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    for place in [json!({ "street": "st" }), json!({ "grid": "ca-1" })] {
        let mut user = json!({ "login": "office", "display_name": "区县社会治理中心",
                               "password": "quiet river lantern", "role": "county" });
        user.as_object_mut()
            .context("object")?
            .extend(place.as_object().context("object")?.clone());
        let a = post(&app, &admin.access_token, "/v1/admin/users", &user).await?;
        ensure!(a.status == 422, "{place}: {} {}", a.status, a.text);
    }
    let user = json!({ "login": "office", "display_name": "区县社会治理中心",
                       "password": "quiet river lantern", "role": "county" });
    let a = post(&app, &admin.access_token, "/v1/admin/users", &user).await?;
    ensure!(
        a.status == 201 || a.status == 200,
        "{} {}",
        a.status,
        a.text
    );
    app.stop().await
}
