//! The vocabulary the server serves (`GET /v1/vocabulary`) and its exports use: sync-core's
//! ([`sync_core::vocab`]) and the server's own enums (the audit log's actions, the roster import's fields and problems).

use sync_core::vocab::{self, Group};

use crate::audit::AuditAction;
use crate::imports::{ImportField, ImportProblem};

/// Every group, sync-core's and the server's.
pub fn groups() -> Vec<Group> {
    let mut groups = vocab::groups();
    groups.push(Group {
        name: "audit_action",
        entries: AuditAction::LABELS,
    });
    groups.push(Group {
        name: "import_field",
        entries: ImportField::LABELS,
    });
    groups.push(Group {
        name: "import_problem",
        entries: ImportProblem::LABELS,
    });
    groups
}

/// The Chinese label of `code` in `group`, or the code itself when the group does not know it.
pub fn zh(group: &str, code: &str) -> String {
    vocab::lookup(&groups(), group, code)
        .map_or(code, |e| e.zh)
        .to_owned()
}
