//! Gzip and zstd bombs before sign-in: many small bodies that inflate to 31 MiB each, sent at
//! once to `POST /v1/auth/login` and `/refresh` of the real `gridbook serve`, get
//! `413 payload_too_large`, the process's peak memory (VmHWM) stays within a few MiB of what it
//! was, and a normal gzip sign-in still works.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::ensure;
use gridbook_tests::Backend;
use gridbook_tests::process::add_street_and_supervisor;
use serde_json::Value;

use crate::{PASSWORD, gzip_best, on, serve, sign_in};

/// Bombs sent at once, and what each inflates to.
const BOMBS: usize = 32;
const INFLATED: usize = 31 * 1024 * 1024;
/// How far the server's peak memory may rise under all the bombs.
const PEAK_GROWTH_KIB: u64 = 48 * 1024;

async fn bombs_before_sign_in(database: String, dir: PathBuf) -> anyhow::Result<()> {
    add_street_and_supervisor(&dir, &database, PASSWORD)?;
    let mut server = serve(&dir, &database).start()?;
    server.wait_ready().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    // Warm up: a plain and a gzip sign-in (argon2 takes its memory once).
    let (status, body) = sign_in(&http, &server.url, false).await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sign_in(&http, &server.url, true).await?;
    assert_eq!(status, 200, "gzip sign-in: {body}");
    let before = server.status_kib("VmHWM")?;

    let gzip = gzip_best(&vec![b' '; INFLATED])?;
    let zstd = zstd_bomb(INFLATED);
    ensure!(gzip.len() < 64 * 1024 && zstd.len() < 4096);
    let mut bombs = Vec::new();
    for i in 0..BOMBS {
        let (path, encoding, body) = match i % 3 {
            0 | 1 => ("/v1/auth/login", "gzip", gzip.clone()),
            _ => ("/v1/auth/refresh", "zstd", zstd.clone()),
        };
        let request = http
            .post(format!("{}{path}", server.url))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body);
        bombs.push(tokio::spawn(async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            anyhow::Ok((status, text))
        }));
    }
    let mut answers = Vec::new();
    for bomb in bombs {
        answers.push(bomb.await??);
    }
    let peak = server.status_kib("VmHWM")?;
    println!(
        "{BOMBS} bombs of {} MiB inflated: peak memory {} → {} MiB",
        INFLATED >> 20,
        before / 1024,
        peak / 1024
    );
    assert!(
        peak <= before + PEAK_GROWTH_KIB,
        "peak memory grew from {before} KiB to {peak} KiB under the bombs"
    );
    for (status, text) in &answers {
        let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        assert_eq!(*status, 413, "{text}");
        assert_eq!(body["error"]["code"], "payload_too_large", "{text}");
    }
    // The server still signs people in, gzip or not.
    let (status, body) = sign_in(&http, &server.url, true).await?;
    assert_eq!(status, 200, "gzip sign-in after the bombs: {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_before_sign_in_get_413_and_memory_stays_bounded_on_sqlite() -> anyhow::Result<()> {
    on(Backend::Sqlite, bombs_before_sign_in).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_before_sign_in_get_413_and_memory_stays_bounded_on_postgres() -> anyhow::Result<()> {
    on(Backend::Postgres, bombs_before_sign_in).await
}

/// A zstd frame of RLE blocks that inflates to `size` spaces, declaring a 128 MiB window
/// (what the decoder may allocate for it); about 4 bytes per 128 KiB.
fn zstd_bomb(size: usize) -> Vec<u8> {
    const BLOCK: usize = 128 * 1024;
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: no content size, not single-segment, no checksum, no
    // dictionary; window descriptor: exponent 17 (2^27 bytes), mantissa 0.
    frame.extend([0x00, 17 << 3]);
    let mut left = size;
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        let last = u32::from(left == 0);
        // Block header: last-block bit, type 1 (RLE), size = repetitions of the one byte.
        let header = last | (1 << 1) | ((n as u32) << 3);
        frame.extend(&header.to_le_bytes()[..3]);
        frame.push(b' ');
    }
    frame
}
