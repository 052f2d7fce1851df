//! Times what a grid worker waits for on the phone, with the release library: the first sync
//! of a new phone pulling its whole grid (a demo grid topped up to 300 households, with its
//! cases, visits, patrols and activities) from the full demo street, opening that (encrypted)
//! store again (as after the app was killed), a sync with nothing new, and a sync of ten edited
//! households. Five runs, each on a fresh store; prints medians.
//!
//! ```text
//! cargo run --release -p gridbook-mobile-ffi --example phone_bench
//! ```

use std::time::{Duration, Instant};

use gridbook_mobile::Phone;
use gridbook_server::app;
use gridbook_server::config::Settings;
use gridbook_server::demo::{self, DemoSize};
use gridbook_server::state::AppState;
use sync_core::models::household::{Address, Household};
use sync_core::record::{RecordKind, Role};
use sync_core::time::Timestamp;

const RUNS: usize = 5;
const FULL_GRID: usize = 300;
/// The stores' key: a raw 256-bit key, as an app keeps in the Keystore or Keychain.
const STORE_KEY: &str = "5f0c2a9e7d4b13c8a6e2f9d0b7c45a18e3f6d9c2b5a8e1f4c7d0a3b6e9f2c5d8";

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("server.db").display());
    let (running, summary) = rt.block_on(async {
        let state = AppState::new(Settings::for_database(url)).await?;
        let now = Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
                .try_into()?,
        );
        let summary = demo::load(&state.db, DemoSize::Full, now, &mut |_| {}).await?;
        anyhow::Ok((app::start(state).await?, summary))
    })?;
    let server = format!("http://{}", running.addr);
    let worker = summary
        .logins
        .iter()
        .find(|l| l.role == Role::GridWorker)
        .ok_or_else(|| anyhow::anyhow!("the demo has no grid worker"))?
        .login
        .clone();

    // Fill the worker's grid up to 300 households (demo grids hold 200-300), as a phone would.
    let setup = Phone::open(
        dir.path().join("setup.db").to_string_lossy().into_owned(),
        STORE_KEY.into(),
    )?;
    setup.login(
        server.clone(),
        worker.clone(),
        demo::DEMO_PASSWORD.into(),
        None,
    )?;
    setup.sync()?;
    let held = setup
        .list(Some(RecordKind::Household), None, false, 1000, 0)?
        .len();
    let place = setup.my_place()?;
    for n in held..FULL_GRID {
        let mut h = Household::new(
            place.clone(),
            Address {
                compound: "乌江水岸".into(),
                building: format!("{}", n / 40 + 1),
                unit: format!("{}", n / 10 % 4 + 1),
                room: format!("{}", 100 + n),
            },
        );
        h.notes = "新登记 registered for the benchmark".into();
        setup.create_household(h)?;
    }
    setup.sync()?;
    drop(setup);

    let (mut first, mut open, mut again, mut edits) = (vec![], vec![], vec![], vec![]);
    let (mut records, mut households, mut store_bytes) = (0, 0, 0);
    for run in 0..RUNS {
        let path = dir.path().join(format!("phone-{run}.db"));
        let path_text = path.to_string_lossy().into_owned();
        let phone = Phone::open(path_text.clone(), STORE_KEY.into())?;
        phone.login(
            server.clone(),
            worker.clone(),
            demo::DEMO_PASSWORD.into(),
            None,
        )?;
        let t = Instant::now();
        let s = phone.sync()?;
        first.push(t.elapsed());
        anyhow::ensure!(s.pending == 0, "first sync left {} pending", s.pending);
        drop(phone);

        let t = Instant::now();
        let phone = Phone::open(path_text, STORE_KEY.into())?;
        open.push(t.elapsed());
        let all = phone.list(None, None, false, 1000, 0)?;
        records = all.len();
        households = all
            .iter()
            .filter(|r| r.kind == RecordKind::Household)
            .count();

        let t = Instant::now();
        phone.sync()?;
        again.push(t.elapsed());

        for row in all
            .iter()
            .filter(|r| r.kind == RecordKind::Household)
            .take(10)
        {
            let mut h = phone.household(row.id.to_string())?;
            h.notes = format!("bench run {run}");
            phone.update_household(h, None)?;
        }
        let t = Instant::now();
        let s = phone.sync()?;
        edits.push(t.elapsed());
        anyhow::ensure!(s.accepted == 10, "accepted {} of 10 edits", s.accepted);
        store_bytes = std::fs::metadata(&path)?.len()
            + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    }
    println!(
        "phone of grid worker `{worker}`: {records} records ({households} households), store {:.1} MiB",
        store_bytes as f64 / 1048576.0
    );
    println!("median of {RUNS} runs, ms:");
    println!("  first sync (whole grid)   {:>8}", ms(median(first)));
    println!("  open the store            {:>8}", ms(median(open)));
    println!("  sync, nothing new         {:>8}", ms(median(again)));
    println!("  sync, 10 edited households{:>8}", ms(median(edits)));
    rt.block_on(running.stop())?;
    Ok(())
}
