//! `GET /v1/vocabulary`: every code people may see, with its Chinese and English labels
//! ([`crate::vocabulary`]). Public: labels are no secret, and the console needs them on its
//! sign-in page.

use axum::Json;
use sync_core::vocab::Group;

/// `GET /v1/vocabulary`.
#[utoipa::path(
    get,
    path = "/v1/vocabulary",
    tag = "meta",
    responses(
        (status = 200, description = "The vocabulary: groups (`case_state`, `role`, `special_group`, ...), each a list of `{code, zh, en}`; a code outside its group is shown as it is", body = serde_json::Value),
    ),
)]
pub async fn get_vocabulary() -> Json<Vec<Group>> {
    Json(crate::vocabulary::groups())
}
