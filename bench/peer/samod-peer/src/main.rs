//! samod-peer: a samod (Rust automerge-repo) sync server for the Gridbook peer benchmark.
//!
//! `samod-peer --port P --dir D` runs a samod `Repo` with filesystem storage at D (the same
//! layout as automerge-repo's NodeFS adapter) and accepts automerge-repo websocket
//! connections on 127.0.0.1:P. Like the reference automerge-repo sync server it grants every
//! peer read-write access but announces no document a peer did not ask for. It prints
//! `listening <port>` once it accepts connections and exits cleanly on SIGTERM or Ctrl-C.

use axum::extract::{State, ws::WebSocketUpgrade};
use axum::response::Response;
use samod::storage::TokioFilesystemStorage;
use samod::{AcceptorHandle, PeerId, Repo, ShareConfig};
use std::io::Write;

fn usage() -> ! {
    eprintln!("usage: samod-peer --port P --dir D");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let (mut port, mut dir) = (None::<u16>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--port" => port = Some(value.parse().unwrap_or_else(|_| usage())),
            "--dir" => dir = Some(value),
            _ => usage(),
        }
    }
    let (Some(port), Some(dir)) = (port, dir) else {
        usage()
    };
    std::fs::create_dir_all(&dir).expect("create storage dir");

    let repo = Repo::build_tokio()
        .with_peer_id(PeerId::from("samod-peer"))
        .with_storage(TokioFilesystemStorage::new(&dir))
        .with_share_policy(ShareConfig::read_write().with_announce(false))
        .load()
        .await;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let url = samod::Url::parse(&format!("ws://127.0.0.1:{port}/")).expect("url");
    let acceptor = repo.make_acceptor(url).expect("acceptor");
    let app = axum::Router::new()
        .route("/", axum::routing::get(upgrade))
        .with_state(acceptor);

    println!("listening {port}");
    std::io::stdout().flush().ok();

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let shutdown = async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    // Open websockets never finish on their own, so stop serving at the signal rather than
    // waiting for connections to drain; then let the repo finish its storage writes.
    tokio::select! {
        r = axum::serve(listener, app) => r.expect("serve"),
        _ = shutdown => {}
    }
    repo.stop().await;
}

async fn upgrade(ws: WebSocketUpgrade, State(acceptor): State<AcceptorHandle>) -> Response {
    ws.on_upgrade(move |socket| async move {
        if let Err(e) = acceptor.accept_axum(socket, None) {
            eprintln!("samod-peer: could not accept connection: {e:?}");
        }
    })
}
