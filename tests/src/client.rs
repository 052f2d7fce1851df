//! HTTP as a client sees it: an [`Answer`] (status, text, JSON); the JSON API calls ([`get`],
//! [`post`], [`put`], [`anon`], [`post_from`]) and [`download`] for anything else; the sign-in
//! calls ([`sign_in`], [`signed_in`], [`refresh`], [`refresh_from`]); raw connections
//! ([`fresh_client`], [`closed_within`]). Each goes to a [`Target`]:
//! an in-process [`TestApp`](crate::TestApp), a child process
//! ([`Serving`](crate::process::Serving)) or a client and a base URL of the test's own.
//!
//! The JSON API calls fail when a non-empty answer is not JSON: every answer of the API is.
//! [`answer`] and [`download`] read any response (an export, a page) without that check.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::PASSWORD;

/// A server to send requests to.
pub trait Target {
    /// The client to send them with.
    fn http(&self) -> &reqwest::Client;
    /// `http://ADDR` + `path`.
    fn url(&self, path: &str) -> String;
}

impl Target for crate::TestApp {
    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> String {
        crate::TestApp::url(self, path)
    }
}

/// A client of the test's own and a base URL (`http://127.0.0.1:PORT`).
impl Target for (&reqwest::Client, &str) {
    fn http(&self) -> &reqwest::Client {
        self.0
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.1)
    }
}

/// An answer: status, raw body text, and the body as JSON (`Null` when not JSON).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The raw body.
    pub text: String,
    /// The body as JSON (`Null` when not JSON).
    pub body: Value,
}

impl Answer {
    /// The JSON error code, or an empty string.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A string field of the body; an error naming the body when it is missing.
    pub fn str(&self, key: &str) -> anyhow::Result<&str> {
        self.body[key]
            .as_str()
            .with_context(|| format!("no {key} in ({}) {}", self.status, self.text))
    }
}

/// Reads any response into an [`Answer`].
pub async fn answer(response: reqwest::Response) -> anyhow::Result<Answer> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, text, body })
}

/// Reads a response of the JSON API: its body must be JSON or empty.
pub async fn json_answer(response: reqwest::Response) -> anyhow::Result<Answer> {
    let a = answer(response).await?;
    ensure!(
        a.text.is_empty() || serde_json::from_str::<Value>(&a.text).is_ok(),
        "not JSON ({}): {}",
        a.status,
        a.text
    );
    Ok(a)
}

/// `GET path` with a bearer token.
pub async fn get(to: &impl Target, token: &str, path: &str) -> anyhow::Result<Answer> {
    json_answer(
        to.http()
            .get(to.url(path))
            .bearer_auth(token)
            .send()
            .await?,
    )
    .await
}

/// `GET path` of anything (an export, a page) with a bearer token: no JSON check.
pub async fn download(to: &impl Target, token: &str, path: &str) -> anyhow::Result<Answer> {
    answer(
        to.http()
            .get(to.url(path))
            .bearer_auth(token)
            .send()
            .await?,
    )
    .await
}

/// `POST path` with a JSON body and a bearer token.
pub async fn post(
    to: &impl Target,
    token: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Answer> {
    let request = to.http().post(to.url(path)).bearer_auth(token).json(body);
    json_answer(request.send().await?).await
}

/// `PUT path` with a JSON body and a bearer token.
pub async fn put(
    to: &impl Target,
    token: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<Answer> {
    let request = to.http().put(to.url(path)).bearer_auth(token).json(body);
    json_answer(request.send().await?).await
}

/// `POST path` with a JSON body and no token.
pub async fn anon(to: &impl Target, path: &str, body: &Value) -> anyhow::Result<Answer> {
    json_answer(to.http().post(to.url(path)).json(body).send().await?).await
}

/// `POST path` with a JSON body and no token, from the local address `from` (any address of
/// 127.0.0.0/8 reaches a server on loopback).
pub async fn post_from(
    to: &impl Target,
    from: Option<IpAddr>,
    path: &str,
    body: &Value,
) -> anyhow::Result<Answer> {
    let client = reqwest::Client::builder().local_address(from).build()?;
    json_answer(client.post(to.url(path)).json(body).send().await?).await
}

/// `POST /v1/auth/login` with a password.
pub async fn sign_in(to: &impl Target, login: &str, password: &str) -> anyhow::Result<Answer> {
    anon(
        to,
        "/v1/auth/login",
        &json!({ "login": login, "password": password }),
    )
    .await
}

/// Signs `login` in with [`PASSWORD`], requiring success: the token answer (`access_token`,
/// `refresh_token`, `device_id`, `user`).
pub async fn signed_in(to: &impl Target, login: &str) -> anyhow::Result<Value> {
    let a = sign_in(to, login, PASSWORD).await?;
    ensure!(
        a.status == 200,
        "signing {login} in: {} {}",
        a.status,
        a.text
    );
    Ok(a.body)
}

/// `POST /v1/auth/refresh`.
pub async fn refresh(to: &impl Target, token: &str) -> anyhow::Result<Answer> {
    anon(to, "/v1/auth/refresh", &json!({ "refresh_token": token })).await
}

/// `POST /v1/auth/refresh` naming the device the token was issued to.
pub async fn refresh_from(to: &impl Target, token: &str, device: &str) -> anyhow::Result<Answer> {
    let body = json!({ "refresh_token": token, "device_id": device });
    anon(to, "/v1/auth/refresh", &body).await
}

/// A client that opens a new connection for each request, giving up after `timeout`.
pub fn fresh_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(timeout)
        .build()?)
}

/// Reads from a raw connection until the server closes it (EOF or reset), failing when
/// `bound` passes first; how long it took.
pub async fn closed_within(stream: &mut TcpStream, bound: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => bail!("the connection was still open after {bound:?}"),
            Ok(Ok(0) | Err(_)) => return Ok(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Gzip-compresses a body.
pub fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}
