//! The operators' metrics (`GET /metrics`): scraped with the metrics token while phones sync,
//! one is refused and another long-polls; checked by Prometheus's own `promtool check
//! metrics` when it is installed (Debian's `prometheus`; required under `CI=true`); hidden
//! without a token, and open on a separate metrics address.

use std::time::Duration;

use gridbook_tests::TestApp;
use sync_core::record::Role;

use crate::support::{household, now, on_both_backends_with};

const TOKEN: &str = "metrics-token-for-the-test-0123456789";

fn with_token(settings: &mut gridbook_server::config::Settings) {
    settings.metrics_token = Some(TOKEN.to_owned());
}

fn on_own_address(settings: &mut gridbook_server::config::Settings) {
    settings.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
}

on_both_backends_with!(with_token => operators_scrape_the_figures_with_their_token);
on_both_backends_with!(on_own_address => without_a_token_the_figures_are_only_on_their_own_address);

/// `GET url` with an optional bearer token: status, content type and text.
async fn scrape(url: &str, token: Option<&str>) -> anyhow::Result<(u16, String, String)> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((status, content_type, response.text().await?))
}

/// The value of the sample `series` (a name with its labels, exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Runs `promtool check metrics` on `text`. False when promtool is not installed (outside CI).
fn promtool_accepts(text: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::ensure!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool (Debian's prometheus) is required under CI=true"
            );
            eprintln!("note: promtool is not installed; the exposition format is not linted");
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "promtool check metrics failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(true)
}

async fn operators_scrape_the_figures_with_their_token(app: TestApp) -> anyhow::Result<()> {
    let url = app.url("/metrics");
    // No token, a wrong one, a phone's token: 401 in the JSON error shape.
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let mut phone = app.phone(&li).await?;
    for token in [
        None,
        Some("wrong"),
        Some(phone.session.access_token.as_str()),
    ] {
        let (status, content_type, body) = scrape(&url, token).await?;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert!(body.contains("unauthorized"), "{body}");
    }

    // A household of the worker's grid is accepted, one of another grid refused.
    phone
        .replica
        .create(&household(&app.grid_a(), "1-101"), now())?;
    phone
        .replica
        .create(&household(&app.grid_b(), "9-901"), now())?;
    phone.sync(&app).await?;

    // A supervisor's phone long-polls while the figures are read.
    let sup = app
        .user("sup", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let mut watcher = app.phone(&sup).await?;
    watcher.sync(&app).await?;
    let mut request = watcher.replica.build_request();
    request.wait_ms = Some(20_000);
    let poll = {
        let token = watcher.session.access_token.clone();
        let http = app.http.clone();
        let sync_url = app.url("/v1/sync");
        tokio::spawn(async move {
            http.post(sync_url)
                .bearer_auth(token)
                .json(&request)
                .send()
                .await
        })
    };
    let mut text = String::new();
    for _ in 0..100 {
        let (status, content_type, body) = scrape(&url, Some(TOKEN)).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        text = body;
        if sample(&text, "gridbook_long_polls_waiting") == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&text, "gridbook_long_polls_waiting"),
        Some(1.0),
        "{text}"
    );
    // The worker's next write answers the long poll.
    phone
        .replica
        .create(&household(&app.grid_a(), "1-102"), now())?;
    phone.sync(&app).await?;
    let answered = tokio::time::timeout(Duration::from_secs(10), poll).await???;
    assert_eq!(answered.status(), 200);
    // Made-up methods (any token is a valid HTTP method) must not each add a series: a
    // client could otherwise grow the metrics without bound.
    for n in 0..20 {
        let method = reqwest::Method::from_bytes(format!("GBX{n}").as_bytes())?;
        app.http.request(method, app.url("/v1/sync")).send().await?;
    }

    let (_, _, text) = scrape(&url, Some(TOKEN)).await?;
    assert!(!text.contains("GBX"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("gridbook_http_requests_total{method=\"other\"")),
        "{text}"
    );
    assert_eq!(sample(&text, "gridbook_long_polls_waiting"), Some(0.0));
    let syncs = sample(
        &text,
        "gridbook_http_requests_total{method=\"POST\",route=\"/v1/sync\",status=\"200\"}",
    )
    .unwrap_or(0.0);
    assert!(syncs >= 4.0, "syncs counted: {syncs}\n{text}");
    assert!(
        sample(
            &text,
            "gridbook_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"}"
        ) == Some(3.0),
        "{text}"
    );
    assert!(
        text.contains(
            "gridbook_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"POST\",route=\"/v1/sync\"}"
        ) || text.contains("gridbook_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/sync\",le=\"+Inf\"}"),
        "{text}"
    );
    // Two households of the grid were accepted; the other grid's was refused, and again when
    // the phone offered it on its next sync.
    assert_eq!(
        sample(&text, "gridbook_sync_documents_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "gridbook_sync_refusals_total{reason=\"forbidden\"}"),
        Some(2.0),
        "{text}"
    );
    assert!(sample(&text, "gridbook_sync_changes_applied_total") == Some(2.0));
    assert!(sample(&text, "gridbook_record_cache_hits_total").is_some());
    assert!(sample(&text, "gridbook_record_cache_misses_total").is_some());
    // The two accepted households are cached, and their estimated heap is counted.
    assert!(
        sample(&text, "gridbook_record_cache_records").unwrap_or(0.0) >= 2.0,
        "{text}"
    );
    assert!(
        sample(&text, "gridbook_record_cache_bytes").unwrap_or(0.0) >= 2.0 * 12_288.0,
        "{text}"
    );
    assert!(sample(&text, "gridbook_db_pool_connections{state=\"open\"}").unwrap_or(0.0) >= 1.0);
    assert!(sample(&text, "gridbook_db_pool_max_connections").unwrap_or(0.0) >= 1.0);
    assert!(sample(&text, "gridbook_blob_bytes_received_total").is_some());
    // Routes are patterns, never paths: no record id, user or grid appears.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains("ca-1") && !line.contains("\"li\""), "{line}");
        let labels = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or("", |(labels, _)| labels);
        let longest_hex_run = labels
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_hex_run < 8, "an id in {line}");
    }
    promtool_accepts(&text)?;
    Ok(())
}

async fn without_a_token_the_figures_are_only_on_their_own_address(
    app: TestApp,
) -> anyhow::Result<()> {
    let (status, _, body) = scrape(&app.url("/metrics"), None).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not_found"), "{body}");
    let own = app.metrics_addr().expect("the metrics address");
    let (status, content_type, text) = scrape(&format!("http://{own}/metrics"), None).await?;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        text.contains("# TYPE gridbook_http_requests_total counter"),
        "{text}"
    );
    // The metrics address serves nothing else.
    let (status, _, _) = scrape(&format!("http://{own}/health"), None).await?;
    assert_eq!(status, 404);
    promtool_accepts(&text)?;
    Ok(())
}
