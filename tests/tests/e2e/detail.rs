//! One record for supervisors: masked personal data, audited reveals, history with users and
//! devices, the audit log, scope and error shapes.

use anyhow::Context;
use automerge::transaction::{CommitOptions, Transactable as _};
use gridbook_tests::client::{answer, get, post};
use gridbook_tests::{PASSWORD, Phone, TestApp};
use serde_json::{Value, json};
use sync_core::doc::actor_for_device;
use sync_core::ids::DocId;
use sync_core::models::HouseholdPrivate;
use sync_core::models::household::Household;
use sync_core::protocol::{Bytes, DocPush, DocStatus, SyncRequest, SyncResponse};
use sync_core::record::RecordKind;
use sync_core::record::Role;
use sync_core::time::Timestamp;

use crate::support::{at, case, household_and_identities, on_both_backends, resident_and_identity};

on_both_backends!(
    a_supervisor_reads_masked_data_and_reveals_one_field_with_an_audited_reason,
    only_supervisors_in_scope_read_and_reveal,
    history_names_the_worker_and_device_and_masks_values,
    sign_ins_and_failed_sign_ins_are_audited,
    unknown_and_malformed_ids_are_json_errors,
    change_times_in_seconds_as_automerge_js_writes_them_show_the_right_date,
);

/// The personal data a fixture household holds (in its private document): ID numbers and
/// phones in clear.
struct Fixture {
    /// The household.
    id: DocId,
    /// Its private document.
    private: DocId,
    /// ID number and phone of each resident, in order.
    secrets: Vec<String>,
}

/// Li (grid worker of `ca-1`) syncs a household of two residents with ID numbers and phones.
async fn synced_household(app: &TestApp, li: &mut Phone) -> anyhow::Result<Fixture> {
    let (mut h, mut identities) = household_and_identities(&app.grid_a(), "301");
    h.liaison_group = Some("lg-1".parse()?);
    identities[0].phone = Some("13912345678".into());
    let (son, mut son_identity) = resident_and_identity("王小明", "19850607");
    son_identity.phone = Some("13700002222".into());
    h.residents.push(son);
    identities.push(son_identity);
    let mut secrets = Vec::new();
    for r in &identities {
        secrets.extend(r.id_number.clone());
        secrets.extend(r.phone.clone());
    }
    li.create_household(&h, identities, at(0))?;
    li.sync(app).await?;
    Ok(Fixture {
        private: HouseholdPrivate::id_for(&h.id),
        id: h.id,
        secrets,
    })
}

fn assert_no_secret(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{secret} appears unmasked in {text}"
        );
    }
}

async fn a_supervisor_reads_masked_data_and_reveals_one_field_with_an_audited_reason(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let admin = app.user("admin", Role::Admin, app.grid_a()).await?;
    let mut phone1 = app.phone(&li).await?;
    let mut phone2 = app.phone(&li).await?;
    let fx = synced_household(&app, &mut phone1).await?;
    phone2.sync(&app).await?;
    // Two phones set the same phone number offline: a conflict (of the household's private
    // document) whose values are personal data.
    phone1
        .replica
        .update(&fx.private, at(10), |p: &mut HouseholdPrivate| {
            p.residents[1].phone = Some("13655556666".into());
        })?;
    phone2
        .replica
        .update(&fx.private, at(11), |p: &mut HouseholdPrivate| {
            p.residents[1].phone = Some("13577778888".into());
        })?;
    phone1.sync(&app).await?;
    phone2.sync(&app).await?;
    let mut secrets = fx.secrets.clone();
    secrets.extend(["13655556666".to_owned(), "13577778888".to_owned()]);

    let s = app.login(&sup).await?;
    let path = format!("/v1/records/{}", fx.id);
    let read = get(&app, &s.access_token, &path).await?;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_no_secret(&read.text, &secrets);
    let b = &read.body;
    assert_eq!(b["id"], fx.id.to_string());
    assert_eq!(b["kind"], "household");
    // The region and the check digit only, and the birth date's year (issue 15): nothing of
    // the birth date or the order code that the other fields could complete.
    assert_eq!(
        b["record"]["residents"][0]["id_number"],
        format!("{}***********{}", &fx.secrets[0][..6], &fx.secrets[0][17..])
    );
    let born = &b["record"]["residents"][0]["birth_date"];
    assert_eq!(
        born.as_str().map(|d| d.ends_with("-**-**")),
        Some(true),
        "{born}"
    );
    assert_eq!(b["record"]["residents"][0]["phone"], "*******5678");
    assert_eq!(b["record"]["residents"][0]["name"], "王秀英");
    assert_eq!(b["case_status"], Value::Null);
    assert_eq!(b["merged_invalid"], Value::Null);
    assert!(!b["heads"].as_array().context("heads")?.is_empty());

    // The private document itself reads masked too, with its conflict's values masked.
    let private = get(
        &app,
        &s.access_token,
        &format!("/v1/records/{}", fx.private),
    )
    .await?;
    assert_eq!(private.status, 200, "{}", private.text);
    assert_no_secret(&private.text, &secrets);
    let b = &private.body;
    assert_eq!(b["kind"], "household_private");
    assert_eq!(b["record"]["household"], fx.id.to_string());
    let conflicts = b["conflicts"]["fields"].as_array().context("conflicts")?;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["field"], "residents[1].phone");
    let values: Vec<&str> = conflicts[0]["values"]
        .as_array()
        .context("values")?
        .iter()
        .filter_map(|v| v["value"].as_str())
        .collect();
    assert_eq!(values.len(), 2);
    assert!(values.iter().all(|v| v.contains("****")), "{values:?}");

    // Revealing needs a reason, a masked field and a value.
    let reveal = format!("/v1/records/{}/reveal", fx.id);
    for (body, status, code) in [
        (
            json!({"field": "residents[0].id_number"}),
            422,
            "reason_required",
        ),
        (
            json!({"field": "residents[0].id_number", "reason": "  ab  "}),
            422,
            "reason_required",
        ),
        (
            json!({"field": "residents[0].id_number", "reason": "x".repeat(501)}),
            422,
            "reason_required",
        ),
        (
            json!({"field": "residents[0].name", "reason": "核实身份信息"}),
            422,
            "not_masked",
        ),
        (
            json!({"field": "residents[0]..phone", "reason": "核实身份信息"}),
            422,
            "bad_field",
        ),
        (
            json!({"field": "residents[7].phone", "reason": "核实身份信息"}),
            404,
            "not_found",
        ),
        (json!({"reason": "核实身份信息"}), 400, "malformed"),
    ] {
        let a = post(&app, &s.access_token, &reveal, &body).await?;
        assert_eq!((a.status, a.code()), (status, code), "{body}: {}", a.text);
        assert_no_secret(&a.text, &secrets);
    }
    let reason = "入户核查低保资格";
    let a = post(
        &app,
        &s.access_token,
        &reveal,
        &json!({"field": "residents[0].id_number", "reason": reason}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["field"], "residents[0].id_number");
    assert_eq!(a.body["value"], fx.secrets[0].as_str());

    // The administrator sees the reveal with its reason and the supervisor's login.
    let ad = app.login(&admin).await?;
    let log = get(&app, &ad.access_token, "/v1/admin/audit?action=reveal").await?;
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["total"], 1);
    assert_eq!(log.body["page"], 1);
    let item = &log.body["items"][0];
    assert_eq!(item["action"], "reveal");
    assert_eq!(item["actor_login"], "sup-a");
    assert_eq!(item["actor_id"], sup.id.to_string());
    assert_eq!(item["device_id"], s.device.to_string());
    assert_eq!(item["record_id"], fx.id.to_string());
    assert_eq!(item["field"], "residents[0].id_number");
    assert_eq!(item["reason"], reason);
    assert_no_secret(&log.text, &secrets);
    // The refused attempts left no reveal rows; filters combine.
    let by_record = format!("/v1/admin/audit?record={}&actor=sup-a", fx.id);
    let log = get(&app, &ad.access_token, &by_record).await?;
    assert_eq!(log.body["total"], 1, "{}", log.text);
    let log = get(&app, &ad.access_token, "/v1/admin/audit?action=export").await?;
    assert_eq!(log.body["total"], 0, "{}", log.text);
    let bad = get(&app, &ad.access_token, "/v1/admin/audit?action=peek").await?;
    assert_eq!((bad.status, bad.code()), (400, "malformed"), "{}", bad.text);
    let bad = get(&app, &ad.access_token, "/v1/admin/audit?per_page=0").await?;
    assert_eq!(bad.status, 400, "{}", bad.text);

    // A street supervisor may reveal too.
    let street = app
        .user("sup-st", Role::StreetSupervisor, app.grid_a())
        .await?;
    let st = app.login(&street).await?;
    let a = post(
        &app,
        &st.access_token,
        &reveal,
        &json!({"field": "residents[1].id_number", "reason": "街道督办核查"}),
    )
    .await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["value"], fx.secrets[2].as_str());
    app.stop().await
}

async fn only_supervisors_in_scope_read_and_reveal(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let liaison = app
        .user_in_group("zhao", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let sup_b = app
        .user("sup-b", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let admin = app.user("admin", Role::Admin, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let fx = synced_household(&app, &mut phone).await?;
    let cid = phone.replica.create(&case(&app.grid_a(), &li.id), at(1))?;
    phone.sync(&app).await?;

    let path = format!("/v1/records/{}", fx.id);
    let reveal = format!("/v1/records/{}/reveal", fx.id);
    let history = format!("/v1/records/{}/history", fx.id);
    let body = json!({"field": "residents[0].phone", "reason": "核实联系方式"});

    // The grid worker and the liaison read it masked, but may not reveal.
    for user in [&li, &liaison] {
        let s = app.login(user).await?;
        let read = get(&app, &s.access_token, &path).await?;
        assert_eq!(read.status, 200, "{}: {}", user.login, read.text);
        assert_no_secret(&read.text, &fx.secrets);
        let a = post(&app, &s.access_token, &reveal, &body).await?;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);
    }
    // The private document: the grid worker reads it masked; the liaison not at all.
    let private = format!("/v1/records/{}", fx.private);
    let s = app.login(&li).await?;
    let read = get(&app, &s.access_token, &private).await?;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_no_secret(&read.text, &fx.secrets);
    let s = app.login(&liaison).await?;
    let a = get(&app, &s.access_token, &private).await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);
    assert_no_secret(&a.text, &fx.secrets);
    // Another community's supervisor sees nothing of it.
    let b = app.login(&sup_b).await?;
    for p in [&path, &history, &private] {
        let a = get(&app, &b.access_token, p).await?;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{p}: {}", a.text);
        assert_no_secret(&a.text, &fx.secrets);
    }
    let a = post(&app, &b.access_token, &reveal, &body).await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);
    // Administrators read no records.
    let ad = app.login(&admin).await?;
    for p in [&path, &history, &private] {
        let a = get(&app, &ad.access_token, p).await?;
        assert_eq!((a.status, a.code()), (403, "forbidden"), "{p}: {}", a.text);
    }
    // Nobody but administrators reads the audit log.
    let s = app.login(&sup).await?;
    let a = get(&app, &s.access_token, "/v1/admin/audit").await?;
    assert_eq!((a.status, a.code()), (403, "forbidden"), "{}", a.text);

    // A case shows its folded status.
    let a = get(&app, &s.access_token, &format!("/v1/records/{cid}")).await?;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["kind"], "case");
    assert_eq!(a.body["case_status"]["state"], "reported");
    app.stop().await
}

async fn history_names_the_worker_and_device_and_masks_values(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut phone = app.phone(&li).await?;
    let fx = synced_household(&app, &mut phone).await?;
    let (daughter, mut identity) = resident_and_identity("李娟", "19900102");
    identity.phone = Some("13344445555".into());
    let mut secrets = fx.secrets.clone();
    secrets.extend(identity.id_number.clone());
    secrets.push("13344445555".into());
    secrets.push("18811112222".into());
    // A daughter moves in (her name in the household, her identity in the private document)
    // and the son's phone number changes.
    phone.replica.update(&fx.id, at(30), |h: &mut Household| {
        h.residents.push(daughter);
    })?;
    phone
        .replica
        .update(&fx.private, at(30), |p: &mut HouseholdPrivate| {
            p.residents[1].phone = Some("18811112222".into());
            p.residents.push(identity);
        })?;
    phone.sync(&app).await?;

    let s = app.login(&sup).await?;
    let history = |id: &DocId| format!("/v1/records/{id}/history");
    let mut newest = Vec::new();
    for id in [&fx.id, &fx.private] {
        let a = get(&app, &s.access_token, &history(id)).await?;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_no_secret(&a.text, &secrets);
        let entries = a.body["entries"].as_array().context("entries")?.clone();
        // The private document starts with its canonical first change, which names no
        // device (every creator makes the same one); the rest is Li's phone's.
        let by_li: Vec<&Value> = entries.iter().filter(|e| !e["user"].is_null()).collect();
        assert_eq!(by_li.len(), 2, "{}", a.text);
        for e in &by_li {
            assert_eq!(e["user"]["login"], "li");
            assert_eq!(e["user"]["role"], "grid_worker");
            assert_eq!(e["user"]["display_name"], "测试 li");
            assert_eq!(e["device"], phone.session.device.to_string());
            assert_eq!(e["device_name"], "test phone");
            assert!(e["summary"].as_str().unwrap_or("").contains("test phone"));
        }
        // Newest first.
        assert_eq!(entries[0]["at"], at(30).to_string());
        assert_eq!(by_li[1]["at"], at(0).to_string());
        newest.push(entries[0].clone());
    }
    let listed = |entry: &Value, prefix: &str| {
        entry["edits"].as_array().is_some_and(|edits| {
            edits
                .iter()
                .any(|e| e["field"].as_str().unwrap_or("").starts_with(prefix))
        })
    };
    // The household's newest entry: the new resident.
    assert!(listed(&newest[0], "residents[2]"), "{}", newest[0]);
    // The private document's: the phone, masked, and the new resident's identity.
    let last = &newest[1];
    let edits = last["edits"].as_array().context("edits")?;
    let set = edits
        .iter()
        .find(|e| e["field"] == "residents[1].phone")
        .context("the phone edit is listed")?;
    assert_eq!(set["edit"], "set");
    assert_eq!(set["value"], "*******2222");
    assert!(listed(last, "residents[2]"), "{last}");
    let summary = last["summary"].as_str().unwrap_or("");
    assert!(
        summary.contains("li") && summary.contains("residents[1].phone"),
        "{summary}"
    );
    app.stop().await
}

async fn sign_ins_and_failed_sign_ins_are_audited(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let admin = app.user("admin", Role::Admin, app.grid_a()).await?;
    let session = app.login(&li).await?;
    let wrong = "not the password 12345";
    for login in ["li", "nobody"] {
        let a = answer(
            app.http
                .post(app.url("/v1/auth/login"))
                .json(&json!({"login": login, "password": wrong}))
                .send()
                .await?,
        )
        .await?;
        assert_eq!(a.status, 401, "{}", a.text);
    }
    let ad = app.login(&admin).await?;

    let log = get(&app, &ad.access_token, "/v1/admin/audit?actor=li").await?;
    assert_eq!(log.status, 200, "{}", log.text);
    assert!(!log.text.contains(wrong) && !log.text.contains(PASSWORD));
    assert_eq!(log.body["total"], 2, "{}", log.text);
    let items = log.body["items"].as_array().context("items")?;
    // Newest first.
    assert_eq!(items[0]["action"], "login_failed");
    assert_eq!(items[0]["actor_id"], li.id.to_string());
    assert_eq!(items[1]["action"], "login");
    assert_eq!(items[1]["actor_login"], "li");
    assert_eq!(items[1]["device_id"], session.device.to_string());
    assert!(items[1]["address"].as_str().is_some());

    let log = get(
        &app,
        &ad.access_token,
        "/v1/admin/audit?action=login_failed",
    )
    .await?;
    assert_eq!(log.body["total"], 2, "{}", log.text);
    let unknown = log.body["items"]
        .as_array()
        .context("items")?
        .iter()
        .find(|i| i["actor_login"] == "nobody")
        .context("the unknown login is logged")?;
    assert_eq!(unknown["actor_id"], Value::Null);

    // Pagination: two sign-ins (li, admin) and two failures, two per page.
    let all = "/v1/admin/audit?per_page=2";
    let p1 = get(&app, &ad.access_token, all).await?;
    assert_eq!(p1.body["total"], 4, "{}", p1.text);
    assert_eq!(p1.body["per_page"], 2);
    assert_eq!(p1.body["items"].as_array().map(Vec::len), Some(2));
    let p2 = get(&app, &ad.access_token, &format!("{all}&page=2")).await?;
    assert_eq!(p2.body["page"], 2);
    assert_eq!(p2.body["items"].as_array().map(Vec::len), Some(2));
    assert_ne!(p1.body["items"][0]["id"], p2.body["items"][0]["id"]);
    let p3 = get(&app, &ad.access_token, &format!("{all}&page=3")).await?;
    assert_eq!(p3.body["items"].as_array().map(Vec::len), Some(0));
    // A time window in the future holds nothing.
    let future = get(
        &app,
        &ad.access_token,
        "/v1/admin/audit?from=2100-01-01T00:00:00Z",
    )
    .await?;
    assert_eq!(future.body["total"], 0, "{}", future.text);
    app.stop().await
}

async fn unknown_and_malformed_ids_are_json_errors(app: TestApp) -> anyhow::Result<()> {
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let s = app.login(&sup).await?;
    let unknown = DocId::new();
    // An unknown id is 404; an id that is not a canonical (lowercase, hyphenated) UUID is
    // 400 `malformed`, naming the parameter.
    for (id, status, code) in [
        (unknown.to_string(), 404, "not_found"),
        ("not-a-uuid".to_owned(), 400, "malformed"),
        ("123".to_owned(), 400, "malformed"),
        (unknown.to_string().to_uppercase(), 400, "malformed"),
        (unknown.uuid().simple().to_string(), 400, "malformed"),
    ] {
        for path in [
            format!("/v1/records/{id}"),
            format!("/v1/records/{id}/history"),
        ] {
            let a = get(&app, &s.access_token, &path).await?;
            assert_eq!((a.status, a.code()), (status, code), "{path}: {}", a.text);
            if status == 400 {
                let message = a.body["error"]["message"].as_str().unwrap_or("");
                assert!(message.starts_with("id:"), "{path}: {message}");
            }
        }
        let a = post(
            &app,
            &s.access_token,
            &format!("/v1/records/{id}/reveal"),
            &json!({"field": "residents[0].phone", "reason": "核实联系方式"}),
        )
        .await?;
        assert_eq!((a.status, a.code()), (status, code), "{}", a.text);
    }
    // Without a token: 401 JSON.
    let a = answer(
        app.http
            .get(app.url(&format!("/v1/records/{unknown}")))
            .send()
            .await?,
    )
    .await?;
    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{}", a.text);
    app.stop().await
}

/// Pushes an edit of `notes` made as Automerge JS makes it: a change whose `time` is in
/// seconds since the epoch (JS's default), from a fresh actor of the phone's device, on top of
/// what the server confirmed. Returns the change's time as the protocol states it (ms).
async fn push_js_style_note(
    app: &TestApp,
    phone: &Phone,
    id: &DocId,
    note: &str,
    at: Timestamp,
) -> anyhow::Result<Timestamp> {
    let doc = phone.replica.document(id).context("held")?;
    let base = phone.replica.base_heads(id).context("confirmed")?.to_vec();
    let mut am = doc
        .automerge()
        .fork()
        .with_actor(actor_for_device(&phone.session.device));
    let mut tx = am.transaction();
    tx.put(automerge::ROOT, "notes", note)?;
    tx.commit_with(CommitOptions::default().with_time(at.millis() / 1000));
    let request = SyncRequest::new(
        phone.session.device.clone(),
        None,
        vec![DocPush {
            id: id.clone(),
            kind: RecordKind::Household,
            base_heads: base.clone(),
            changes: Bytes(am.save_after(&base)),
        }],
    );
    let response = app.post_sync(&phone.session.access_token, &request).await?;
    anyhow::ensure!(response.status() == 200, "sync: {}", response.status());
    let response: SyncResponse = response.json().await?;
    anyhow::ensure!(
        response.docs[0].status == DocStatus::Ok,
        "{:?}",
        response.docs[0]
    );
    Ok(Timestamp::from_millis(at.millis() / 1000 * 1000))
}

/// Automerge JS writes a change's `time` in seconds; Gridbook's phones in milliseconds. Two
/// phones edit `notes` concurrently the JS way: the history and the conflict inbox show the
/// day they did it, not January 1970.
async fn change_times_in_seconds_as_automerge_js_writes_them_show_the_right_date(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let sup = app
        .user("sup-a", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut p1 = app.phone(&li).await?;
    let mut p2 = app.phone(&li).await?;
    let fx = synced_household(&app, &mut p1).await?;
    p2.sync(&app).await?;
    let t1 = push_js_style_note(&app, &p1, &fx.id, "一楼漏水", at(40)).await?;
    let t2 = push_js_style_note(&app, &p2, &fx.id, "二楼漏水", at(41)).await?;

    let s = app.login(&sup).await?;
    let history = get(
        &app,
        &s.access_token,
        &format!("/v1/records/{}/history", fx.id),
    )
    .await?;
    assert_eq!(history.status, 200, "{}", history.text);
    let entries = history.body["entries"].as_array().context("entries")?;
    assert_eq!(entries.len(), 3, "{}", history.text);
    let times: Vec<&str> = entries.iter().filter_map(|e| e["at"].as_str()).collect();
    for t in [t1, t2, at(0)] {
        assert!(times.contains(&t.to_string().as_str()), "{t} in {times:?}");
    }
    assert!(
        entries
            .iter()
            .all(|e| e["summary"].as_str().is_some_and(|s| !s.contains("1970"))),
        "{}",
        history.text
    );

    for path in [
        format!("/v1/conflicts/{}", fx.id),
        format!("/v1/records/{}", fx.id),
    ] {
        let a = get(&app, &s.access_token, &path).await?;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        let fields = if path.contains("conflicts") {
            &a.body["fields"]
        } else {
            &a.body["conflicts"]["fields"]
        };
        let field = fields
            .as_array()
            .and_then(|f| f.iter().find(|c| c["field"] == "notes"))
            .context("notes is in conflict")?;
        let mut times: Vec<String> = field["values"]
            .as_array()
            .context("values")?
            .iter()
            .filter_map(|v| v["at"].as_str().map(str::to_owned))
            .collect();
        times.sort();
        assert_eq!(
            times,
            [t1.to_string(), t2.to_string()],
            "{path}: {}",
            a.text
        );
    }
    app.stop().await
}
