//! The household roster import end to end (`POST /v1/imports/households`, `GET
//! /v1/imports/{id}` and its report): a real-looking roster of 1,000 rows with 30 kinds of
//! mistakes, each reported with its reason; all or nothing, partial, a second import that
//! changes nothing, a dry run, another header layout through a mapping (GBK CSV), the
//! household export imported back, and who may import.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use calamine::{Data, Reader, Xlsx};
use gridbook_tests::TestApp;
use serde_json::Value;
use sync_core::models::household::Address;
use sync_core::record::Role;
use sync_core::validate::id_number_check_char;

use crate::support::on_both_backends;

on_both_backends!(
    a_thousand_rows_with_thirty_kinds_of_mistakes_are_reported_then_imported_once,
    a_dry_run_and_a_refused_file_store_nothing,
    another_header_layout_imports_through_a_mapping,
    the_household_export_imports_back,
    only_supervisors_and_grid_workers_import_within_their_scope,
);

/// The roster's columns, as a street office writes them.
const HEADERS: [&str; 14] = [
    "序号",
    "户主",
    "姓名",
    "性别",
    "与户主关系",
    "公民身份号码",
    "出生日期",
    "联系电话",
    "小区",
    "楼栋",
    "单元",
    "门牌",
    "特殊人群",
    "备注",
];

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "田", "冉",
];
const GIVEN: [&str; 16] = [
    "建国", "秀英", "志强", "桂芳", "小红", "德明", "春梅", "永福", "丽", "军", "海燕", "文华",
    "国庆", "玉兰", "明", "静",
];

/// A valid ID number of Yanhe county born on `born` (`YYYYMMDD`), sequence `seq` (its parity
/// is the gender: odd male).
fn id_number(born: &str, seq: u32) -> String {
    let first17 = format!("522228{born}{seq:03}");
    let check = id_number_check_char(&first17).expect("17 digits");
    format!("{first17}{check}")
}

/// One resident a row (the cells in [`HEADERS`] order).
type Row = Vec<String>;

/// A roster of `rows` rows: households of 2 or 3 residents (a head, a spouse, a child) in
/// compound 乌江水岸, buildings of 2 units and 6 floors.
fn roster(rows: usize) -> Vec<Row> {
    let mut out = Vec::with_capacity(rows);
    let mut household = 0usize;
    while out.len() < rows {
        let size = if household.is_multiple_of(3) { 3 } else { 2 }.min(rows - out.len());
        let building = household / 24 + 1;
        let unit = household % 24 / 12 + 1;
        let room = (household % 12 / 2 + 1) * 100 + household % 2 + 1;
        let surname = SURNAMES[household % SURNAMES.len()];
        let head = format!("{surname}{}", GIVEN[household % GIVEN.len()]);
        for member in 0..size {
            let n = out.len();
            let (name, relation, year) = match member {
                0 => (head.clone(), "户主", 1950 + household % 40),
                1 => (
                    format!(
                        "{}{}",
                        SURNAMES[(household + 5) % 12],
                        GIVEN[(household + 3) % 16]
                    ),
                    "配偶",
                    1952 + household % 40,
                ),
                _ => (
                    format!("{surname}{}{}", GIVEN[(household + 7) % 16], "儿"),
                    "子女",
                    1985 + household % 30,
                ),
            };
            let born = format!("{year}{:02}{:02}", n % 12 + 1, n % 28 + 1);
            // Odd sequence: male (the head and the child), even: female (the spouse).
            let seq = u32::try_from(n % 400).expect("small") * 2 + u32::from(member != 1);
            let id = id_number(&born, seq);
            let gender = if member == 1 { "女" } else { "男" };
            let special = match n % 50 {
                7 => "低保",
                19 => "独居老人、残疾人",
                _ => "",
            };
            out.push(vec![
                (n + 1).to_string(),
                head.clone(),
                name,
                gender.to_owned(),
                relation.to_owned(),
                id,
                format!("{}-{}-{}", &born[..4], &born[4..6], &born[6..]),
                format!("138{:08}", n),
                "乌江水岸".to_owned(),
                format!("{building}栋"),
                format!("{unit}单元"),
                room.to_string(),
                special.to_owned(),
                String::new(),
            ]);
        }
        household += 1;
    }
    out
}

const NAME: usize = 2;
const GENDER: usize = 3;
const RELATION: usize = 4;
const ID: usize = 5;
const BORN: usize = 6;
const PHONE: usize = 7;
const COMPOUND: usize = 8;
const ROOM: usize = 11;
const SPECIAL: usize = 12;
const NOTES: usize = 13;

/// Thirty kinds of mistakes: each changes one row (given the whole roster, for mistakes that
/// copy another row) and names the problem it must be reported with.
type Mistake = (fn(&mut [Row], usize), &'static str);

fn mistakes() -> Vec<Mistake> {
    vec![
        (|r, i| r[i][ID].truncate(17), "id_number_format"),
        (|r, i| r[i][ID].replace_range(8..9, "A"), "id_number_format"),
        (|r, i| r[i][ID] = "522228800101123".into(), "id_number_old"),
        (
            |r, i| {
                let last = r[i][ID].pop().expect("a check character");
                r[i][ID].push(if last == '0' { '1' } else { '0' });
            },
            "id_number_check_digit",
        ),
        (
            |r, i| {
                r[i][ID] = id_number("19800230", 1);
                r[i][BORN].clear();
            },
            "id_number_birth_date",
        ),
        (
            |r, i| {
                r[i][ID] = id_number("20990101", 1);
                r[i][BORN].clear();
            },
            "id_number_birth_date",
        ),
        (
            |r, i| {
                // The same person as two rows up, in another household.
                let (id, gender, born) = (
                    r[i - 2][ID].clone(),
                    r[i - 2][GENDER].clone(),
                    r[i - 2][BORN].clone(),
                );
                r[i][ID] = id;
                r[i][GENDER] = gender;
                r[i][BORN] = born;
            },
            "duplicate_id_number",
        ),
        (|r, i| r[i][NAME].clear(), "name_missing"),
        (|r, i| r[i][NAME] = "张3".into(), "name_has_digits"),
        (|r, i| r[i][NAME] = "长".repeat(51), "name_too_long"),
        (
            |r, i| {
                r[i][COMPOUND].clear();
                r[i][9].clear();
                r[i][10].clear();
                r[i][ROOM].clear();
            },
            "address_missing",
        ),
        (|r, i| r[i][ROOM].clear(), "room_missing"),
        (|r, i| r[i][COMPOUND].clear(), "compound_missing"),
        (|r, i| r[i][PHONE] = "1380013800".into(), "phone_invalid"),
        (|r, i| r[i][PHONE] = "138abc00000".into(), "phone_invalid"),
        (|r, i| r[i][GENDER] = "未知".into(), "gender_unknown"),
        (
            |r, i| {
                let flipped = if r[i][GENDER] == "男" { "女" } else { "男" };
                r[i][GENDER] = flipped.into();
            },
            "gender_mismatch",
        ),
        (
            |r, i| {
                r[i][GENDER].clear();
                r[i][ID].clear();
            },
            "gender_missing",
        ),
        (
            |r, i| r[i][BORN] = "1980-13-01".into(),
            "birth_date_invalid",
        ),
        (
            |r, i| {
                r[i][BORN] = "2099-01-01".into();
                r[i][ID].clear();
            },
            "birth_date_future",
        ),
        (
            |r, i| {
                let year: i32 = r[i][BORN][..4].parse().expect("a year");
                let rest = r[i][BORN][4..].to_owned();
                r[i][BORN] = format!("{}{rest}", year - 1);
            },
            "birth_date_mismatch",
        ),
        (|r, i| r[i][RELATION].clear(), "relation_missing"),
        (|r, i| r[i][RELATION] = "邻居".into(), "relation_unknown"),
        (
            |r, i| {
                // A second row named as the head and marked 户主, with its own ID number.
                r[i][NAME] = r[i][1].clone();
                r[i][RELATION] = "户主".into();
            },
            "two_heads",
        ),
        (|r, i| r[i][RELATION] = "户主".into(), "head_name_mismatch"),
        (
            |r, i| {
                // The same name as the row above, in the same household, without ID number.
                r[i][NAME] = r[i - 1][NAME].clone();
                r[i][ID].clear();
            },
            "duplicate_name",
        ),
        (
            |r, i| r[i][SPECIAL] = "贫困户".into(),
            "special_group_unknown",
        ),
        (|r, i| r[i][NOTES] = "备".repeat(2001), "notes_too_long"),
        (|r, i| r[i][COMPOUND] = "院".repeat(101), "address_too_long"),
        (
            |r, i| r[i][ID] = "５２２２２８１９８００１０１００１X".into(),
            "id_number_format",
        ),
    ]
}

/// The roster with one mistake on the second row of every 12th household from the fourth on
/// (never a head, so each household keeps a valid row): the file and, by row number in the
/// file, the problem each mistake must be reported with.
fn roster_with_mistakes() -> (Vec<Row>, BTreeMap<u32, &'static str>) {
    let mut rows = roster(1000);
    // The rows that are a household's second member.
    let seconds: Vec<usize> = (1..rows.len())
        .filter(|&i| rows[i][RELATION] == "配偶")
        .collect();
    let mut expected = BTreeMap::new();
    for (k, (mistake, code)) in mistakes().into_iter().enumerate() {
        let i = seconds[3 + k * 12];
        mistake(&mut rows, i);
        // The header is row 1.
        expected.insert(u32::try_from(i + 2).expect("small"), code);
    }
    (rows, expected)
}

fn csv_bytes(headers: &[&str], rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(headers)?;
    for r in rows {
        w.write_record(r)?;
    }
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend(w.into_inner()?);
    Ok(out)
}

fn xlsx_bytes(headers: &[&str], rows: &[Row]) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "和平街道户籍花名册")?;
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(1, u16::try_from(c)?, *h)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (u32::try_from(r + 2)?, u16::try_from(c)?);
            // Row numbers as numbers, the rest as text, as offices type them.
            match cell.parse::<f64>() {
                Ok(n) if c == 0 => sheet.write_number(r, c, n)?,
                _ => sheet.write_string(r, c, cell)?,
            };
        }
    }
    Ok(book.save_to_buffer()?)
}

/// Posts a roster and waits for its job to finish: the status of the POST and the finished
/// job (or the POST's error body).
async fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Value)> {
    let response = app
        .http
        .post(app.url(&format!("/v1/imports/households?{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let started: Value = response.json().await?;
    if status != 202 {
        return Ok((status, started));
    }
    let id = started["id"].as_str().context("a job id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (code, job) = app
            .get_json(&format!("/v1/imports/{id}"), Some(token))
            .await?;
        ensure!(code == 200, "GET /v1/imports/{id}: {code} {job}");
        if job["state"] != "running" {
            return Ok((status, job));
        }
        ensure!(
            Instant::now() < deadline,
            "the import did not finish: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn count(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

async fn household_total(app: &TestApp, token: &str, grid: &str) -> anyhow::Result<u64> {
    let (code, list) = app
        .get_json(
            &format!("/v1/households?grid={grid}&per_page=1"),
            Some(token),
        )
        .await?;
    ensure!(code == 200, "{code} {list}");
    list["total"].as_u64().context("total")
}

/// Cells of the first sheet named `name` of a workbook, as text.
fn sheet(bytes: &[u8], name: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec()))?;
    let range = book.worksheet_range(name)?;
    Ok(range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => format!("{f:.0}"),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect())
}

async fn a_thousand_rows_with_thirty_kinds_of_mistakes_are_reported_then_imported_once(
    app: TestApp,
) -> anyhow::Result<()> {
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let token = app.login(&sup).await?.access_token;
    let (rows, expected) = roster_with_mistakes();
    assert_eq!(expected.len(), 30);
    let households: std::collections::BTreeSet<(String, String)> = roster(1000)
        .iter()
        .map(|r| (r[9].clone(), format!("{}{}", r[10], r[ROOM])))
        .collect();
    let file = xlsx_bytes(&HEADERS, &rows)?;
    // The XLSX has a title row above the header: the header is row 2, the first person row 3.
    let expected_xlsx: BTreeMap<u32, &str> = expected.iter().map(|(r, c)| (r + 1, *c)).collect();

    // All or nothing: refused, nothing stored, every mistake reported with its reason.
    let before = app.change_count().await?;
    let (status, job) = import(&app, &token, "grid=ca-1", XLSX, file.clone()).await?;
    assert_eq!(status, 202);
    assert_eq!(job["state"], "refused", "{job}");
    assert_eq!(job["error"]["code"], "invalid_rows");
    let message = job["error"]["message"].as_str().context("a message")?;
    assert!(
        message.starts_with("30 of 1000 rows are invalid"),
        "{message}"
    );
    let summary = &job["summary"];
    assert_eq!(count(summary, "rows"), 1000);
    assert_eq!(count(summary, "invalid_rows"), 30);
    assert_eq!(summary["written"], false);
    let mut reported: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for p in summary["problems"].as_array().context("problems")? {
        let row = u32::try_from(p["row"].as_u64().context("row")?)?;
        reported
            .entry(row)
            .or_default()
            .push(p["problem"].as_str().context("problem")?.to_owned());
    }
    assert_eq!(
        reported.keys().collect::<Vec<_>>(),
        expected_xlsx.keys().collect::<Vec<_>>(),
        "exactly the rows with mistakes are reported"
    );
    for (row, code) in &expected_xlsx {
        assert!(
            reported[row].iter().any(|c| c == code),
            "row {row}: expected {code}, reported {:?}",
            reported[row]
        );
    }
    assert_eq!(
        app.change_count().await?,
        before,
        "a refused file stores nothing"
    );
    assert_eq!(household_total(&app, &token, "ca-1").await?, 0);

    // The report: every problem with its reason in Chinese, as the vocabulary names it.
    let (_, vocabulary) = app.get_json("/v1/vocabulary", Some(&token)).await?;
    let labels: BTreeMap<String, String> = vocabulary
        .as_array()
        .context("the vocabulary's groups")?
        .iter()
        .find(|g| g["name"] == "import_problem")
        .context("the import_problem group")?["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap_or_default().to_owned(),
                e["zh"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let id = job["id"].as_str().context("id")?;
    let report = app
        .http
        .get(app.url(&format!("/v1/imports/{id}/report.xlsx")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(report.status().as_u16(), 200);
    let problems = sheet(&report.bytes().await?, "问题")?;
    assert_eq!(problems[0][..4], ["行号", "列", "问题", "Problem"]);
    for (row, code) in &expected_xlsx {
        let label = &labels[*code];
        assert!(
            problems
                .iter()
                .any(|r| r[0] == row.to_string() && &r[2] == label),
            "row {row}: the report names {label}"
        );
    }
    // The report repeats the rows' ID numbers: handing it out is in the audit log.
    let admin = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin_token = app.login(&admin).await?.access_token;
    let (status, log) = app
        .get_json("/v1/admin/audit?action=export", Some(&admin_token))
        .await?;
    assert_eq!(status, 200, "{log}");
    assert!(
        log["items"].as_array().is_some_and(|items| items
            .iter()
            .any(|i| i["detail"]["list"] == "import_report" && i["detail"]["import"] == id)),
        "the report's download is audited: {log}"
    );

    // Partial: the 970 valid rows are written, the 30 reported.
    let (_, job) = import(&app, &token, "grid=ca-1&partial=true", XLSX, file.clone()).await?;
    assert_eq!(job["state"], "done", "{job}");
    let summary = &job["summary"];
    assert_eq!(summary["written"], true);
    assert_eq!(count(summary, "invalid_rows"), 30);
    assert_eq!(
        count(summary, "households_created") as usize,
        households.len()
    );
    assert_eq!(count(summary, "residents_created"), 970);
    assert_eq!(
        count(summary, "residents_updated"),
        0,
        "new residents are not updated ones"
    );
    assert_eq!(
        household_total(&app, &token, "ca-1").await? as usize,
        households.len()
    );
    let written = app.change_count().await?;
    assert!(written > before);

    // The grid worker's phone receives every household and its private document.
    let worker = app.user("w1", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&worker).await?;
    phone.sync(&app).await?;
    assert_eq!(phone.replica.doc_ids().len(), households.len() * 2);

    // The same file again changes nothing: no change at all is written.
    let (_, job) = import(&app, &token, "grid=ca-1&partial=true", XLSX, file).await?;
    let summary = &job["summary"];
    assert_eq!(count(summary, "households_created"), 0);
    assert_eq!(count(summary, "households_updated"), 0);
    assert_eq!(
        count(summary, "households_unchanged") as usize,
        households.len()
    );
    assert_eq!(
        app.change_count().await?,
        written,
        "a second import writes nothing"
    );

    // The corrected rows, as CSV: only they are added, to their households.
    let (mut fixed, _) = roster_with_mistakes();
    let clean = roster(1000);
    for row in expected.keys() {
        let i = *row as usize - 2;
        fixed[i].clone_from(&clean[i]);
    }
    let (_, job) = import(&app, &token, "grid=ca-1", CSV, csv_bytes(&HEADERS, &fixed)?).await?;
    assert_eq!(job["state"], "done", "{job}");
    let summary = &job["summary"];
    assert_eq!(count(summary, "invalid_rows"), 0);
    assert_eq!(count(summary, "households_created"), 0);
    assert_eq!(count(summary, "residents_created"), 30);
    assert_eq!(count(summary, "residents_updated"), 0);
    assert_eq!(
        household_total(&app, &token, "ca-1").await? as usize,
        households.len()
    );

    // The import is audited (counts only).
    let rows_audited = gridbook_server::audit::query(
        app.db(),
        &gridbook_server::audit::AuditFilter {
            action: Some(gridbook_server::audit::AuditAction::HouseholdImport),
            ..Default::default()
        },
        1,
        50,
    )
    .await?;
    assert_eq!(rows_audited.1, 4);
    Ok(())
}

async fn a_dry_run_and_a_refused_file_store_nothing(app: TestApp) -> anyhow::Result<()> {
    let worker = app.user("w1", Role::GridWorker, app.grid_a()).await?;
    let token = app.login(&worker).await?.access_token;
    let rows = roster(40);
    let before = app.change_count().await?;

    let (_, job) = import(
        &app,
        &token,
        "grid=ca-1&dry_run=true",
        CSV,
        csv_bytes(&HEADERS, &rows)?,
    )
    .await?;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["summary"]["dry_run"], true);
    assert_eq!(job["summary"]["written"], false);
    assert!(count(&job["summary"], "households_created") > 0);
    assert_eq!(
        app.change_count().await?,
        before,
        "a dry run writes nothing"
    );
    assert_eq!(household_total(&app, &token, "ca-1").await?, 0);

    // One bad row among 40: all or nothing refuses the whole file.
    let mut bad = rows.clone();
    bad[17][ID].truncate(10);
    let (_, job) = import(&app, &token, "grid=ca-1", CSV, csv_bytes(&HEADERS, &bad)?).await?;
    assert_eq!(job["state"], "refused", "{job}");
    assert_eq!(job["error"]["code"], "invalid_rows");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("1 of 40 rows are invalid"),
        "{job}"
    );
    assert_eq!(
        app.change_count().await?,
        before,
        "a refused file writes nothing"
    );
    assert_eq!(household_total(&app, &token, "ca-1").await?, 0);
    Ok(())
}

async fn another_header_layout_imports_through_a_mapping(app: TestApp) -> anyhow::Result<()> {
    let sup = app
        .user("street", Role::StreetSupervisor, app.grid_b())
        .await?;
    let token = app.login(&sup).await?.access_token;
    // Another office's layout: the whole address in one column, other words for the columns,
    // saved by Excel as GBK CSV.
    let headers = [
        "住户姓名",
        "证件",
        "手机",
        "家庭关系",
        "男女",
        "住所",
        "人员类别",
    ];
    let mut text = headers.join(",");
    text.push('\n');
    let people = [
        (
            "田德明",
            id_number("19560301", 11),
            "13907851234",
            "户主",
            "男",
            "乌江水岸2栋1单元301室",
            "独居老人",
        ),
        (
            "冉春梅",
            id_number("19600512", 22),
            "",
            "配偶",
            "女",
            "乌江水岸2栋1单元301室",
            "",
        ),
        (
            "田小红",
            id_number("19900101", 2),
            "0856-2221234",
            "女儿",
            "女",
            "乌江水岸2栋1单元301室",
            "",
        ),
        (
            "杨永福",
            id_number("19700707", 33),
            "13800000001",
            "户主",
            "男",
            "丁字口小区3号楼102",
            "低保、残疾人",
        ),
    ];
    for p in &people {
        text.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            p.0, p.1, p.2, p.3, p.4, p.5, p.6
        ));
    }
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let mapping = serde_json::json!({
        "住户姓名": "name", "证件": "id_number", "手机": "phone", "家庭关系": "relation",
        "男女": "gender", "住所": "address", "人员类别": "special_groups",
    })
    .to_string();
    let query = format!("grid=cb-1&mapping={}", urlencode(&mapping));

    // Without the mapping, the header is not recognised.
    let (status, body) = import(&app, &token, "grid=cb-1", CSV, gbk.to_vec()).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "no_header");

    let (_, job) = import(&app, &token, &query, CSV, gbk.to_vec()).await?;
    assert_eq!(job["state"], "done", "{job}");
    let summary = &job["summary"];
    assert_eq!(count(summary, "households_created"), 2);
    assert_eq!(count(summary, "residents_created"), 4);
    let columns = summary["columns"].as_array().context("columns")?;
    assert_eq!(columns[5]["field"], "address");

    // The households as the list shows them, addresses split into their parts.
    let (_, list) = app
        .get_json("/v1/households?grid=cb-1", Some(&token))
        .await?;
    let mut found: Vec<Address> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|h| Address {
            compound: h["address"]["compound"].as_str().unwrap_or_default().into(),
            building: h["address"]["building"].as_str().unwrap_or_default().into(),
            unit: h["address"]["unit"].as_str().unwrap_or_default().into(),
            room: h["address"]["room"].as_str().unwrap_or_default().into(),
        })
        .collect();
    found.sort_by_key(Address::sort_key);
    let written: Vec<String> = found.iter().map(Address::to_chinese).collect();
    assert_eq!(written, ["丁字口小区3栋102室", "乌江水岸2栋1单元301室"]);
    let groups: Vec<&str> = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|h| h["special_groups"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for g in ["elderly_alone", "dibao", "disabled"] {
        assert!(groups.contains(&g), "{g} in {groups:?}");
    }
    Ok(())
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn the_household_export_imports_back(app: TestApp) -> anyhow::Result<()> {
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let token = app.login(&sup).await?.access_token;
    let rows = roster(60);
    let (_, job) = import(&app, &token, "grid=ca-1", CSV, csv_bytes(&HEADERS, &rows)?).await?;
    assert_eq!(job["state"], "done", "{job}");
    let households = count(&job["summary"], "households_created");
    let written = app.change_count().await?;

    for (format, content_type) in [("csv", CSV), ("xlsx", XLSX)] {
        let export = app
            .http
            .get(app.url(&format!("/v1/exports/households.{format}?grid=ca-1")))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(export.status().as_u16(), 200);
        let bytes = export.bytes().await?.to_vec();
        let (_, job) = import(&app, &token, "grid=ca-1", content_type, bytes).await?;
        assert_eq!(job["state"], "done", "{format}: {job}");
        let summary = &job["summary"];
        assert_eq!(
            count(summary, "households_unchanged"),
            households,
            "{format}"
        );
        assert_eq!(count(summary, "households_updated"), 0, "{format}");
        assert_eq!(
            app.change_count().await?,
            written,
            "{format}: nothing changes"
        );
    }

    // Edited in a spreadsheet: one household's room corrected and a tag added.
    let export = app
        .http
        .get(app.url("/v1/exports/households.csv?grid=ca-1"))
        .bearer_auth(&token)
        .send()
        .await?;
    let text = export.text().await?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut table: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()?;
    let header = table[0].clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let edited_id = table[3][col("编号")].clone();
    table[3][col("房号")] = "9901".into();
    table[3][col("标签")] = "出租户".into();
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &table {
        w.write_record(r)?;
    }
    let (_, job) = import(&app, &token, "grid=ca-1", CSV, w.into_inner()?).await?;
    assert_eq!(job["state"], "done", "{job}");
    let summary = &job["summary"];
    assert_eq!(count(summary, "households_updated"), 1, "{summary}");
    assert_eq!(count(summary, "households_unchanged"), households - 1);
    let (_, record) = app
        .get_json(&format!("/v1/records/{edited_id}"), Some(&token))
        .await?;
    let record = &record["record"];
    assert_eq!(record["address"]["room"], "9901", "{record}");
    assert_eq!(record["tags"], serde_json::json!(["rental"]));
    Ok(())
}

async fn only_supervisors_and_grid_workers_import_within_their_scope(
    app: TestApp,
) -> anyhow::Result<()> {
    let file = csv_bytes(&HEADERS, &roster(4))?;
    let liaison = app
        .user_in_group("l1", Role::Liaison, app.grid_a(), Some("ca-1-g1".parse()?))
        .await?;
    let department = app.department_user("d1", "sfs", "司法所").await?;
    let other = app
        .user("supb", Role::CommunitySupervisor, app.grid_b())
        .await?;
    let worker = app.user("w1", Role::GridWorker, app.grid_a()).await?;
    for (user, grid) in [
        (&liaison, "ca-1"),
        (&department, "ca-1"),
        (&other, "ca-1"),
        (&worker, "ca-2"),
    ] {
        let token = app.login(user).await?.access_token;
        let (status, body) =
            import(&app, &token, &format!("grid={grid}"), CSV, file.clone()).await?;
        assert_eq!(status, 403, "{} into {grid}: {body}", user.login);
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let token = app.login(&worker).await?.access_token;
    // Not a roster at all, and a CSV without a roster's header: well-formed requests whose
    // file cannot be imported, so 422 (they were 400 `malformed`-like refusals, which
    // schemathesis counted as valid requests refused: the document cannot describe a roster).
    let (status, body) = import(
        &app,
        &token,
        "grid=ca-1",
        "image/png",
        vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13],
    )
    .await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("not_a_roster")),
        "{body}"
    );
    let (status, body) = import(&app, &token, "grid=ca-1", CSV, b"a,b,c\n1,2,3\n".to_vec()).await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("no_header")),
        "{body}"
    );
    let (status, body) = import(
        &app,
        &token,
        "grid=ca-1&mapping=%7B%22x%22%3A%22nope%22%7D",
        CSV,
        file.clone(),
    )
    .await?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("bad_mapping")),
        "{body}"
    );
    // Another user's job is not found.
    let (_, job) = import(&app, &token, "grid=ca-1", CSV, file).await?;
    let id = job["id"].as_str().context("id")?;
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let sup_token = app.login(&sup).await?.access_token;
    let (status, _) = app
        .get_json(&format!("/v1/imports/{id}"), Some(&sup_token))
        .await?;
    assert_eq!(status, 404);
    Ok(())
}
