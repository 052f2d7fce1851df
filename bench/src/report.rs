//! Results: one row per system, backend, workload and run; medians and ratios; the table
//! and the JSON file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// What one run of one workload measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    /// `gridbook`, `automerge-repo`, `samod`, or `automerge (in-process)` for the floor.
    pub system: String,
    /// `sqlite`, `postgres`, `files` (the peers' file storage) or `-`.
    pub backend: String,
    /// `w1` ... `w5`.
    pub workload: String,
    /// Run number (from 1).
    pub run: usize,
    /// Wall time of the timed phase, ms.
    pub wall_ms: f64,
    /// CPU time of the server process in the timed phase, s.
    pub server_cpu_s: f64,
    /// CPU time of the database's processes (PostgreSQL) in the timed phase, s.
    pub db_cpu_s: f64,
    /// HTTP round trips per device: the most any device made.
    pub round_trips_max: u32,
    /// HTTP round trips per device: the median.
    pub round_trips_median: f64,
    /// Bytes client to server on the wire (all devices).
    pub bytes_up: u64,
    /// Bytes server to client on the wire (all devices).
    pub bytes_down: u64,
    /// Devices in the workload.
    pub devices: usize,
    /// Server peak resident set size, bytes (over the process's life up to the end of the run).
    pub peak_rss: u64,
    /// Bytes written to storage by the server (and the database's processes) in the phase.
    pub disk_write_bytes: u64,
    /// Errors (failed requests, refusals, crashes).
    pub errors: u64,
    /// (device, document) pairs at the expected heads.
    pub converged_pairs: usize,
    /// All (device, document) pairs.
    pub total_pairs: usize,
    /// Round-trip latency p50, ms (W5).
    pub p50_ms: Option<f64>,
    /// Round-trip latency p99, ms (W5).
    pub p99_ms: Option<f64>,
    /// Round trips completed (W5).
    pub requests: Option<u64>,
    /// Free notes (why a run did not count, what was seen).
    pub note: String,
}

impl Row {
    /// Whether every pair converged.
    pub fn converged(&self) -> bool {
        self.total_pairs > 0 && self.converged_pairs == self.total_pairs
    }

    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
}

/// Median of `values` (0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The `q` quantile (0..=1) of sorted `values`, nearest rank (0 when empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Medians of a group of runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// System.
    pub system: String,
    /// Backend.
    pub backend: String,
    /// Workload.
    pub workload: String,
    /// Runs in the group.
    pub runs: usize,
    /// Runs where every pair converged.
    pub converged_runs: usize,
    /// Converged pairs / all pairs, over all runs.
    pub converged_fraction: f64,
    /// Medians (of the converged runs) from here on: wall time, ms.
    pub wall_ms: f64,
    /// Median server CPU, s.
    pub server_cpu_s: f64,
    /// Median database CPU, s.
    pub db_cpu_s: f64,
    /// Median of the per-run maximum round trips per device.
    pub round_trips_max: f64,
    /// Median bytes up + down.
    pub bytes: f64,
    /// Median peak RSS, bytes.
    pub peak_rss: f64,
    /// Median disk bytes written.
    pub disk_write_bytes: f64,
    /// Errors, summed.
    pub errors: u64,
    /// Median p50 latency, ms.
    pub p50_ms: Option<f64>,
    /// Median p99 latency, ms.
    pub p99_ms: Option<f64>,
    /// Bytes per device (median bytes / devices).
    pub bytes_per_device: f64,
}

/// Groups rows by (system, backend, workload) and takes medians.
pub fn summarize(rows: &[Row]) -> Vec<Summary> {
    let mut groups: BTreeMap<(String, String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.workload.clone(), r.system.clone(), r.backend.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((workload, system, backend), all)| {
            // A run counts only if it converged: medians are over those (over all runs when
            // none did, so the table still shows what happened).
            let converged: Vec<&Row> = all.iter().copied().filter(|r| r.converged()).collect();
            let rows = if converged.is_empty() {
                all.clone()
            } else {
                converged
            };
            let pick = |f: &dyn Fn(&Row) -> f64| {
                median(&mut rows.iter().map(|r| f(r)).collect::<Vec<_>>())
            };
            let opt = |f: &dyn Fn(&Row) -> Option<f64>| {
                let mut v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
                (!v.is_empty()).then(|| median(&mut v))
            };
            let pairs: usize = all.iter().map(|r| r.total_pairs).sum();
            let converged_pairs: usize = all.iter().map(|r| r.converged_pairs).sum();
            let bytes = pick(&|r| r.bytes() as f64);
            let devices = rows.first().map_or(1, |r| r.devices.max(1));
            Summary {
                runs: all.len(),
                converged_runs: all.iter().filter(|r| r.converged()).count(),
                converged_fraction: if pairs == 0 {
                    0.0
                } else {
                    converged_pairs as f64 / pairs as f64
                },
                wall_ms: pick(&|r| r.wall_ms),
                server_cpu_s: pick(&|r| r.server_cpu_s),
                db_cpu_s: pick(&|r| r.db_cpu_s),
                round_trips_max: pick(&|r| f64::from(r.round_trips_max)),
                bytes,
                bytes_per_device: bytes / devices as f64,
                peak_rss: pick(&|r| r.peak_rss as f64),
                disk_write_bytes: pick(&|r| r.disk_write_bytes as f64),
                errors: all.iter().map(|r| r.errors).sum(),
                p50_ms: opt(&|r| r.p50_ms),
                p99_ms: opt(&|r| r.p99_ms),
                system,
                backend,
                workload,
            }
        })
        .collect()
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

fn size(bytes: f64) -> String {
    if bytes >= 1_000_000.0 {
        format!("{:.2} MB", bytes / 1e6)
    } else if bytes >= 1_000.0 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{bytes:.0} B")
    }
}

/// The summary as a Markdown table.
pub fn table(summaries: &[Summary]) -> String {
    let mut out = String::new();
    out.push_str(
        "| workload | system | backend | converged | wall | server CPU | DB CPU | round trips (max/device) | wire bytes | per device | peak RSS | disk written | errors | p50 / p99 |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for s in summaries {
        let latency = match (s.p50_ms, s.p99_ms) {
            (Some(a), Some(b)) if b < 100.0 => format!("{a:.1} / {b:.1} ms"),
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0} ms"),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} runs ({:.3}) | {:.0} ms | {:.2} s | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.workload,
            s.system,
            s.backend,
            s.converged_runs,
            s.runs,
            s.converged_fraction,
            s.wall_ms,
            s.server_cpu_s,
            if s.db_cpu_s > 0.0 {
                format!("{:.2} s", s.db_cpu_s)
            } else {
                "-".to_owned()
            },
            if s.round_trips_max > 0.0 {
                format!("{:.0}", s.round_trips_max)
            } else {
                "-".to_owned()
            },
            size(s.bytes),
            size(s.bytes_per_device),
            if s.peak_rss > 0.0 {
                mib(s.peak_rss)
            } else {
                "-".to_owned()
            },
            if s.disk_write_bytes > 0.0 {
                size(s.disk_write_bytes)
            } else {
                "-".to_owned()
            },
            s.errors,
            latency,
        );
    }
    out
}
