//! The JWT signing key stays out of the database: without `GRIDBOOK_JWT_KEYS` the server keeps
//! it in a private key file beside the SQLite file, moves a key an older version stored in the
//! database into that file (tokens it signed stay valid) and deletes it from the database, and
//! refuses to start on a key file others may read or on a key shorter than 32 bytes.

use std::path::Path;

use gridbook_server::config::Settings;
use gridbook_server::db::Db;
use gridbook_server::state::AppState;
use gridbook_tests::FreshDb;

async fn stored_key_count(db: &Db) -> i64 {
    let sql = "SELECT COUNT(*) FROM signing_keys";
    match db {
        Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_signing_key_lives_in_a_private_file_beside_the_database_not_in_it() {
    let fresh = FreshDb::sqlite().unwrap();
    let url = fresh.url();
    let key_file = fresh.dir().join("gridbook.jwt-keys");

    // An older version's database: migrated, with a key of its own in `signing_keys`.
    let db = fresh.connect().await.unwrap();
    let Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ('auto-old', $1, 1)")
        .bind(vec![42u8; 32])
        .execute(pool)
        .await
        .unwrap();
    db.close().await;
    let old_keys = gridbook_server::auth::jwt::Keys::new(&[gridbook_server::config::JwtKey {
        kid: "auto-old".into(),
        secret: vec![42u8; 32],
    }])
    .unwrap();

    // The first start moves it into the key file and out of the database.
    let state = AppState::new(Settings::for_database(url)).await.unwrap();
    assert_eq!(
        stored_key_count(&state.db).await,
        0,
        "no secret left in the database"
    );
    assert!(key_file.is_file(), "the key file is beside the database");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(state.keys.signing_kid(), "auto-old");
    // A token the old key signed verifies with the keys loaded from the file: same key.
    let token = old_keys
        .issue(
            &sync_core::ids::UserId::new(),
            &sync_core::ids::DeviceId::new(),
            "s",
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    assert!(state.keys.verify(&token).is_ok());
    state.db.close().await;

    // A restart reads the same file.
    let again = AppState::new(Settings::for_database(url)).await.unwrap();
    assert_eq!(again.keys.signing_kid(), "auto-old");
    again.db.close().await;

    // Readable by others: refused, with the fix in the message.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AppState::new(Settings::for_database(url))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A key shorter than 32 bytes: refused, without echoing it.
    std::fs::write(&key_file, "short=only-31-bytes-of-secret-x\n").unwrap();
    let e = AppState::new(Settings::for_database(url))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at least 32 bytes"), "{e}");
    assert!(!e.to_string().contains("only-31"), "{e}");
    let mut settings = Settings::for_database(url);
    settings.jwt_keys = vec![gridbook_server::config::JwtKey {
        kid: "k".into(),
        secret: vec![1; 31],
    }];
    let e = AppState::new(settings).await.unwrap_err();
    assert!(e.to_string().contains("at least 32 bytes"), "{e}");
}

#[tokio::test]
async fn a_new_database_gets_a_new_private_key_file() {
    let fresh = FreshDb::sqlite_file("fresh.db").unwrap();
    let state = AppState::new(Settings::for_database(fresh.url()))
        .await
        .unwrap();
    let key_file = fresh.dir().join("fresh.jwt-keys");
    assert!(key_file.is_file());
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(stored_key_count(&state.db).await, 0);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        text.contains(&format!("{}=base64url:", state.keys.signing_kid())),
        "{text}"
    );
    state.db.close().await;
}
