//! `gridbook`: the server's command line.
//!
//! ```text
//! gridbook serve [--demo]     serve sync and the API (SQLite in the working folder by default)
//! gridbook migrate            create or update the database schema
//! gridbook demo [--small]     load the demo street (Heping Street) into an empty database
//! gridbook user add ...       add a user
//! gridbook user disable ...   disable a user (they can no longer sign in, refresh or sync)
//! gridbook user enable ...    enable a disabled user again
//! gridbook user reset-password ...  set a temporary password, to be changed at next sign-in
//! gridbook import households FILE --grid G [--dry-run] [--partial] [--mapping M] [--report R]
//!                             import a household roster (XLSX or CSV) into a grid
//! ```
//!
//! User and street commands write audit rows with the actor `cli (OS USER)`.

use clap::{Parser, Subcommand};
use gridbook_server::accounts::{self, NewUser};
use gridbook_server::app;
use gridbook_server::audit::{self, AuditAction, AuditEntry};
use gridbook_server::config::{
    self, BackupArgs, DatabaseArgs, LogFormat, ServeArgs, Settings, UserAddArgs, UserResetArgs,
};
use gridbook_server::db::{Db, places, users};
use gridbook_server::demo::{self, DemoProgress, DemoSize, DemoSummary};
use gridbook_server::net;
use gridbook_server::state::AppState;
use sync_core::ids::{GridId, StreetId};
use sync_core::time::Timestamp;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: glibc's per-thread arenas (async workers,
/// blocking workers, SQLite connection threads) tripled the server's peak memory on a field
/// day's sync (docs/BENCHMARKS.md, W1).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Load the demo street (Heping Street 和平街道: 68 grids, 17,000 households, 5,000
    /// cases, users for every role) into an empty database.
    Demo(DemoArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage streets, the top of the place hierarchy. A new deployment adds its street here,
    /// then its first admin (`user add --role admin --street CODE`), who adds the communities
    /// and grids through the admin API.
    #[command(subcommand)]
    Street(StreetCommand),
    /// Import the paperwork offices keep in spreadsheets.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Back the SQLite database up while the server runs: one consistent snapshot written to
    /// FILE, with its photos and files in FILE's blob folder (`backup.db` → `backup.blobs/`).
    /// The JWT key file is not copied. PostgreSQL: use pg_basebackup (docs/DEPLOYMENT.md).
    Backup(BackupArgs),
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Import a household roster (户籍花名册, one resident a row) into a grid: households are
    /// matched by their residents' ID numbers, else by address, and updated rather than
    /// duplicated; a file with invalid rows writes nothing unless `--partial`.
    Households(ImportHouseholdsArgs),
}

#[derive(clap::Args, Debug)]
struct ImportHouseholdsArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The roster: an XLSX workbook (first sheet) or a CSV file (UTF-8 or GBK).
    file: std::path::PathBuf,
    /// The grid the households belong to (its code, e.g. `hp-dzk-01`).
    #[arg(long)]
    grid: GridId,
    /// Check the file and show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the valid rows even when some rows are invalid (they are reported).
    #[arg(long)]
    partial: bool,
    /// A JSON file mapping the file's column headers to fields
    /// (`{"住址": "address", "手机": "phone"}`) when they differ from the usual ones.
    #[arg(long)]
    mapping: Option<std::path::PathBuf>,
    /// Write the validation report (XLSX: every problem of every row) to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
enum StreetCommand {
    /// Add a street, or rename it if the code exists (the database is created and migrated if
    /// needed).
    Add(StreetAddArgs),
}

#[derive(clap::Args, Debug)]
struct StreetAddArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Street code (letters, digits, `-` and `_`), e.g. `hp`.
    #[arg(long)]
    code: StreetId,
    /// Name shown to people, e.g. 和平街道.
    #[arg(long)]
    name: String,
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Load the small demo (4 grids) instead of the whole street.
    #[arg(long)]
    small: bool,
    /// Load a city of N streets shaped like Heping Street instead of one (street 0 is Heping
    /// Street; street K's codes and logins begin `sKKK-`, e.g. `s001-street`, `s001-dzk-01`).
    /// 120 full streets are about 2 million households and 8,000 grid workers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=999))]
    streets: u16,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user (the database is created and migrated if needed).
    Add(UserAddArgs),
    /// Disable a user: they can no longer sign in, refresh or sync.
    Disable(UserLoginArgs),
    /// Enable a disabled user again.
    Enable(UserLoginArgs),
    /// Reset a user's password: their sessions end, and at the next sign-in they must choose
    /// a new password before anything else. Without `--password` (or `GRIDBOOK_PASSWORD`) a
    /// temporary password is generated and printed once.
    ResetPassword(UserResetArgs),
}

/// Writes the audit row of a command-line action on `target`.
async fn audit_cli(
    db: &Db,
    action: AuditAction,
    target: String,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let entry = AuditEntry::new(action, &audit::cli_actor()).about(&target, detail);
    audit::record(db, entry).await?;
    Ok(())
}

#[derive(clap::Args, Debug)]
struct UserLoginArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Login name.
    #[arg(long)]
    login: String,
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::new(config::log_filter());
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
            // Before anything opens files: the connection cap is derived from this limit.
            match net::raise_open_files_limit() {
                Ok(files) if files.now > files.before => tracing::info!(
                    before = files.before,
                    now = files.now,
                    hard = files.hard,
                    "open-files limit: soft limit raised to the hard limit"
                ),
                Ok(files) => tracing::info!(
                    now = files.now,
                    hard = files.hard,
                    "open-files limit: soft limit already at the hard limit"
                ),
                Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
            }
            let state = AppState::new(settings).await?;
            if args.demo {
                if places::count_grids(&state.db).await? == 0 {
                    load_demo(&state.db, DemoSize::Full).await?;
                    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());
                    let photographed = demo::photos::attach(&state, now).await?;
                    println!("Photographed {photographed} rectified hazards (before and after).");
                } else {
                    println!("The database already has places; not loading the demo again.");
                    println!("{}", demo_login_hint());
                }
            }
            let running = app::start(state).await?;
            println!("Gridbook is listening on http://{}", running.addr);
            shutdown_signal().await;
            tracing::info!("shutting down; finishing in-flight requests");
            running.stop().await?;
            tracing::info!("stopped");
        }
        Command::Migrate(args) => {
            init_tracing(LogFormat::Text);
            let db = Db::connect(&args.database_url).await?;
            db.migrate().await?;
            println!("database is up to date");
        }
        Command::Demo(args) => {
            init_tracing(LogFormat::Text);
            let db = Db::connect(&args.database.database_url).await?;
            db.migrate().await?;
            let size = if args.small {
                DemoSize::Small
            } else {
                DemoSize::Full
            };
            if args.streets > 1 {
                load_city(&db, size, usize::from(args.streets)).await?;
            } else {
                load_demo(&db, size).await?;
            }
            db.close().await;
        }
        Command::User(command) => {
            init_tracing(LogFormat::Text);
            user_command(command).await?;
        }
        Command::Backup(args) => {
            init_tracing(LogFormat::Text);
            let mut settings = Settings::for_database(args.database.database_url.clone());
            settings.blob_dir = args.blob_dir.clone();
            let started = std::time::Instant::now();
            let report = gridbook_server::backup::backup(&settings, &args.file).await?;
            println!(
                "Backed up the database to {} ({} bytes) and {} photos and files ({} bytes) to {} in {:.1} s.",
                report.file.display(),
                report.bytes,
                report.blobs,
                report.blob_bytes,
                report.blob_dir.display(),
                started.elapsed().as_secs_f64()
            );
            if report.blobs_missing > 0 {
                println!(
                    "{} blobs were deleted by the garbage collector while the backup ran (no record referred to them).",
                    report.blobs_missing
                );
            }
            println!(
                "The JWT key file is not in the backup: keep it apart, or phones sign in again after a restore."
            );
        }
        Command::Import(ImportCommand::Households(args)) => {
            init_tracing(LogFormat::Text);
            import_households(args).await?;
        }
        Command::Street(StreetCommand::Add(args)) => {
            init_tracing(LogFormat::Text);
            let name = args.name.trim();
            if name.is_empty() {
                anyhow::bail!("the street needs a name");
            }
            let db = Db::connect(&args.database.database_url).await?;
            db.migrate().await?;
            let result = match places::upsert_street(&db, &args.code, name).await {
                Ok(()) => {
                    audit_cli(
                        &db,
                        AuditAction::PlaceSaved,
                        format!("street:{}", args.code),
                        serde_json::json!({ "name": name }),
                    )
                    .await
                }
                Err(e) => Err(e.into()),
            };
            db.close().await;
            result?;
            println!("street {} ({name}) is stored", args.code);
        }
    }
    Ok(())
}

/// `gridbook import households`: reads the file, runs the import with a progress bar, prints
/// the summary and writes the report if asked. Fails (exit status 1) when the file is refused.
async fn import_households(args: ImportHouseholdsArgs) -> anyhow::Result<()> {
    use gridbook_server::imports::{self, FileKind, ImportOptions, Importer, Progress, Roster};
    use std::sync::Arc;
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    let mapping = match &args.mapping {
        Some(path) => {
            let text = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            imports::parse_mapping(&text).map_err(|e| anyhow::anyhow!("{}", e.message()))?
        }
        None => Default::default(),
    };
    let name = args.file.to_string_lossy().into_owned();
    let roster = Roster::read(FileKind::detect(Some(&name), &bytes), &bytes, &mapping)
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let app = AppState::new(Settings::for_database(args.database.database_url.clone())).await?;
    if !gridbook_server::db::imports::grid_exists(&app.db, args.grid.as_str()).await? {
        anyhow::bail!("there is no grid {}", args.grid);
    }
    let options = ImportOptions {
        grid: args.grid.clone(),
        dry_run: args.dry_run,
        partial: args.partial,
        mapping,
    };
    let importer = Importer {
        user: None,
        login: audit::cli_actor(),
        device: None,
        address: None,
    };
    let progress = Arc::new(Progress::default());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len}")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let watcher = {
        let progress = progress.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                let (phase, done, total) = progress.get();
                bar.set_message(format!("{phase:?}").to_lowercase());
                bar.set_length(total);
                bar.set_position(done);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    };
    let outcome = imports::run(&app, &importer, roster, &options, &progress).await;
    watcher.abort();
    bar.finish_and_clear();
    let outcome = outcome.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let s = &outcome.summary;
    println!(
        "rows {} (valid {}, invalid {}); households: {} created, {} updated, {} unchanged; residents: {} created, {} updated",
        s.rows,
        s.valid_rows,
        s.invalid_rows,
        s.households_created,
        s.households_updated,
        s.households_unchanged,
        s.residents_created,
        s.residents_updated
    );
    for p in s.problems.iter().take(20) {
        let reason = p
            .problem
            .parse::<imports::ImportProblem>()
            .map_or(p.problem.clone(), |x| {
                format!("{} ({})", x.label_zh(), x.label_en())
            });
        println!(
            "  row {}{}: {reason}",
            p.row,
            p.column
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default()
        );
    }
    if s.problems.len() > 20 {
        println!("  ... {} problems in all", s.problems.len());
    }
    if let Some(path) = &args.report {
        let bytes = imports::report::workbook(&outcome)?;
        std::fs::write(path, bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    app.db.close().await;
    if let Some(refusal) = outcome.refusal() {
        anyhow::bail!("{}", refusal.message());
    }
    if s.dry_run {
        println!("dry run: nothing was written");
    } else {
        println!("written");
    }
    Ok(())
}

/// Loads the demo with progress on the terminal, then prints how to sign in.
async fn load_demo(db: &Db, size: DemoSize) -> anyhow::Result<()> {
    use std::io::Write;
    println!("Loading the demo street (和平街道 Heping Street)...");
    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());
    let mut last = std::time::Instant::now();
    let summary = demo::load(db, size, now, &mut |progress| {
        let done = matches!(progress, DemoProgress::Done { .. });
        if done || last.elapsed() >= std::time::Duration::from_millis(250) {
            last = std::time::Instant::now();
            print!("\r  {progress}\x1b[K");
            let _ = std::io::stdout().flush();
        }
    })
    .await?;
    println!();
    println!("{}", summary.login_help());
    Ok(())
}

async fn load_city(db: &Db, size: DemoSize, streets: usize) -> anyhow::Result<()> {
    use std::io::Write;
    println!("Loading a city of {streets} demo streets shaped like 和平街道 Heping Street...");
    let now = Timestamp::from_millis(chrono::Utc::now().timestamp_millis());
    let started = std::time::Instant::now();
    let mut last = std::time::Instant::now();
    let summaries = demo::load_city(db, size, streets, now, &mut |street, progress| {
        let done = matches!(progress, DemoProgress::Done { .. });
        if done || last.elapsed() >= std::time::Duration::from_millis(250) {
            last = std::time::Instant::now();
            print!("\r  street {}/{streets}: {progress}\x1b[K", street + 1);
            let _ = std::io::stdout().flush();
        }
        if done {
            println!();
        }
    })
    .await?;
    let records: usize = summaries.iter().map(DemoSummary::total_records).sum();
    println!(
        "Loaded {streets} streets, {records} records, in {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    if let Some(first) = summaries.first() {
        println!("{}", first.login_help());
    }
    println!("Street K's logins begin sKKK- (s001-street, s001-dzk-sup, s001-dzk-01, ...).");
    Ok(())
}

fn demo_login_hint() -> String {
    format!(
        "Demo logins (if this database holds the demo): admin, street, dzk-sup, dzk-01 ...; password {}",
        demo::DEMO_PASSWORD
    )
}

async fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let db = Db::connect(&args.database.database_url).await?;
            db.migrate().await?;
            let new = NewUser {
                login: args.login,
                display_name: args.name,
                password: args.password,
                role: args.role,
                street: args.street,
                community: args.community,
                grid: args.grid,
                liaison_group: args.liaison_group,
                department: args.department,
            };
            let result = match accounts::create_user(&db, new).await {
                Ok(user) => audit_cli(
                    &db,
                    AuditAction::UserCreated,
                    format!("user:{}", user.login),
                    serde_json::json!({ "role": user.role.as_str() }),
                )
                .await
                .map(|()| user),
                Err(e) => Err(e.into()),
            };
            db.close().await;
            let user = result?;
            println!("added user {} ({}), id {}", user.login, user.role, user.id);
        }
        UserCommand::Disable(args) => set_disabled(&args, true).await?,
        UserCommand::Enable(args) => set_disabled(&args, false).await?,
        UserCommand::ResetPassword(args) => {
            let db = Db::connect(&args.database.database_url).await?;
            db.migrate().await?;
            let result = match accounts::reset_password(&db, &args.login, args.password).await {
                Ok((user, generated)) => audit_cli(
                    &db,
                    AuditAction::PasswordReset,
                    format!("user:{}", user.login),
                    serde_json::json!({ "generated": generated.is_some() }),
                )
                .await
                .map(|()| (user, generated)),
                Err(e) => Err(e.into()),
            };
            db.close().await;
            let (user, generated) = result?;
            println!(
                "the password of {} is reset; they must change it at their next sign-in",
                user.login
            );
            if let Some(password) = generated {
                println!("temporary password (shown once): {password}");
            }
        }
    }
    Ok(())
}

async fn set_disabled(args: &UserLoginArgs, disabled: bool) -> anyhow::Result<()> {
    let db = Db::connect(&args.database.database_url).await?;
    db.migrate().await?;
    let found = match users::set_disabled(&db, &args.login, disabled).await {
        Ok(true) => {
            let action = if disabled {
                AuditAction::UserDisabled
            } else {
                AuditAction::UserEnabled
            };
            audit_cli(
                &db,
                action,
                format!("user:{}", args.login),
                serde_json::json!({}),
            )
            .await
            .map(|()| true)
        }
        other => other.map_err(Into::into),
    };
    db.close().await;
    if !found? {
        anyhow::bail!("no user has the login {}", args.login);
    }
    let state = if disabled { "disabled" } else { "enabled" };
    println!("user {} is {state}", args.login);
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
