//! `gridbook`: the server's command line.
//!
//! ```text
//! gridbook serve [--demo]     serve sync and the API (SQLite in the working folder by default)
//! gridbook migrate            create or update the database schema
//! gridbook demo               load the demo street (Heping Street) into the database
//! gridbook user add ...       add a user
//! gridbook user disable ...   disable a user (they can no longer sign in, refresh or sync)
//! ```

use clap::{Parser, Subcommand};
use gridbook_server::app::{self, AppState};
use gridbook_server::config::{DatabaseArgs, LogFormat, ServeArgs, Settings};
use gridbook_server::db::Db;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "gridbook",
    version,
    about = "Gridbook: offline-first community grid records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve sync and the API.
    Serve(ServeArgs),
    /// Create or update the database schema.
    Migrate(DatabaseArgs),
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("GRIDBOOK_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.log_format);
            let settings = Settings::try_from(&args)?;
            let state = AppState::new(settings).await?;
            let running = app::start(state).await?;
            println!("Gridbook is listening on http://{}", running.addr);
            shutdown_signal().await;
            tracing::info!("shutting down; finishing in-flight requests");
            running.stop().await?;
        }
        Command::Migrate(args) => {
            init_tracing(LogFormat::Text);
            let db = Db::connect(&args.database_url).await?;
            db.migrate().await?;
            println!("database is up to date");
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
