//! Retention of residents' personal data (issue 15): a household that moved away is archived
//! by a supervisor (`POST /v1/households/{id}/archive`, with a reason); its private document
//! then leaves every phone at its next sync (`removed` in the response, read by cursor like
//! changes), nothing more is written to it (pushes are refused `archived`), and after the
//! retention period (`GRIDBOOK_ARCHIVE_RETENTION_DAYS`) [`erase_due`] deletes it from the
//! server: its row, its change log, its index rows. The household document (address, names,
//! relations) stays as the archive; the audit log keeps who archived what, when and why, and
//! when it was erased, never a value.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sync_core::models::household::HouseholdStatus;
use sync_core::models::{AnyRecord, HouseholdPrivate};
use sync_core::time::Timestamp;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::{self, now_millis, retention};
use crate::error::{ApiError, ApiResult};
use crate::records::detail::{MAX_REASON_CHARS, MIN_REASON_CHARS};
use crate::records::load::{Readable, supervised};
use crate::records::push;
use crate::state::AppState;

/// How often a serving node looks for private documents due for erasure.
pub const ERASE_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// The body of `POST /v1/households/{id}/archive`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    /// Why (required; 4–500 characters), e.g. 全户迁往铜仁.
    #[serde(default)]
    #[schema(schema_with = reason_schema)]
    pub reason: Option<String>,
}

fn reason_schema() -> utoipa::openapi::Object {
    crate::openapi::values::text_or_null(
        crate::records::detail::MIN_REASON_CHARS,
        crate::records::detail::MAX_REASON_CHARS,
    )
}

/// The answer of an archive.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchiveResponse {
    /// The household (kept as the archive).
    pub household: String,
    /// Its private document, which leaves every phone now.
    pub private_document: String,
    /// When the private document will be erased from the server (RFC 3339).
    pub erase_after: String,
}

/// Archives household `id` for a community or street supervisor (see the module docs).
pub async fn archive(
    app: &AppState,
    caller: &AuthUser,
    address: Option<IpAddr>,
    id: &str,
    req: &ArchiveRequest,
) -> ApiResult<ArchiveResponse> {
    let Readable { loaded, user, .. } = supervised(app, caller, id, "archive a household").await?;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&reason.chars().count()) {
        return Err(ApiError::unprocessable(
            "reason_required",
            format!(
                "a reason of {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters is required to archive a household"
            ),
        ));
    }
    let Some(AnyRecord::Household(household)) = &loaded.record.record else {
        return Err(ApiError::conflict(
            "not_a_household",
            "only a household can be archived",
        ));
    };
    if household.status == HouseholdStatus::Active {
        return Err(ApiError::conflict(
            "not_moved_out",
            "only a household that moved away (status moved_out or merged) can be archived",
        ));
    }
    let private = HouseholdPrivate::id_for(&household.id);
    let grid = household.place.grid.clone();
    // A household written before the private documents keeps its residents' values in its
    // own history: it leaves the phones and is erased with its private document.
    let with_household = loaded.record.personal_history;
    let retention_ms =
        i64::try_from(app.settings.archive_retention.as_millis()).unwrap_or(i64::MAX);
    let erase_after = now_millis().saturating_add(retention_ms);
    let archived = push::archive_in_sequence(
        app,
        &household.id,
        &grid,
        &user.login,
        erase_after,
        with_household,
    )
    .await?;
    if !archived {
        return Err(ApiError::conflict(
            "already_archived",
            "the household is archived already",
        ));
    }
    app.cache.remove(&private);
    if with_household {
        app.cache.remove(&household.id);
    }
    let erase_at = Timestamp::from_millis(erase_after).to_string();
    audit::record(
        &app.db,
        AuditEntry {
            reason: Some(reason.to_owned()),
            detail: Some(serde_json::json!({
                "private_document": private,
                "erase_after": erase_at,
                "with_household": with_household,
            })),
            ..AuditEntry::by(
                AuditAction::HouseholdArchived,
                &user,
                &caller.device,
                address,
            )
            .on(&household.id)
        },
    )
    .await?;
    tracing::info!(household = %household.id, "household archived");
    Ok(ArchiveResponse {
        household: household.id.to_string(),
        private_document: private.to_string(),
        erase_after: erase_at,
    })
}

/// Erases the private documents whose retention period has passed (see the module docs), each
/// in its own transaction with an audit row; then, on SQLite, truncates the write-ahead log.
/// Returns how many were erased.
pub async fn erase_due(app: &AppState) -> anyhow::Result<usize> {
    let due = retention::due(&app.db, now_millis()).await?;
    for archived in &due {
        let mut tx = app.db.begin_write().await?;
        retention::erase(&mut tx, archived).await?;
        tx.commit().await?;
        for id in [&archived.private_id, &archived.household_id] {
            if let Ok(id) = id.parse() {
                app.cache.remove(&id);
            }
        }
        let mut entry = AuditEntry::new(AuditAction::PersonalDataErased, "system");
        entry.record = archived.household_id.parse().ok();
        entry.detail = Some(serde_json::json!({
            "private_document": archived.private_id,
            "grid": archived.grid_id,
            "with_household": archived.with_household,
        }));
        audit::record(&app.db, entry).await?;
        tracing::info!(household = %archived.household_id, "archived personal data erased");
    }
    if !due.is_empty() {
        db::retention::checkpoint(&app.db).await?;
    }
    Ok(due.len())
}

/// Runs [`erase_due`] now and then every [`ERASE_CHECK_EVERY`] until the process stops.
pub async fn erase_periodically(app: AppState) {
    loop {
        if let Err(e) = erase_due(&app).await {
            tracing::error!(error = %e, "erasing archived personal data failed; retrying later");
        }
        tokio::time::sleep(ERASE_CHECK_EVERY).await;
    }
}
