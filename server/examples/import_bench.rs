//! Times the household roster import (`gridbook_server::imports`): a roster of 17,000
//! households (the demo street's number; 2 or 3 residents each, every one with an ID number,
//! a phone and a birth date, some in special groups) as a CSV file, imported into one grid of a
//! fresh SQLite database, three times (a fresh database each), then the same file a second time
//! into the last one (which changes nothing). Prints each run and the median.
//!
//! ```text
//! cargo run --release -p gridbook-server --example import_bench [-- HOUSEHOLDS]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridbook_server::config::Settings;
use gridbook_server::imports::{self, FileKind, ImportOptions, Importer, Progress, Roster};
use gridbook_server::state::AppState;
use sync_core::ids::{CommunityId, GridId, StreetId};
use sync_core::validate::id_number_check_char;

const RUNS: usize = 3;

/// A roster of `households` households, as a CSV file with the usual headers.
fn roster(households: usize) -> Vec<u8> {
    let mut out = String::from(
        "序号,户主,姓名,性别,与户主关系,公民身份号码,出生日期,联系电话,小区,楼栋,单元,门牌,特殊人群\n",
    );
    let surnames = [
        "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "田", "冉",
    ];
    let given = [
        "建国", "秀英", "志强", "桂芳", "小红", "德明", "春梅", "永福",
    ];
    let mut n = 0usize;
    for h in 0..households {
        let compound = format!("小区{}", h / 2400 + 1);
        let building = h % 2400 / 48 + 1;
        let unit = h % 48 / 24 + 1;
        let room = (h % 24 / 4 + 1) * 100 + h % 4 + 1;
        let head = format!("{}{}", surnames[h % 12], given[h % 8]);
        let size = if h % 2 == 0 { 3 } else { 2 };
        for m in 0..size {
            n += 1;
            let (name, relation) = match m {
                0 => (head.clone(), "户主"),
                1 => (
                    format!("{}{}", surnames[(h + 5) % 12], given[(h + 3) % 8]),
                    "配偶",
                ),
                _ => (format!("{head}儿"), "子女"),
            };
            // Unique ID numbers: a birth day per thousand rows, the row's sequence within it
            // (odd: male).
            let born = chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default()
                + chrono::Days::new(u64::try_from(n / 1000 * 300).unwrap_or(0));
            let born = born.format("%Y%m%d").to_string();
            let seq = n % 1000;
            let first17 = format!("522228{born}{seq:03}");
            let id = format!("{first17}{}", id_number_check_char(&first17).unwrap_or('0'));
            let gender = if seq % 2 == 1 { "男" } else { "女" };
            let special = if n.is_multiple_of(40) { "低保" } else { "" };
            out.push_str(&format!(
                "{n},{head},{name},{gender},{relation},{id},{}-{}-{},138{:08},{compound},{building},{unit},{room},{special}\n",
                &born[..4],
                &born[4..6],
                &born[6..],
                n % 100_000_000
            ));
        }
    }
    out.into_bytes()
}

async fn fresh_app(dir: &std::path::Path, run: usize) -> anyhow::Result<AppState> {
    let url = format!("sqlite://{}", dir.join(format!("import{run}.db")).display());
    let app = AppState::new(Settings::for_database(url)).await?;
    let street: StreetId = "hp".parse()?;
    let community: CommunityId = "hp-dzk".parse()?;
    let grid: GridId = "hp-dzk-01".parse()?;
    gridbook_server::db::places::upsert_street(&app.db, &street, "和平街道").await?;
    gridbook_server::db::places::upsert_community(&app.db, &community, &street, "丁字口社区")
        .await?;
    gridbook_server::db::places::upsert_grid(&app.db, &grid, &community, "丁字口第一网格").await?;
    Ok(app)
}

async fn import_once(app: &AppState, file: &[u8]) -> anyhow::Result<(Duration, String)> {
    let options = ImportOptions {
        grid: "hp-dzk-01".parse()?,
        dry_run: false,
        partial: false,
        mapping: Default::default(),
    };
    let importer = Importer {
        user: None,
        login: "bench".into(),
        device: None,
        address: None,
    };
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    // Where the time goes: when each phase started.
    let watcher = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let (phase, _, _) = progress.get();
                if seen.last().map(|(p, _)| *p) != Some(phase) {
                    seen.push((phase, started.elapsed()));
                }
                if phase == imports::Phase::Done {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let roster = Roster::read(
        FileKind::detect(Some("roster.csv"), file),
        file,
        &options.mapping,
    )
    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let outcome = imports::run(app, &importer, roster, &options, &progress)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let took = started.elapsed();
    let phases = watcher.await?;
    let s = &outcome.summary;
    anyhow::ensure!(s.invalid_rows == 0, "{} invalid rows", s.invalid_rows);
    Ok((
        took,
        format!(
            "{} rows: {} households created, {} updated, {} unchanged; phases began at {}",
            s.rows,
            s.households_created,
            s.households_updated,
            s.households_unchanged,
            phases
                .iter()
                .map(|(p, at)| format!("{p:?} {:.1} s", at.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let households: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(17_000);
    let file = roster(households);
    println!(
        "roster: {households} households, {:.1} MB CSV",
        file.len() as f64 / 1e6
    );
    let dir = tempfile::tempdir()?;
    let mut firsts = Vec::new();
    let mut last = None;
    for run in 0..RUNS {
        let app = fresh_app(dir.path(), run).await?;
        let (took, what) = import_once(&app, &file).await?;
        println!("run {}: {:.1} s ({what})", run + 1, took.as_secs_f64());
        firsts.push(took);
        last = Some(app);
    }
    println!(
        "first import, median of {RUNS}: {:.1} s",
        median(firsts).as_secs_f64()
    );
    if let Some(app) = last {
        let (took, what) = import_once(&app, &file).await?;
        println!("the same file again: {:.1} s ({what})", took.as_secs_f64());
    }
    Ok(())
}
