//! 三资 accounts: what the street office's collective assets (funds, fixed assets, resources)
//! earn and cost, and which leases run out soon.
//!
//! * `GET /v1/assets/accounts?community=&grid=&year=`: every asset of the place with its
//!   year's income and expense, the same period of the year before, the rent due and received,
//!   and the leases expiring within 90 days
//!   ([`EXPIRING_WITHIN_DAYS`](sync_core::models::asset::EXPIRING_WITHIN_DAYS); the dashboard
//!   shows them). Summed from `record_items` (the query index of leases and ledger entries), never by
//!   loading documents.
//! * `GET /v1/assets/{id}/account?year=`: one asset's account, from its document: its leases
//!   with their state, the ledger totals by month of the year and by year, and the year's
//!   ledger entries. `GET /v1/assets/{id}/account.xlsx` is the same as a workbook.
//!
//! Definitions, the same in both: the year runs to `as_of`, today when the year is the
//! current one, 31 December for a past year. *Rent due* is each lease's yearly rent for the
//! days of the lease within 1 January ..= `as_of` (a whole year's lease is due in full at the
//! year's end); *rent received* is the ledger's income in that span (a ledger entry does not
//! name its lease). *Previous year* is 1 January ..= the same day one year earlier. Amounts
//! are in fen (1/100 yuan).
//!
//! Who reads them: community and street supervisors and grid workers, within their scope.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sync_core::models::AnyRecord;
use sync_core::models::asset::{LeaseState, LedgerDirection, lease_state};
use sync_core::time::{Date, Timestamp};

use crate::auth::AuthUser;
use crate::db::{assets as store, now_millis, places};
use crate::error::{ApiError, ApiResult};
use crate::lists::reader;
use crate::records::load;
use crate::state::AppState;
use crate::vocabulary;

/// `GET /v1/assets/accounts` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// A community in the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// A grid in the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// The calendar year (`2026`); the current one by default.
    #[param(schema_with = crate::openapi::values::year)]
    year: Option<String>,
}

/// `GET /v1/assets/{id}/account` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// The calendar year (`2026`); the current one by default.
    #[param(schema_with = crate::openapi::values::year)]
    year: Option<String>,
}

/// A lease as the accounts read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseFact {
    /// The lease's id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Yearly rent, fen.
    pub rent_fen_per_year: i64,
}

/// A ledger entry as the accounts read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFact {
    /// The entry's id.
    pub id: String,
    /// Its day.
    pub on: Date,
    /// Income or expense.
    pub direction: LedgerDirection,
    /// Fen, positive.
    pub amount_fen: i64,
    /// What for.
    pub note: String,
}

/// A span of days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    from: Date,
    to: Date,
}

impl Span {
    fn contains(self, day: Date) -> bool {
        self.from <= day && day <= self.to
    }
    /// Days of `[start, end]` within the span.
    fn overlap_days(self, start: Date, end: Date) -> i64 {
        let from = start.max(self.from);
        let to = end.min(self.to);
        if to < from {
            0
        } else {
            (to.0 - from.0).num_days() + 1
        }
    }
}

/// The period an account covers: the year to `as_of`, and the same days a year before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountPeriod {
    year: i32,
    span: Option<Span>,
    previous: Option<Span>,
    today: Date,
}

impl AccountPeriod {
    /// The period of `year` seen on `today`: the whole year when it is past, up to today when
    /// it is the current one, nothing when it is still to come.
    pub fn new(year: i32, today: Date) -> Self {
        let first = |y: i32| Date::from_ymd(y, 1, 1);
        let last = |y: i32| Date::from_ymd(y, 12, 31);
        let as_of = match (first(year), last(year)) {
            (Some(f), Some(l)) if today >= f => Some(today.min(l)),
            _ => None,
        };
        let span = as_of.and_then(|to| {
            Some(Span {
                from: first(year)?,
                to,
            })
        });
        let previous = as_of.and_then(|to| {
            let to = to.0.with_year(year - 1).or_else(|| {
                // 29 February: the year before ends on the 28th.
                NaiveDate::from_ymd_opt(year - 1, 2, 28)
            })?;
            Some(Span {
                from: first(year - 1)?,
                to: Date(to),
            })
        });
        Self {
            year,
            span,
            previous,
            today,
        }
    }

    /// The last day counted (`None` for a year still to come).
    pub fn as_of(&self) -> Option<Date> {
        self.span.map(|s| s.to)
    }
}

/// Income and expense of a span, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Income.
    pub income_fen: i64,
    /// Expense.
    pub expense_fen: i64,
    /// Income minus expense.
    pub net_fen: i64,
}

impl Totals {
    fn add(&mut self, e: &LedgerFact) {
        match e.direction {
            LedgerDirection::Income => self.income_fen += e.amount_fen,
            LedgerDirection::Expense => self.expense_fen += e.amount_fen,
        }
        self.net_fen = self.income_fen - self.expense_fen;
    }
    fn sum(&mut self, o: &Self) {
        self.income_fen += o.income_fen;
        self.expense_fen += o.expense_fen;
        self.net_fen = self.income_fen - self.expense_fen;
    }
}

/// The year's figures of one asset or of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct YearFigures {
    /// The year to `as_of`.
    #[serde(flatten)]
    pub totals: Totals,
    /// Income from 1 January to the same day a year earlier.
    pub previous_income_fen: i64,
    /// Rent due for the year to `as_of` under the leases.
    pub rent_due_fen: i64,
    /// Income received in the same days (what the ledger shows).
    pub rent_received_fen: i64,
}

impl YearFigures {
    fn sum(&mut self, o: &Self) {
        self.totals.sum(&o.totals);
        self.previous_income_fen += o.previous_income_fen;
        self.rent_due_fen += o.rent_due_fen;
        self.rent_received_fen += o.rent_received_fen;
    }
}

/// The year's figures of an asset's leases and ledger.
pub fn year_figures(
    period: &AccountPeriod,
    leases: &[LeaseFact],
    ledger: &[LedgerFact],
) -> YearFigures {
    let mut out = YearFigures::default();
    let Some(span) = period.span else {
        return out;
    };
    for e in ledger {
        if span.contains(e.on) {
            out.totals.add(e);
        }
        if period.previous.is_some_and(|p| p.contains(e.on))
            && e.direction == LedgerDirection::Income
        {
            out.previous_income_fen += e.amount_fen;
        }
    }
    out.rent_received_fen = out.totals.income_fen;
    let days_in_year = if NaiveDate::from_ymd_opt(period.year, 2, 29).is_some() {
        366
    } else {
        365
    };
    out.rent_due_fen = leases
        .iter()
        .map(|l| {
            let days = span.overlap_days(l.start, l.end);
            // Rounded to the nearest fen; i128 keeps a huge rent from overflowing.
            let due = (i128::from(l.rent_fen_per_year) * i128::from(days) * 2 + days_in_year)
                / (2 * days_in_year);
            i64::try_from(due).unwrap_or(i64::MAX)
        })
        .fold(0i64, i64::saturating_add);
    out
}

/// A lease with where it stands today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeaseTerms {
    /// The lease's id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// Yearly rent, fen.
    pub rent_fen_per_year: i64,
    /// `upcoming`, `active`, `expiring` or `ended`.
    pub state: String,
    /// Its Chinese label.
    pub state_label: String,
    /// Days until its last day (negative once ended).
    pub days_left: i64,
}

fn terms(l: &LeaseFact, today: Date) -> LeaseTerms {
    let (state, days_left) = lease_state(l.start, l.end, today);
    LeaseTerms {
        id: l.id.clone(),
        tenant: l.tenant.clone(),
        start: l.start.to_string(),
        end: l.end.to_string(),
        rent_fen_per_year: l.rent_fen_per_year,
        state: state.as_str().to_owned(),
        state_label: vocabulary::zh("lease_state", state.as_str()),
        days_left,
    }
}

/// One asset in the accounts of a place.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssetSummary {
    /// The record id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `fund`, `fixed_asset` or `resource`.
    pub asset_kind: String,
    /// Its Chinese label.
    pub asset_kind_label: String,
    /// Community code and name.
    pub community: String,
    /// The community's name.
    pub community_name: String,
    /// Grid code.
    pub grid: String,
    /// The grid's name.
    pub grid_name: String,
    /// The year's figures.
    #[serde(flatten)]
    pub figures: YearFigures,
    /// Leases running today (expiring ones included).
    pub running_leases: i64,
}

/// A lease expiring soon, with its asset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExpiringLease {
    /// The asset's record id.
    pub asset: String,
    /// The asset's name.
    pub asset_name: String,
    /// The community's name.
    pub community_name: String,
    /// The lease.
    #[serde(flatten)]
    pub lease: LeaseTerms,
}

/// The answer of `GET /v1/assets/accounts`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Accounts {
    /// The year.
    pub year: i32,
    /// The last day counted (`null` for a year still to come).
    pub as_of: Option<String>,
    /// Every asset together.
    pub totals: YearFigures,
    /// Each asset, by community then name.
    pub assets: Vec<AssetSummary>,
    /// Leases running out within 90 days, soonest first.
    pub expiring_leases: Vec<ExpiringLease>,
}

/// Monthly totals of one asset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthTotals {
    /// `2026-03`.
    pub month: String,
    /// Its totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Yearly totals of one asset.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct YearTotals {
    /// The year.
    pub year: i32,
    /// Its totals (whole year).
    #[serde(flatten)]
    pub totals: Totals,
}

/// A ledger entry in an account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerLine {
    /// The entry's id.
    pub id: String,
    /// Its day.
    pub on: String,
    /// `income` or `expense`.
    pub direction: String,
    /// Its Chinese label.
    pub direction_label: String,
    /// Fen.
    pub amount_fen: i64,
    /// What for.
    pub note: String,
}

/// The answer of `GET /v1/assets/{id}/account`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    /// The asset.
    #[serde(flatten)]
    pub asset: AssetSummary,
    /// Its description.
    pub description: String,
    /// Its book value, fen.
    pub value_fen: i64,
    /// The year.
    pub year: i32,
    /// The last day counted (`null` for a year still to come).
    pub as_of: Option<String>,
    /// Its leases, by first day.
    pub leases: Vec<LeaseTerms>,
    /// The year's twelve months.
    pub months: Vec<MonthTotals>,
    /// Every year with ledger entries, the latest first.
    pub years: Vec<YearTotals>,
    /// The year's ledger entries, by day.
    pub ledger: Vec<LedgerLine>,
}

/// The first year an account can be asked for.
pub const MIN_YEAR: i32 = 2000;
/// The last year an account can be asked for.
pub const MAX_YEAR: i32 = 2100;

fn parse_year(text: Option<&String>, today: Date) -> ApiResult<i32> {
    match text.map(String::as_str).filter(|t| !t.is_empty()) {
        None => Ok(today.0.year()),
        Some(t) => t
            .parse::<i32>()
            .ok()
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .ok_or_else(|| {
                crate::http::params::malformed(format!(
                    "year: expected a year from {MIN_YEAR} to {MAX_YEAR}"
                ))
            }),
    }
}

fn today() -> Date {
    Timestamp::from_millis(now_millis()).china_date()
}

/// The accounts of the assets `caller` reads in the place asked for.
pub async fn accounts(app: &AppState, caller: &AuthUser, p: &AccountsQuery) -> ApiResult<Accounts> {
    let today = today();
    let year = parse_year(p.year.as_ref(), today)?;
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("assets")?;
    let period = AccountPeriod::new(year, today);
    let stored = store::assets_of(&app.db, &r.grids).await?;
    let names = place_names(app).await?;
    let mut totals = YearFigures::default();
    let mut assets = Vec::with_capacity(stored.len());
    let mut expiring = Vec::new();
    for a in &stored {
        let summary = summary_of(a, &period, &names);
        totals.sum(&summary.figures);
        for l in &a.leases {
            let t = terms(l, today);
            if t.state == LeaseState::Expiring.as_str() {
                expiring.push(ExpiringLease {
                    asset: a.id.clone(),
                    asset_name: a.name.clone(),
                    community_name: summary.community_name.clone(),
                    lease: t,
                });
            }
        }
        assets.push(summary);
    }
    assets.sort_by(|x, y| (&x.community, &x.name, &x.id).cmp(&(&y.community, &y.name, &y.id)));
    expiring.sort_by(|x, y| {
        (x.lease.days_left, &x.asset_name, &x.lease.id).cmp(&(
            y.lease.days_left,
            &y.asset_name,
            &y.lease.id,
        ))
    });
    Ok(Accounts {
        year,
        as_of: period.as_of().map(|d| d.to_string()),
        totals,
        assets,
        expiring_leases: expiring,
    })
}

type Names = HashMap<String, String>;

async fn place_names(app: &AppState) -> ApiResult<Names> {
    let h = places::hierarchy(&app.db).await?;
    Ok(h.communities
        .into_iter()
        .map(|c| (c.id, c.name))
        .chain(h.grids.into_iter().map(|g| (g.id, g.name)))
        .collect())
}

fn summary_of(a: &store::StoredAsset, period: &AccountPeriod, names: &Names) -> AssetSummary {
    let name_of = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    AssetSummary {
        id: a.id.clone(),
        name: a.name.clone(),
        asset_kind: a.asset_kind.clone(),
        asset_kind_label: vocabulary::zh("asset_kind", &a.asset_kind),
        community: a.community.clone(),
        community_name: name_of(&a.community),
        grid: a.grid.clone(),
        grid_name: name_of(&a.grid),
        figures: year_figures(period, &a.leases, &a.ledger),
        running_leases: a
            .leases
            .iter()
            .filter(|l| {
                matches!(
                    lease_state(l.start, l.end, period.today).0,
                    LeaseState::Active | LeaseState::Expiring
                )
            })
            .count() as i64,
    }
}

/// One asset's account, read from its document.
pub async fn account(
    app: &AppState,
    caller: &AuthUser,
    id: &str,
    p: &AccountQuery,
) -> ApiResult<Account> {
    let today = today();
    let year = parse_year(p.year.as_ref(), today)?;
    // The role first: nothing is loaded for a caller who may not read accounts at all.
    if matches!(
        caller.role,
        sync_core::record::Role::Liaison | sync_core::record::Role::Department
    ) {
        return Err(ApiError::forbidden(
            "forbidden",
            "only supervisors and grid workers read 三资 accounts",
        ));
    }
    let readable = load::readable(app, caller, id).await?;
    let Some(AnyRecord::Asset(asset)) = &readable.loaded.record.record else {
        return Err(ApiError::not_found("no such asset"));
    };
    let stored = store::StoredAsset {
        id: asset.id.to_string(),
        name: asset.name.clone(),
        asset_kind: asset.asset_kind.as_str().to_owned(),
        community: asset.place.community.to_string(),
        grid: asset.place.grid.to_string(),
        leases: asset
            .leases
            .iter()
            .map(|l| LeaseFact {
                id: l.id.to_string(),
                tenant: l.tenant.clone(),
                start: l.start,
                end: l.end,
                rent_fen_per_year: l.rent_fen_per_year,
            })
            .collect(),
        ledger: asset
            .ledger
            .iter()
            .map(|e| LedgerFact {
                id: e.id.to_string(),
                on: e.on,
                direction: e.direction,
                amount_fen: e.amount_fen,
                note: e.note.clone(),
            })
            .collect(),
    };
    let period = AccountPeriod::new(year, today);
    let names = place_names(app).await?;
    let mut leases: Vec<LeaseTerms> = stored.leases.iter().map(|l| terms(l, today)).collect();
    leases.sort_by(|a, b| (&a.start, &a.id).cmp(&(&b.start, &b.id)));
    let mut months: Vec<MonthTotals> = (1..=12)
        .map(|m| MonthTotals {
            month: format!("{year}-{m:02}"),
            totals: Totals::default(),
        })
        .collect();
    let mut years: BTreeMap<i32, Totals> = BTreeMap::new();
    let mut ledger: Vec<&LedgerFact> = Vec::new();
    for e in &stored.ledger {
        years.entry(e.on.0.year()).or_default().add(e);
        if e.on.0.year() == year {
            months[e.on.0.month0() as usize].totals.add(e);
            ledger.push(e);
        }
    }
    ledger.sort_by(|a, b| (a.on, &a.id).cmp(&(b.on, &b.id)));
    Ok(Account {
        asset: summary_of(&stored, &period, &names),
        description: asset.description.clone(),
        value_fen: asset.value_fen,
        year,
        as_of: period.as_of().map(|d| d.to_string()),
        leases,
        months,
        years: years
            .into_iter()
            .rev()
            .map(|(year, totals)| YearTotals { year, totals })
            .collect(),
        ledger: ledger
            .into_iter()
            .map(|e| LedgerLine {
                id: e.id.clone(),
                on: e.on.to_string(),
                direction: e.direction.as_str().to_owned(),
                direction_label: vocabulary::zh("ledger_direction", e.direction.as_str()),
                amount_fen: e.amount_fen,
                note: e.note.clone(),
            })
            .collect(),
    })
}

/// Yuan from fen, for a spreadsheet cell.
fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// One asset's account as a workbook: 概况 (the year's figures), 租赁合同 (the leases), 月度收支
/// (the year's months), 年度收支 (every year) and 收支台账 (the year's entries). Amounts in
/// yuan.
pub fn account_workbook(a: &Account) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let f = &a.asset.figures;
    let sheet = book.add_worksheet();
    sheet.set_name("概况")?;
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 40)?;
    let as_of = a.as_of.clone().unwrap_or_else(|| "—".to_owned());
    let texts: [(&str, String); 7] = [
        ("资产名称", a.asset.name.clone()),
        ("类别", a.asset.asset_kind_label.clone()),
        ("社区", a.asset.community_name.clone()),
        ("网格", a.asset.grid_name.clone()),
        ("说明", a.description.clone()),
        ("年度", a.year.to_string()),
        ("统计截至", as_of),
    ];
    let mut row = 0u32;
    for (label, value) in &texts {
        sheet.write_string_with_format(row, 0, *label, &bold)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    let amounts: [(&str, i64); 7] = [
        ("账面价值（元）", a.value_fen),
        ("本年收入（元）", f.totals.income_fen),
        ("本年支出（元）", f.totals.expense_fen),
        ("本年结余（元）", f.totals.net_fen),
        ("上年同期收入（元）", f.previous_income_fen),
        ("应收租金（元）", f.rent_due_fen),
        ("实收（元）", f.rent_received_fen),
    ];
    for (label, fen) in amounts {
        sheet.write_string_with_format(row, 0, label, &bold)?;
        sheet.write_number_with_format(row, 1, yuan(fen), &money)?;
        row += 1;
    }

    let sheet = book.add_worksheet();
    sheet.set_name("租赁合同")?;
    for (c, h) in [
        "承租方",
        "起租日",
        "到期日",
        "年租金（元）",
        "状态",
        "剩余天数",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, l) in a.leases.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, &l.tenant)?;
        sheet.write_string(r, 1, &l.start)?;
        sheet.write_string(r, 2, &l.end)?;
        sheet.write_number_with_format(r, 3, yuan(l.rent_fen_per_year), &money)?;
        sheet.write_string(r, 4, &l.state_label)?;
        sheet.write_number(r, 5, l.days_left as f64)?;
    }

    let totals_header = |sheet: &mut rust_xlsxwriter::Worksheet, first: &str| {
        for (c, h) in [first, "收入（元）", "支出（元）", "结余（元）"]
            .iter()
            .enumerate()
        {
            sheet.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        Ok::<(), rust_xlsxwriter::XlsxError>(())
    };
    let write_totals = |sheet: &mut rust_xlsxwriter::Worksheet, r: u32, t: &Totals| {
        sheet.write_number_with_format(r, 1, yuan(t.income_fen), &money)?;
        sheet.write_number_with_format(r, 2, yuan(t.expense_fen), &money)?;
        sheet.write_number_with_format(r, 3, yuan(t.net_fen), &money)?;
        Ok::<(), rust_xlsxwriter::XlsxError>(())
    };
    let sheet = book.add_worksheet();
    sheet.set_name("月度收支")?;
    totals_header(sheet, "月份")?;
    for (i, m) in a.months.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, &m.month)?;
        write_totals(sheet, r, &m.totals)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("年度收支")?;
    totals_header(sheet, "年度")?;
    for (i, y) in a.years.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_number(r, 0, f64::from(y.year))?;
        write_totals(sheet, r, &y.totals)?;
    }
    let sheet = book.add_worksheet();
    sheet.set_name("收支台账")?;
    for (c, h) in ["日期", "收支", "金额（元）", "摘要"].iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, e) in a.ledger.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, &e.on)?;
        sheet.write_string(r, 1, &e.direction_label)?;
        sheet.write_number_with_format(r, 2, yuan(e.amount_fen), &money)?;
        // Always a string cell: a note that looks like a formula stays text.
        sheet.write_string(r, 3, &e.note)?;
    }
    Ok(book.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        text.parse().expect("a date")
    }

    fn income(on: &str, fen: i64) -> LedgerFact {
        LedgerFact {
            id: format!("e-{on}-{fen}"),
            on: day(on),
            direction: LedgerDirection::Income,
            amount_fen: fen,
            note: String::new(),
        }
    }

    /// Hand-counted: a 36,500-yuan lease over the whole year is due in proportion to the days
    /// passed; income and the previous year's income are counted to the same day.
    #[test]
    fn the_year_to_date_is_counted_by_hand() {
        let period = AccountPeriod::new(2026, day("2026-03-31"));
        let leases = [LeaseFact {
            id: "l".into(),
            tenant: "冉记粉馆".into(),
            start: day("2025-07-01"),
            end: day("2027-06-30"),
            rent_fen_per_year: 3_650_000,
        }];
        let mut ledger = vec![
            income("2026-01-05", 300_000),
            income("2026-03-31", 300_000),
            income("2026-04-01", 999_999),
            income("2025-02-01", 250_000),
            income("2025-04-01", 777_777),
        ];
        ledger.push(LedgerFact {
            direction: LedgerDirection::Expense,
            ..income("2026-02-10", 80_000)
        });
        let f = year_figures(&period, &leases, &ledger);
        assert_eq!(f.totals.income_fen, 600_000);
        assert_eq!(f.totals.expense_fen, 80_000);
        assert_eq!(f.totals.net_fen, 520_000);
        assert_eq!(f.previous_income_fen, 250_000, "2025 to 31 March only");
        // 90 days (31 + 28 + 31) of 365 at 10,000 fen a day.
        assert_eq!(f.rent_due_fen, 900_000);
        assert_eq!(f.rent_received_fen, 600_000);
    }

    #[test]
    fn a_past_year_counts_whole_and_a_future_year_counts_nothing() {
        let today = day("2026-12-06");
        let past = AccountPeriod::new(2025, today);
        assert_eq!(past.as_of(), Some(day("2025-12-31")));
        let future = AccountPeriod::new(2027, today);
        assert_eq!(future.as_of(), None);
        let ledger = [income("2027-01-02", 100)];
        assert_eq!(year_figures(&future, &[], &ledger), YearFigures::default());
        // A leap day's previous year ends on 28 February.
        let leap = AccountPeriod::new(2028, day("2028-02-29"));
        assert_eq!(leap.previous.map(|p| p.to), Some(day("2027-02-28")));
    }

    #[test]
    fn leases_expire_within_ninety_days() {
        let today = day("2026-12-06");
        let state = |end: &str| lease_state(day("2026-01-01"), day(end), today);
        assert_eq!(state("2027-03-06"), (LeaseState::Expiring, 90));
        assert_eq!(state("2027-03-07"), (LeaseState::Active, 91));
        assert_eq!(state("2026-12-05"), (LeaseState::Ended, -1));
        assert_eq!(
            lease_state(day("2027-01-01"), day("2028-01-01"), today).0,
            LeaseState::Upcoming
        );
    }
}
