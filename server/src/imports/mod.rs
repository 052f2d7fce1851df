//! The household roster import (户籍花名册导入, issue 18): a community's Excel or CSV roster, one
//! resident a row, brought into the households of one grid.
//!
//! 1. [`read`]: the file's first sheet as text cells (XLSX with calamine; CSV in UTF-8, with
//!    or without a byte-order mark, or GBK).
//! 2. [`roster`]: the header row found and mapped (the usual headers, our own household
//!    export's, or a mapping file `{"header": "field"}`), each row checked (GB 11643 ID
//!    numbers, phones, dates, relations, special groups, addresses, the same ID number twice,
//!    two heads...), the valid rows grouped into households by address and 户主.
//! 3. [`write`](mod@write): each file household matched with a stored one of the grid (by its residents'
//!    ID numbers in the private documents, by the record id our export writes, else by
//!    address), the household and its private document edited (or created) as Automerge
//!    changes by the server's own device and pushed through [`crate::records::push`], so
//!    phones converge. A household the file does not change gets no change at all, so a
//!    second import of the same file writes nothing.
//!
//! A file with any invalid row writes nothing (all or nothing: the whole file is one push,
//! one transaction) unless `partial` is asked for; then the valid rows are written and the
//! invalid ones reported. A dry run stops after step 3's plan. The report lists every problem
//! of every row with its reason in Chinese ([`report`]); the command line
//! (`gridbook import households`) and the API (`POST /v1/imports/households`, jobs in memory:
//! [`jobs`]) share [`run`].

pub mod jobs;
pub mod read;
pub mod report;
pub mod roster;
pub mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use serde::Serialize;
use sync_core::ids::{GridId, UserId};
use sync_core::time::Timestamp;

use crate::audit::{AuditAction, AuditEntry};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use read::FileKind;
pub use roster::{ColumnUse, RowProblem};

sync_core::string_enum! {
    /// What a roster column holds (the values of a mapping file).
    pub enum ImportField {
        /// The household's record id (our household export's 编号).
        HouseholdId = "household_id" ["住户编号", "household id"],
        /// The head of household's name (户主).
        Head = "head" ["户主", "head of household"],
        /// The resident's name.
        Name = "name" ["姓名", "name"],
        /// The resident ID number.
        IdNumber = "id_number" ["身份证号", "ID number"],
        /// The phone number.
        Phone = "phone" ["联系电话", "phone"],
        /// Relation to the head.
        Relation = "relation" ["与户主关系", "relation to the head"],
        /// Gender.
        Gender = "gender" ["性别", "gender"],
        /// Birth date.
        BirthDate = "birth_date" ["出生日期", "birth date"],
        /// The whole address in one cell.
        Address = "address" ["地址", "address"],
        /// Compound (小区).
        Compound = "compound" ["小区", "compound"],
        /// Building (楼栋).
        Building = "building" ["楼栋", "building"],
        /// Unit (单元).
        Unit = "unit" ["单元", "unit"],
        /// Room (门牌).
        Room = "room" ["门牌", "room"],
        /// Special groups, listed.
        SpecialGroups = "special_groups" ["特殊人群", "special groups"],
        /// Household tags, listed.
        Tags = "tags" ["住户标签", "household tags"],
        /// Notes (the household's).
        Notes = "notes" ["备注", "notes"],
        /// A column that is read but not imported.
        Ignore = "ignore" ["不导入", "not imported"],
    }
}

sync_core::string_enum! {
    /// Why a roster row was not imported.
    pub enum ImportProblem {
        /// No name.
        NameMissing = "name_missing" ["姓名为空", "name missing"],
        /// Name over 50 characters.
        NameTooLong = "name_too_long" ["姓名过长（超过50字）", "name longer than 50 characters"],
        /// Digits in a name.
        NameHasDigits = "name_has_digits" ["姓名含有数字", "name contains digits"],
        /// No address at all.
        AddressMissing = "address_missing" ["地址为空", "address missing"],
        /// An address whose room number cannot be found.
        AddressUnreadable = "address_unreadable" ["地址无法识别门牌号", "no room number found in the address"],
        /// A compound without a room.
        RoomMissing = "room_missing" ["门牌号为空", "room missing"],
        /// A room without a compound.
        CompoundMissing = "compound_missing" ["小区为空", "compound missing"],
        /// An address part over its length.
        AddressTooLong = "address_too_long" ["地址过长", "address too long"],
        /// Not 17 digits and a check character.
        IdNumberFormat = "id_number_format" ["身份证号格式错误（应为18位）", "ID number is not 18 characters"],
        /// A 15-digit ID number of the first generation.
        IdNumberOld = "id_number_old" ["15位旧身份证号，请换为18位", "15-digit first-generation ID number"],
        /// Digits 7-14 are not a real date (or a date to come).
        IdNumberBirthDate = "id_number_birth_date" ["身份证号中的出生日期无效", "impossible birth date in the ID number"],
        /// Wrong check character.
        IdNumberCheckDigit = "id_number_check_digit" ["身份证号校验位错误", "ID number check digit is wrong"],
        /// The same ID number on an earlier row.
        DuplicateIdNumber = "duplicate_id_number" ["身份证号与前面的行重复", "ID number repeats an earlier row"],
        /// Not a phone number.
        PhoneInvalid = "phone_invalid" ["联系电话格式错误", "not a phone number"],
        /// A gender other than 男/女.
        GenderUnknown = "gender_unknown" ["性别无法识别（应为男或女）", "gender not recognised"],
        /// No gender and no ID number to read it from.
        GenderMissing = "gender_missing" ["性别为空且无身份证号", "gender missing"],
        /// The gender differs from the ID number's.
        GenderMismatch = "gender_mismatch" ["性别与身份证号不符", "gender differs from the ID number"],
        /// A birth date that does not read.
        BirthDateInvalid = "birth_date_invalid" ["出生日期无法识别", "birth date not recognised"],
        /// A birth date after today.
        BirthDateFuture = "birth_date_future" ["出生日期晚于今天", "birth date in the future"],
        /// The birth date differs from the ID number's.
        BirthDateMismatch = "birth_date_mismatch" ["出生日期与身份证号不符", "birth date differs from the ID number"],
        /// No relation, and the row is not the head's.
        RelationMissing = "relation_missing" ["与户主关系为空", "relation to the head missing"],
        /// A relation the vocabulary does not know.
        RelationUnknown = "relation_unknown" ["与户主关系无法识别", "relation to the head not recognised"],
        /// Relation 户主 on a row whose name is not the 户主 column's.
        HeadNameMismatch = "head_name_mismatch" ["与户主关系为户主，但姓名与户主栏不同", "marked head, but the name differs from the head column"],
        /// A second head in one household.
        TwoHeads = "two_heads" ["同一户有两名户主", "a second head in the household"],
        /// The same name twice in one household, without ID numbers to tell them apart.
        DuplicateName = "duplicate_name" ["同一户中姓名重复", "the same name twice in the household"],
        /// A special group the catalogue does not know.
        SpecialGroupUnknown = "special_group_unknown" ["特殊人群类别无法识别", "special group not recognised"],
        /// A household tag the vocabulary does not know.
        TagUnknown = "tag_unknown" ["住户标签无法识别", "household tag not recognised"],
        /// Notes over 2,000 characters.
        NotesTooLong = "notes_too_long" ["备注过长（超过2000字）", "notes longer than 2,000 characters"],
        /// A 编号 that is not a record id.
        HouseholdIdInvalid = "household_id_invalid" ["住户编号无效", "household id is not a record id"],
        /// A 编号 of no household of this grid.
        HouseholdIdUnknown = "household_id_unknown" ["住户编号不是本网格的住户", "household id names no household of this grid"],
        /// The edited record breaks a rule of the record (the report names the field).
        RecordInvalid = "record_invalid" ["住户档案不符合规则", "the household record breaks a rule"],
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The grid the households belong to.
    pub grid: GridId,
    /// Check and plan only; write nothing.
    pub dry_run: bool,
    /// Write the valid rows even when some are invalid.
    pub partial: bool,
    /// Header → field, for files whose headers differ from the usual ones.
    pub mapping: BTreeMap<String, ImportField>,
}

/// Who imports: the user (named in the changes' message and the audit log).
#[derive(Debug, Clone)]
pub struct Importer {
    /// The user, when signed in (the command line has none).
    pub user: Option<UserId>,
    /// Their login (or the command line's actor).
    pub login: String,
    /// Their device, when signed in.
    pub device: Option<sync_core::ids::DeviceId>,
    /// The client's address, over HTTP.
    pub address: Option<std::net::IpAddr>,
}

/// What an import did (or, for a dry run or a refusal, would have done).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Rows holding anything below the header.
    pub rows: usize,
    /// Rows without problems.
    pub valid_rows: usize,
    /// Rows with at least one problem.
    pub invalid_rows: usize,
    /// Households new to the grid.
    pub households_created: usize,
    /// Stored households the file changed.
    pub households_updated: usize,
    /// Stored households the file matched and did not change.
    pub households_unchanged: usize,
    /// Residents new to their household.
    pub residents_created: usize,
    /// Stored residents the file changed.
    pub residents_updated: usize,
    /// Whether anything was written (false for a dry run and a refused file).
    pub written: bool,
    /// A dry run.
    pub dry_run: bool,
    /// Partial: valid rows written despite invalid ones.
    pub partial: bool,
    /// What each column of the file was read as.
    pub columns: Vec<ColumnUse>,
    /// Every problem of every row, in row order.
    pub problems: Vec<RowProblem>,
}

/// Where an import is: the phase and rows or households done of the phase's total.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
}

/// The phases of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading and checking rows (done/total: rows).
    Checking,
    /// Matching households and making their changes (done/total: households).
    Preparing,
    /// Writing through the push pipeline (done/total: households).
    Writing,
    /// Finished.
    Done,
}

impl Progress {
    /// Enters `phase` with `total` units of work.
    pub fn start(&self, phase: Phase, total: usize) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total as u64, Ordering::Relaxed);
    }

    /// `done` units of the phase are done.
    pub fn set(&self, done: usize) {
        self.done.store(done as u64, Ordering::Relaxed);
    }

    /// The phase, done and total.
    pub fn get(&self) -> (Phase, u64, u64) {
        let phase = match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Checking,
            1 => Phase::Preparing,
            2 => Phase::Writing,
            _ => Phase::Done,
        };
        (
            phase,
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// The outcome of [`run`]: the summary, and the cells of the rows with problems (for the
/// report), by row number.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// The summary.
    pub summary: ImportSummary,
    /// The headers of the file.
    pub headers: Vec<String>,
    /// The cells of each row with a problem.
    pub invalid_cells: BTreeMap<u32, Vec<String>>,
    /// Set when the file was refused (all or nothing, and invalid rows): why, for the
    /// `422 invalid_rows` answer ([`ImportOutcome::refusal`]).
    pub refused: Option<String>,
}

impl ImportOutcome {
    /// The error of a refused file: `422 invalid_rows` with the count of invalid rows.
    pub fn refusal(&self) -> Option<ApiError> {
        self.refused
            .as_ref()
            .map(|m| ApiError::unprocessable("invalid_rows", m.clone()))
    }
}

/// A table read from a file and its layout, checked for a header before any work starts.
#[derive(Debug, Clone)]
pub struct Roster {
    table: Vec<Vec<String>>,
    layout: roster::Layout,
}

impl Roster {
    /// Reads the file and finds its header row: `422 not_a_roster` for a file that is neither
    /// XLSX nor CSV, `422 no_header` when no row names the roster's columns.
    pub fn read(
        kind: Option<FileKind>,
        bytes: &[u8],
        mapping: &BTreeMap<String, ImportField>,
    ) -> ApiResult<Self> {
        let kind = kind.ok_or_else(|| {
            ApiError::unprocessable(
                "not_a_roster",
                "the file is neither an XLSX workbook nor a CSV file",
            )
        })?;
        let table = read::read_table(kind, bytes)
            .map_err(|e| ApiError::unprocessable("not_a_roster", e.to_string()))?;
        let layout = roster::layout(&table, mapping).ok_or_else(|| {
            ApiError::unprocessable(
                "no_header",
                "no header row naming the roster's columns (姓名, 身份证号, 地址 or 小区/门牌 ...) in the first 10 rows; name the columns with a mapping file",
            )
        })?;
        Ok(Self { table, layout })
    }

    /// Rows below the header.
    pub fn row_count(&self) -> usize {
        self.table.len().saturating_sub(self.layout.header_row + 1)
    }
}

/// The report workbook of the caller's finished import `id`. It repeats the invalid rows'
/// cells (ID numbers, phones) as the file had them, so handing it out is audited (as an
/// export: `{"list": "import_report", "import": id}`) before the first byte.
pub async fn download_report(
    app: &AppState,
    caller: &crate::auth::AuthUser,
    address: Option<std::net::IpAddr>,
    id: &str,
) -> ApiResult<Vec<u8>> {
    let bytes = app.imports.report(caller, id).await?;
    let user = crate::db::users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    crate::audit::record(
        &app.db,
        AuditEntry {
            detail: Some(
                serde_json::json!({ "list": "import_report", "format": "xlsx", "import": id }),
            ),
            ..AuditEntry::by(AuditAction::Export, &user, &caller.device, address)
        },
    )
    .await?;
    Ok(bytes)
}

/// The audit row of an import: who, which grid, and what it amounted to (counts only).
async fn audit(
    app: &AppState,
    importer: &Importer,
    options: &ImportOptions,
    s: &ImportSummary,
) -> ApiResult<()> {
    let entry = AuditEntry {
        actor: importer.user.clone(),
        device: importer.device.clone(),
        address: importer.address,
        ..AuditEntry::new(AuditAction::HouseholdImport, &importer.login)
    }
    .about(
        &format!("grid:{}", options.grid),
        serde_json::json!({
            "dry_run": options.dry_run,
            "partial": options.partial,
            "written": s.written,
            "rows": s.rows,
            "invalid_rows": s.invalid_rows,
            "households_created": s.households_created,
            "households_updated": s.households_updated,
            "households_unchanged": s.households_unchanged,
            "residents_created": s.residents_created,
            "residents_updated": s.residents_updated,
        }),
    );
    crate::audit::record(&app.db, entry).await?;
    Ok(())
}

/// Parses a mapping file (`{"column header": "field"}`): `422 bad_mapping` naming the first
/// field that is not an [`ImportField`].
pub fn parse_mapping(bytes: &[u8]) -> ApiResult<BTreeMap<String, ImportField>> {
    let raw: BTreeMap<String, String> = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::unprocessable(
            "bad_mapping",
            format!("the mapping is not a JSON object of header → field: {e}"),
        )
    })?;
    raw.into_iter()
        .map(|(header, field)| {
            let field = field.parse::<ImportField>().map_err(|_| {
                ApiError::unprocessable(
                    "bad_mapping",
                    format!(
                        "the mapping names an unknown field {field:?} (one of: {})",
                        ImportField::ALL
                            .iter()
                            .map(|f| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            Ok((header.trim().to_owned(), field))
        })
        .collect()
}

/// Checks the roster, plans its households against the grid's stored ones and, unless it is a
/// dry run or refused, writes them (see the module docs). The grid must exist; who may import
/// into it is the caller's business (the API checks the scope, the command line is the
/// operator's).
pub async fn run(
    app: &AppState,
    importer: &Importer,
    roster: Roster,
    options: &ImportOptions,
    progress: &Arc<Progress>,
) -> ApiResult<ImportOutcome> {
    let Roster { table, layout } = roster;
    progress.start(Phase::Checking, table.len());
    let today = Timestamp::from_millis(crate::db::now_millis()).china_date();
    let mut checked = {
        let ctx = app.validation.clone();
        let set = |done: usize, _total: usize| progress.set(done);
        roster::check_rows(&table, &layout, &ctx, today, &set)
    };
    let existing = write::Existing::load(app, &options.grid).await?;
    existing.check_household_ids(&mut checked, &layout);
    let households = roster::households(std::mem::take(&mut checked.people));
    progress.start(Phase::Preparing, households.len());
    let author = write::author(importer);
    let plan = write::plan(
        app,
        Arc::new(existing),
        &options.grid,
        households,
        author,
        progress.clone(),
    )
    .await?;
    let mut problems = checked.problems;
    problems.extend(plan.problems.iter().cloned());
    problems.sort_by_key(|p| p.row);
    let invalid: std::collections::BTreeSet<u32> = problems.iter().map(|p| p.row).collect();
    let invalid_cells = invalid
        .iter()
        .filter_map(|row| {
            let at = (*row as usize).checked_sub(1)?;
            Some((*row, table.get(at)?.clone()))
        })
        .collect();
    let mut summary = ImportSummary {
        rows: checked.rows,
        valid_rows: checked.rows.saturating_sub(invalid.len()),
        invalid_rows: invalid.len(),
        households_created: plan.created,
        households_updated: plan.updated,
        households_unchanged: plan.unchanged,
        residents_created: plan.residents_created,
        residents_updated: plan.residents_updated,
        written: false,
        dry_run: options.dry_run,
        partial: options.partial,
        columns: layout.columns(),
        problems,
    };
    let refused = (summary.invalid_rows > 0 && !options.partial).then(|| {
        format!(
            "{} of {} rows are invalid; nothing was written (see the report, or import with partial to write the valid rows)",
            summary.invalid_rows, summary.rows
        )
    });
    if refused.is_none() && !options.dry_run {
        progress.start(Phase::Writing, plan.pushes.len());
        write::write(app, importer, &options.grid, plan.pushes, progress).await?;
        summary.written = true;
    }
    audit(app, importer, options, &summary).await?;
    progress.start(Phase::Done, 0);
    Ok(ImportOutcome {
        summary,
        headers: layout.headers,
        invalid_cells,
        refused,
    })
}
