//! A grid worker's day of photos (issue 17): 40 photos of about 3 MB each (4000 × 3000 JPEGs,
//! as a phone camera takes them) attached to the day's visits with the release phone library
//! (downscaled to 1600 px, EXIF dropped) and uploaded by one `sync()` to the real `gridbook
//! serve` release binary, a separate process on the small demo. Measures: the bytes the
//! camera made and the bytes uploaded, the phone's time to attach, the upload's wall time,
//! the server's CPU time, and the server's resident memory sampled every 10 ms during the
//! uploads (flat: the server streams each part to disk and never holds a photo whole). Runs
//! three times, each on a fresh database and store, and prints medians.
//!
//! ```text
//! cargo build --release -p gridbook-server --bin gridbook
//! cargo run --release -p gridbook-mobile-ffi --example photo_bench
//! ```

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gridbook_mobile::{AttachOptions, AttachSource, Phone};
use sync_core::ids::DocId;
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::record::RecordKind;
use sync_core::time::Timestamp;

const RUNS: usize = 3;
const PHOTOS: usize = 40;
/// A shorter day, to show the server's memory does not grow with the photos uploaded.
const FEW: usize = 10;
const STORE_KEY: &str = "5f0c2a9e7d4b13c8a6e2f9d0b7c45a18e3f6d9c2b5a8e1f4c7d0a3b6e9f2c5d8";

/// A camera-like 4000 × 3000 JPEG: smooth light with fine grain, about 3 MB at quality 92.
fn camera_photo(seed: u32) -> anyhow::Result<Vec<u8>> {
    let mut x = 0x2545_F491u32 ^ seed.wrapping_mul(2_654_435_761);
    let picture = image::RgbImage::from_fn(4000, 3000, |px, py| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let grain = (x % 17) as i32 - 8;
        let base = |v: u32, scale: u32| ((v * 255 / scale) as i32 + grain).clamp(0, 255) as u8;
        image::Rgb([
            base((px + seed * 97) % 4000, 4000),
            base(py, 3000),
            base((px / 2 + py / 2 + seed * 31) % 3500, 3500),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92).encode_image(&picture)?;
    Ok(out.into_inner())
}

/// The release `gridbook` beside this example (`target/release/gridbook`).
fn gridbook_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .context("the example runs from target/release/examples")?;
    let binary = release.join("gridbook");
    if !binary.exists() {
        bail!(
            "{} is missing: cargo build --release -p gridbook-server --bin gridbook",
            binary.display()
        );
    }
    Ok(binary)
}

/// CPU seconds (user + system) and resident KiB of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(binary: &Path, dir: &Path) -> anyhow::Result<Server> {
    let database = format!("sqlite://{}", dir.join("gridbook.db").display());
    let status = Command::new(binary)
        .args(["demo", "--small", "--database-url", &database])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("loading the small demo failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(binary)
        .args([
            "serve",
            "--database-url",
            &database,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("GRIDBOOK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the server did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server { child, url })
}

#[derive(Debug, Clone, Copy)]
struct Run {
    camera_bytes: u64,
    uploaded_bytes: u64,
    attach_ms_per_photo: f64,
    upload_wall_s: f64,
    server_cpu_s: f64,
    rss_before_mib: f64,
    rss_peak_mib: f64,
    rss_after_mib: f64,
}

fn run_once(binary: &Path, photos: &[PathBuf], camera_bytes: u64) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let server = start_server(binary, dir.path())?;
    let pid = server.child.id();
    let phone = Phone::open(
        dir.path().join("phone.db").to_string_lossy().into_owned(),
        STORE_KEY.into(),
    )?;
    let account = phone.login(
        server.url.clone(),
        "dzk-01".into(),
        gridbook_server::demo::DEMO_PASSWORD.into(),
        None,
    )?;
    phone.sync()?;
    let households = phone.list(Some(RecordKind::Household), None, false, 1000, 0)?;
    let place = phone.my_place()?;
    let now = Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            .try_into()?,
    );

    // Ten visits of the day, four photos each.
    let started = Instant::now();
    let mut visit_id = String::new();
    for (n, photo) in photos.iter().enumerate() {
        if n % 4 == 0 {
            let household = households
                .get(n / 4)
                .context("a household to visit")?
                .id
                .clone();
            let visit = Visit {
                id: DocId::new(),
                place: place.clone(),
                household,
                worker: account.user_id.clone(),
                at: now,
                method: VisitMethod::DoorToDoor,
                summary: "入户走访，拍摄现场情况".into(),
                opened_cases: Vec::new(),
                attachments: Vec::new(),
            };
            visit_id = visit.id.to_string();
            phone.create_visit(visit)?;
        }
        phone.attach(
            visit_id.clone(),
            AttachSource::Path {
                path: photo.to_string_lossy().into_owned(),
            },
            AttachOptions {
                caption: Some(format!("现场照片 {}", n + 1)),
                location: None,
                stage: None,
                part: None,
                keep_location: false,
            },
        )?;
    }
    let attach_ms_per_photo = started.elapsed().as_secs_f64() * 1000.0 / photos.len() as f64;

    // Back in signal: one sync pushes the visits and uploads the photos.
    let rss_before = rss_kib(pid);
    let cpu_before = cpu_seconds(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let started = Instant::now();
    let summary = phone.sync()?;
    let upload_wall_s = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.join().map_err(|_| anyhow::anyhow!("sampler"))?;
    let server_cpu_s = cpu_seconds(pid) - cpu_before;
    if summary.blobs_pending != 0 || summary.blobs_uploaded as usize != photos.len() {
        bail!("not every photo was uploaded: {summary:?}");
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(Run {
        camera_bytes,
        uploaded_bytes: summary.blob_bytes_sent,
        attach_ms_per_photo,
        upload_wall_s,
        server_cpu_s,
        rss_before_mib: mib(rss_before),
        rss_peak_mib: mib(rss_peak),
        rss_after_mib: mib(rss_kib(pid)),
    })
}

fn median(runs: &[Run], field: impl Fn(&Run) -> f64) -> f64 {
    let mut xs: Vec<f64> = runs.iter().map(field).collect();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let binary = gridbook_binary()?;
    let photos_dir = tempfile::tempdir()?;
    let mut photos = Vec::new();
    let mut camera_bytes = 0;
    let made = Instant::now();
    for n in 0..PHOTOS {
        let bytes = camera_photo(u32::try_from(n)?)?;
        camera_bytes += bytes.len() as u64;
        let path = photos_dir.path().join(format!("IMG_{n:04}.jpg"));
        std::fs::write(&path, bytes)?;
        photos.push(path);
    }
    println!(
        "{PHOTOS} camera photos, {:.1} MB ({:.2} MB each), made in {:.0} s",
        camera_bytes as f64 / 1e6,
        camera_bytes as f64 / 1e6 / PHOTOS as f64,
        made.elapsed().as_secs_f64()
    );
    let few_bytes = photos[..FEW]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()?;
    let mut few = Vec::new();
    let mut runs = Vec::new();
    for n in 0..RUNS {
        let run = run_once(&binary, &photos[..FEW], few_bytes)?;
        println!("run {} with {FEW} photos: {run:?}", n + 1);
        few.push(run);
        let run = run_once(&binary, &photos, camera_bytes)?;
        println!("run {} with {PHOTOS} photos: {run:?}", n + 1);
        runs.push(run);
    }
    println!(
        "  with {FEW} photos: server RSS {:.1} MiB before, {:.1} MiB peak; CPU {:.2} s",
        median(&few, |r| r.rss_before_mib),
        median(&few, |r| r.rss_peak_mib),
        median(&few, |r| r.server_cpu_s)
    );
    println!("medians of {RUNS} runs:");
    println!(
        "  uploaded {:.2} MB of the camera's {:.1} MB ({:.1} %), {:.0} KB per photo",
        median(&runs, |r| r.uploaded_bytes as f64) / 1e6,
        median(&runs, |r| r.camera_bytes as f64) / 1e6,
        100.0 * median(&runs, |r| r.uploaded_bytes as f64 / r.camera_bytes as f64),
        median(&runs, |r| r.uploaded_bytes as f64) / 1e3 / PHOTOS as f64
    );
    println!(
        "  phone: {:.0} ms per photo to attach (downscale, encode, store)",
        median(&runs, |r| r.attach_ms_per_photo)
    );
    println!(
        "  upload: {:.2} s wall, server CPU {:.2} s",
        median(&runs, |r| r.upload_wall_s),
        median(&runs, |r| r.server_cpu_s)
    );
    println!(
        "  server RSS: {:.1} MiB before, {:.1} MiB peak during the uploads, {:.1} MiB after",
        median(&runs, |r| r.rss_before_mib),
        median(&runs, |r| r.rss_peak_mib),
        median(&runs, |r| r.rss_after_mib)
    );
    Ok(())
}
