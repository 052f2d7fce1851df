//! PostgreSQL with a standby: a database URL may name several servers, in libpq's multi-host
//! form (`postgres://user@primary:5432,standby:5432/gridbook?target_session_attrs=read-write`),
//! and Gridbook writes to whichever of them is the primary now.
//!
//! - At start the servers are tried in order and the first that accepts writes (not in
//!   recovery) is used; none → the start fails, naming each server's answer.
//! - Every new pooled connection checks that its server accepts writes
//!   ([`reject_standby`]), so a demoted or standby server is never written to.
//! - A task follows the primary ([`follow_primary`]): twice a second it asks the current
//!   server whether it still accepts writes, and when it does not answer or has become a
//!   standby it looks for the server that does (the standby promoted by the operator or a
//!   failover manager) and points the pool at it. Broken connections leave the pool as they
//!   fail; requests in between answer 503 and phones retry.
//!
//! Gridbook always needs a session that accepts writes: `target_session_attrs` may be
//! absent, `read-write` or `primary`.

use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{ConnectOptions, Connection};

/// How often the followed primary is asked whether it still accepts writes.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// How long connecting to one server may take while looking for the primary.
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

/// The servers a PostgreSQL URL names, in order.
pub fn parse(url: &str) -> Result<Vec<PgConnectOptions>, sqlx::Error> {
    let config = |m: String| sqlx::Error::Configuration(m.into());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| config("a PostgreSQL URL starts with postgres://".into()))?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    // The query without target_session_attrs, which sqlx does not know.
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", value)) => {
                if !matches!(value, "read-write" | "primary") {
                    return Err(config(format!(
                        "target_session_attrs={value}: Gridbook writes, so it needs read-write"
                    )));
                }
            }
            _ => kept.push(pair),
        }
    }
    if !hosts.contains(',') {
        // One server (or a Unix socket, `postgres:///db?host=/run/postgresql`): as written.
        return Ok(vec![PgConnectOptions::from_str(url)?]);
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let mut targets = Vec::new();
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(config(
                "an empty host in the database URL's host list".into(),
            ));
        }
        let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let one = format!("{scheme}://{user}{host}{path}{query}");
        targets.push(PgConnectOptions::from_str(&one)?);
    }
    Ok(targets)
}

/// Whether the server behind `conn` accepts writes (is not in recovery).
async fn accepts_writes(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(conn)
        .await?;
    Ok(!in_recovery)
}

/// The pool's `after_connect` hook: a connection to a server that does not accept writes is
/// refused (the pool then tries again, and [`follow_primary`] moves it to the primary).
pub fn reject_standby<'c>(
    conn: &'c mut PgConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        if accepts_writes(conn).await? {
            Ok(())
        } else {
            Err(sqlx::Error::Configuration(
                "the database server is a standby (in recovery) and does not accept writes".into(),
            ))
        }
    })
}

/// The first of `targets`, starting at `from` and wrapping, that accepts writes, with an open
/// connection to it; or what each answered.
async fn find_primary(
    targets: &[PgConnectOptions],
    from: usize,
) -> Result<(usize, PgConnection), Vec<String>> {
    let mut answers = Vec::new();
    for step in 0..targets.len() {
        let i = (from + step) % targets.len();
        let target = &targets[i];
        let place = format!("{}:{}", target.get_host(), target.get_port());
        match tokio::time::timeout(CONNECT_WITHIN, target.connect()).await {
            Ok(Ok(mut conn)) => match accepts_writes(&mut conn).await {
                Ok(true) => return Ok((i, conn)),
                Ok(false) => answers.push(format!("{place}: a standby")),
                Err(e) => answers.push(format!("{place}: {e}")),
            },
            Ok(Err(e)) => answers.push(format!("{place}: {e}")),
            Err(_) => answers.push(format!("{place}: no answer within {CONNECT_WITHIN:?}")),
        }
    }
    Err(answers)
}

/// The index of the first of `targets` that accepts writes.
pub async fn primary_among(targets: &[PgConnectOptions]) -> Result<usize, sqlx::Error> {
    match find_primary(targets, 0).await {
        Ok((i, conn)) => {
            let _ = conn.close().await;
            Ok(i)
        }
        Err(answers) => Err(sqlx::Error::Configuration(
            format!("no database server accepts writes: {}", answers.join("; ")).into(),
        )),
    }
}

/// Follows the primary among `targets` for `pool` (see the module docs) until the pool is
/// closed. `current` is the one the pool connects to now.
pub async fn follow_primary(pool: PgPool, targets: Vec<PgConnectOptions>, mut current: usize) {
    let mut probe: Option<PgConnection> = None;
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if pool.is_closed() {
            return;
        }
        if let Some(conn) = probe.as_mut()
            && matches!(
                tokio::time::timeout(CONNECT_WITHIN, accepts_writes(conn)).await,
                Ok(Ok(true))
            )
        {
            continue;
        }
        probe = None;
        match find_primary(&targets, current).await {
            Ok((i, conn)) => {
                if i != current {
                    let target = &targets[i];
                    tracing::warn!(
                        host = target.get_host(),
                        port = target.get_port(),
                        "the database primary moved: writing to this server now"
                    );
                    pool.set_connect_options(target.clone());
                    current = i;
                }
                probe = Some(conn);
            }
            Err(answers) => {
                tracing::warn!(answers = ?answers, "no database server accepts writes; looking again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_becomes_one_target_per_server_with_the_rest_of_the_url() {
        let targets = parse(
            "postgres://gb:secret@10.0.0.1:5432,10.0.0.2:6432/gridbook?target_session_attrs=read-write&sslmode=disable",
        )
        .expect("parsed");
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (targets[0].get_host(), targets[0].get_port()),
            ("10.0.0.1", 5432)
        );
        assert_eq!(
            (targets[1].get_host(), targets[1].get_port()),
            ("10.0.0.2", 6432)
        );
        for t in &targets {
            assert_eq!(t.get_database(), Some("gridbook"));
            assert_eq!(t.get_username(), "gb");
        }
        let one = parse("postgres://localhost/gridbook").expect("parsed");
        assert_eq!(one.len(), 1);
        let socket = parse("postgres:///gridbook?host=/run/postgresql").expect("parsed");
        assert_eq!(socket.len(), 1);
    }

    #[test]
    fn a_session_that_may_not_write_and_empty_hosts_are_refused() {
        assert!(parse("postgres://a,b/gridbook?target_session_attrs=read-only").is_err());
        assert!(parse("postgres://a,,b/gridbook").is_err());
        assert!(parse("localhost/gridbook").is_err());
    }
}
