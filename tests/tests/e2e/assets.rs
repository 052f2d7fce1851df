//! 三资 accounts end to end (`GET /v1/assets/accounts`, `GET /v1/assets/{id}/account` and its
//! workbook): assets, leases and ledger entries written by phones through sync, summed from
//! the query index and hand-counted here; scope; a ledger entry recorded offline.

use std::io::Read;

use chrono::Datelike;
use gridbook_tests::TestApp;
use serde_json::Value;
use sync_core::ids::{DocId, ItemId, UserId};
use sync_core::models::asset::{Asset, AssetKind, Lease, LedgerDirection, LedgerEntry};
use sync_core::record::{Place, Role};
use sync_core::time::Date;

use crate::support::{get, get_ok, now, on_both_backends};

on_both_backends!(
    accounts_match_hand_counts_and_expiring_leases_are_listed,
    accounts_stay_within_the_readers_scope,
);

fn day(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("a day")
}

fn entry(on: Date, direction: LedgerDirection, yuan: i64, note: &str, by: &UserId) -> LedgerEntry {
    LedgerEntry {
        id: ItemId::new(),
        on,
        direction,
        amount_fen: yuan * 100,
        note: note.into(),
        recorded_by: by.clone(),
    }
}

fn lease(tenant: &str, start: Date, end: Date, yuan_per_year: i64) -> Lease {
    Lease {
        id: ItemId::new(),
        tenant: tenant.into(),
        start,
        end,
        rent_fen_per_year: yuan_per_year * 100,
    }
}

fn asset(place: &Place, name: &str, leases: Vec<Lease>, ledger: Vec<LedgerEntry>) -> Asset {
    Asset {
        id: DocId::new(),
        place: place.clone(),
        asset_kind: AssetKind::FixedAsset,
        name: name.into(),
        description: String::new(),
        value_fen: 240_000_000,
        leases,
        ledger,
    }
}

/// Fen of `n` yuan.
fn yuan(n: i64) -> i64 {
    n * 100
}

fn fen(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// A past year is counted whole, so every figure is fixed: hand counts of income, expense,
/// the year before, rent due (a lease's days in the year × its yearly rent / days of the
/// year) and received; a lease ending within 90 days of today is listed as expiring, on the
/// dashboard's list and on the asset; an entry a phone adds offline counts after its sync.
async fn accounts_match_hand_counts_and_expiring_leases_are_listed(
    app: TestApp,
) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let boss = app
        .user("boss", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let today = now().china_date();
    let year = today.0.year() - 1;
    let before = year - 1;
    let soon = Date(today.0 + chrono::Days::new(30));
    let later = Date(today.0 + chrono::Days::new(400));
    let a = app.grid_a();
    let mut w = app.phone(&li).await?;
    let t = now();
    let in_ = LedgerDirection::Income;
    let out = LedgerDirection::Expense;
    // The shop fronts: one lease the whole year (36,500 yuan), one from 1 July (73,000 yuan a
    // year, so 184 days = 36,800 yuan), one ending in 30 days (started this year: not due in
    // the year counted).
    let shops = asset(
        &a,
        "丁字口社区临街门面",
        vec![
            lease("冉记粉馆", day(before, 1, 1), later, 36_500),
            lease("田氏药房", day(year, 7, 1), later, 73_000),
            lease("和顺百货店", today, soon, 12_000),
        ],
        vec![
            entry(day(year, 1, 10), in_, 20_000, "门面租金", &li.id),
            entry(day(year, 7, 10), in_, 40_000, "门面租金", &li.id),
            entry(day(year, 12, 31), in_, 5_000, "门面租金", &li.id),
            entry(day(year, 3, 3), out, 1_200, "公共区域维修", &li.id),
            entry(day(before, 5, 5), in_, 30_000, "门面租金", &li.id),
            entry(day(before, 6, 6), out, 999, "维修", &li.id),
        ],
    );
    let shops_id = w.replica.create(&shops, t)?;
    // The car park: no lease, one income the year before the year counted, one the year after.
    let park = asset(
        &a,
        "丁字口社区停车场",
        Vec::new(),
        vec![
            entry(day(before, 2, 2), in_, 15_000, "停车场承包费", &li.id),
            entry(day(year, 2, 2), in_, 18_000, "停车场承包费", &li.id),
            entry(day(year + 1, 1, 2), in_, 99_999, "停车场承包费", &li.id),
        ],
    );
    let park_id = w.replica.create(&park, t)?;
    w.sync(&app).await?;

    let sup = app.phone(&boss).await?;
    let accounts = get_ok(&app, &sup, &format!("/v1/assets/accounts?year={year}")).await?;
    assert_eq!(accounts["as_of"], format!("{year}-12-31"));
    let days_in_year = if chrono::NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    let due_second = (yuan(73_000) * 184 * 2 + days_in_year) / (2 * days_in_year);
    let items = accounts["assets"].as_array().expect("assets");
    assert_eq!(items.len(), 2, "{accounts}");
    let by_id = |id: &DocId| {
        items
            .iter()
            .find(|x| x["id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} in {accounts}"))
    };
    let s = by_id(&shops_id);
    assert_eq!(s["name"], "丁字口社区临街门面");
    assert_eq!(s["asset_kind_label"], "资产");
    assert_eq!(fen(s, "income_fen"), yuan(65_000));
    assert_eq!(fen(s, "expense_fen"), yuan(1_200));
    assert_eq!(fen(s, "net_fen"), yuan(63_800));
    assert_eq!(fen(s, "previous_income_fen"), yuan(30_000));
    assert_eq!(fen(s, "rent_due_fen"), yuan(36_500) + due_second);
    assert_eq!(fen(s, "rent_received_fen"), yuan(65_000));
    let p = by_id(&park_id);
    assert_eq!(fen(p, "income_fen"), yuan(18_000));
    assert_eq!(fen(p, "previous_income_fen"), yuan(15_000));
    assert_eq!(fen(p, "rent_due_fen"), 0);
    let totals = &accounts["totals"];
    assert_eq!(fen(totals, "income_fen"), yuan(83_000), "{totals}");
    assert_eq!(fen(totals, "expense_fen"), yuan(1_200), "{totals}");
    assert_eq!(fen(totals, "previous_income_fen"), yuan(45_000), "{totals}");

    // Expiring: the lease ending in 30 days, nothing else.
    let expiring = accounts["expiring_leases"].as_array().expect("expiring");
    assert_eq!(expiring.len(), 1, "{accounts}");
    assert_eq!(expiring[0]["tenant"], "和顺百货店");
    assert_eq!(expiring[0]["days_left"], 30);
    assert_eq!(expiring[0]["state_label"], "即将到期");
    assert_eq!(expiring[0]["asset_name"], "丁字口社区临街门面");

    // One asset's account: months of the year, years, the year's ledger, lease states.
    let account = get_ok(
        &app,
        &sup,
        &format!("/v1/assets/{shops_id}/account?year={year}"),
    )
    .await?;
    assert_eq!(fen(&account, "income_fen"), yuan(65_000));
    let months = account["months"].as_array().expect("months");
    assert_eq!(months.len(), 12);
    assert_eq!(fen(&months[0], "income_fen"), yuan(20_000));
    assert_eq!(fen(&months[2], "expense_fen"), yuan(1_200));
    assert_eq!(fen(&months[6], "income_fen"), yuan(40_000));
    assert_eq!(fen(&months[11], "income_fen"), yuan(5_000));
    assert_eq!(fen(&months[4], "income_fen"), 0);
    let years: Vec<(i64, i64)> = account["years"]
        .as_array()
        .expect("years")
        .iter()
        .map(|y| (y["year"].as_i64().unwrap_or(0), fen(y, "net_fen")))
        .collect();
    assert_eq!(
        years,
        [
            (i64::from(year), yuan(63_800)),
            (i64::from(before), yuan(30_000) - yuan(999))
        ]
    );
    assert_eq!(account["ledger"].as_array().map(Vec::len), Some(4));
    assert_eq!(account["ledger"][0]["on"], format!("{year}-01-10"));
    assert_eq!(account["ledger"][1]["direction_label"], "支出");
    let states: Vec<&str> = account["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| l["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, ["active", "active", "expiring"], "{account}");

    // The workbook holds the same, in sheets named in Chinese.
    let response = app
        .http
        .get(app.url(&format!("/v1/assets/{shops_id}/account.xlsx?year={year}")))
        .bearer_auth(&sup.session.access_token)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let body = response.bytes().await?.to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body))?;
    let mut text = String::new();
    for i in 0..zip.len() {
        let mut bytes = Vec::new();
        zip.by_index(i)?.read_to_end(&mut bytes)?;
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    for needle in [
        "概况",
        "租赁合同",
        "月度收支",
        "收支台账",
        "冉记粉馆",
        "即将到期",
        "公共区域维修",
    ] {
        assert!(text.contains(needle), "the workbook names {needle}");
    }

    // A ledger entry recorded offline on the phone counts once it is synced.
    w.replica.update(&park_id, now(), |asset: &mut Asset| {
        asset
            .ledger
            .push(entry(day(year, 8, 8), in_, 2_000, "临时停车费", &li.id));
    })?;
    w.sync(&app).await?;
    let accounts = get_ok(&app, &sup, &format!("/v1/assets/accounts?year={year}")).await?;
    assert_eq!(fen(&accounts["totals"], "income_fen"), yuan(85_000));

    // A year with nothing counted yet, and malformed years.
    let future = get_ok(
        &app,
        &sup,
        &format!("/v1/assets/accounts?year={}", year + 2),
    )
    .await?;
    assert_eq!(future["as_of"], Value::Null);
    assert_eq!(fen(&future["totals"], "income_fen"), 0);
    for bad in ["1999", "abc", "20260"] {
        let (status, body) = get(&app, &sup, &format!("/v1/assets/accounts?year={bad}")).await?;
        assert_eq!(status, 400, "year={bad}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("year"),
            "{body}"
        );
    }
    Ok(())
}

/// A supervisor reads the accounts of their community only; another grid's worker, a
/// liaison and another community's supervisor cannot read an asset's account.
async fn accounts_stay_within_the_readers_scope(app: TestApp) -> anyhow::Result<()> {
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let zhao = app.user("zhao", Role::GridWorker, app.grid_b()).await?;
    let ma = app.user("ma", Role::GridWorker, app.grid_a2()).await?;
    let boss_b = app
        .user("boss-b", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let liaison = app
        .user_in_group("lian", Role::Liaison, app.grid_a(), Some("lg-1".parse()?))
        .await?;
    let today = now().china_date();
    let mut w = app.phone(&li).await?;
    let id = w.replica.create(
        &asset(
            &app.grid_a(),
            "丁字口社区停车场",
            vec![lease(
                "顺达停车",
                today,
                Date(today.0 + chrono::Days::new(10)),
                100,
            )],
            vec![entry(today, LedgerDirection::Income, 100, "承包费", &li.id)],
        ),
        now(),
    )?;
    w.sync(&app).await?;
    let mut wb = app.phone(&zhao).await?;
    wb.replica.create(
        &asset(&app.grid_b(), "联桥社区临街门面", Vec::new(), Vec::new()),
        now(),
    )?;
    wb.sync(&app).await?;

    let sup_b = app.phone(&boss_b).await?;
    let theirs = get_ok(&app, &sup_b, "/v1/assets/accounts").await?;
    let names: Vec<&str> = theirs["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| a["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["联桥社区临街门面"]);
    assert_eq!(theirs["expiring_leases"].as_array().map(Vec::len), Some(0));
    let (status, _) = get(&app, &sup_b, "/v1/assets/accounts?community=ca").await?;
    assert_eq!(status, 403);
    for phone in [&sup_b, &app.phone(&ma).await?, &app.phone(&liaison).await?] {
        let (status, body) = get(&app, phone, &format!("/v1/assets/{id}/account")).await?;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = get(&app, &app.phone(&liaison).await?, "/v1/assets/accounts").await?;
    assert_eq!(status, 403);
    // The owner's grid worker reads it; an unknown or malformed id is 404 / 400.
    assert_eq!(
        get(&app, &w, &format!("/v1/assets/{id}/account")).await?.0,
        200
    );
    let unknown = DocId::new();
    assert_eq!(
        get(&app, &w, &format!("/v1/assets/{unknown}/account"))
            .await?
            .0,
        404
    );
    assert_eq!(get(&app, &w, "/v1/assets/not-an-id/account").await?.0, 400);
    Ok(())
}
