//! `GET /v1/exports/{list}.{csv|xlsx}`: a list as a file, with Chinese column headers:
//! supervisors' `households`, `cases`, `visits`, `patrols`, `activities`,
//! `party-registrations`, `assets` and `conflicts` (the conflict inbox), and administrators'
//! `audit` (the audit log; it holds no revealed value).
//!
//! An export takes the same filters, sort and scope rules as its list ([`crate::lists`]),
//! without pagination (`page` / `per_page` are `400 malformed`).
//! Rows come from the query indexes in pages of [`PAGE_ROWS`] and are written to the response
//! body as they come, so memory stays flat however long the list: CSV (UTF-8 with a byte-order
//! mark, for Excel) page by page; XLSX through `rust_xlsxwriter`'s constant-memory worksheet
//! (rows spill to a temporary file), its zip written straight into the body. The index holds
//! no ID number or phone number, so no export does either.
//!
//! Every export writes an audit row (`export`, with the list, the format and the filters)
//! before the first byte leaves. A failure after the headers are sent aborts the body (the
//! client sees a broken transfer, never a short file that looks complete).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeZone;
use serde::de::DeserializeOwned;
use serde_json::json;
use sync_core::record::RecordKind;
use tokio::sync::mpsc;

use crate::audit::{self, AuditAction, AuditEntry, AuditFilter};
use crate::auth::AuthUser;
use crate::db::index as idx;
use crate::db::query::{Filter, Page};
use crate::db::{Db, now_millis, places, users};
use crate::error::{ApiError, ApiResult};
use crate::http::params::{codes, malformed};
use crate::index;
use crate::lists::audit::{self as audit_list, AuditParams};
use crate::lists::conflicts::{self, ConflictQuery, conflict_filter};
use crate::lists::records::{self, ActivityQuery, CaseQuery, HouseholdQuery};
use crate::state::AppState;

/// Most links to records' pages in one worksheet (Excel's limit is 65,530); later rows get
/// the count alone.
const MAX_LINKS: usize = 65_000;

/// Rows read from the index per query.
pub const PAGE_ROWS: i64 = 2000;
/// Bytes gathered before a chunk of an XLSX body is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the writer and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// The lists that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Households,
    Cases,
    Other(RecordKind),
    Conflicts,
    Audit,
}

impl List {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "households" => Self::Households,
            "cases" => Self::Cases,
            "visits" => Self::Other(RecordKind::Visit),
            "patrols" => Self::Other(RecordKind::Patrol),
            "activities" => Self::Other(RecordKind::Activity),
            "party-registrations" => Self::Other(RecordKind::PartyRegistration),
            "assets" => Self::Other(RecordKind::Asset),
            "conflicts" => Self::Conflicts,
            "audit" => Self::Audit,
            _ => return None,
        })
    }

    fn headers(self) -> &'static [&'static str] {
        match self {
            Self::Households => &[
                "编号",
                "社区",
                "网格",
                "小区",
                "楼栋",
                "单元",
                "房号",
                "地址",
                "状态",
                "在住人数",
                "特殊群体",
                "标签",
                "联户分组",
                "更新时间",
                "照片",
            ],
            Self::Cases => &[
                "编号",
                "社区",
                "网格",
                "类型",
                "类别",
                "事由",
                "状态",
                "时限",
                "上报街道",
                "督办",
                "承办人",
                "上报人",
                "上报时间",
                "办结时间",
                "结案时间",
                "当前环节",
                "截止时间",
                "更新时间",
                "照片",
            ],
            Self::Other(RecordKind::Visit) => &[
                "编号",
                "社区",
                "网格",
                "走访时间",
                "方式",
                "住户",
                "网格员",
                "摘要",
                "更新时间",
                "照片",
            ],
            Self::Other(RecordKind::Patrol) => &[
                "编号",
                "社区",
                "网格",
                "开始时间",
                "人数",
                "路线",
                "更新时间",
                "照片",
            ],
            Self::Other(RecordKind::Activity) => &[
                "编号",
                "社区",
                "网格",
                "时间",
                "类型",
                "组织者",
                "参与人数",
                "标题",
                "更新时间",
            ],
            Self::Other(RecordKind::PartyRegistration) => &[
                "编号",
                "社区",
                "网格",
                "报到日期",
                "类型",
                "住户",
                "名称",
                "更新时间",
            ],
            Self::Other(_) => &["编号", "社区", "网格", "类型", "名称", "更新时间"],
            Self::Conflicts => &[
                "编号",
                "记录类型",
                "社区",
                "网格",
                "冲突字段数",
                "不合规办理事件数",
                "合并校验问题",
                "更新时间",
            ],
            Self::Audit => &[
                "时间",
                "操作",
                "账号",
                "用户编号",
                "设备",
                "记录",
                "字段",
                "理由",
                "详情",
                "地址",
            ],
        }
    }

    /// A record list's sheet is named by its kind's label in the vocabulary (one name per
    /// code, as in the console).
    fn sheet_name(self) -> String {
        match self {
            Self::Households => zh("record_kind", RecordKind::Household.as_str()),
            Self::Cases => zh("record_kind", RecordKind::Case.as_str()),
            Self::Other(kind) => zh("record_kind", kind.as_str()),
            Self::Conflicts => "冲突待办".to_owned(),
            Self::Audit => "审计日志".to_owned(),
        }
    }
}

/// One cell.
#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Int(i64),
    /// The 照片 column: how many photos and files the record has, and in a workbook a link to
    /// its console page (`page`, e.g. `#/cases/{id}`), where a signed-in supervisor sees them.
    Photos {
        count: i64,
        page: String,
    },
    Empty,
}

impl Cell {
    fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    fn opt(s: Option<impl Into<String>>) -> Self {
        s.map_or(Self::Empty, |s| Self::Text(s.into()))
    }

    /// The cell's CSV text. Text goes through [`csv_text`]; numbers are written as numbers
    /// (digits, possibly after a `-`, which a spreadsheet reads as a number, never a formula).
    fn csv(&self) -> String {
        match self {
            Self::Text(s) => csv_text(s),
            Self::Int(i) | Self::Photos { count: i, .. } => i.to_string(),
            Self::Empty => String::new(),
        }
    }
}

/// Text as a CSV cell that a spreadsheet shows as text and never runs as a formula (OWASP,
/// "CSV injection"): text starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'`. Free text (addresses, subjects) and attacker-chosen text (a failed sign-in's
/// login in the audit log) reach every export, so every text cell of every CSV export goes
/// through here. XLSX needs no prefix: its cells are written as strings, never formulas.
pub fn csv_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// China time, `2026-03-04 10:12`.
fn local_time(ms: Option<i64>) -> Cell {
    let tz = sync_core::time::china_offset();
    match ms.and_then(|ms| tz.timestamp_millis_opt(ms).single()) {
        Some(t) => Cell::Text(t.format("%Y-%m-%d %H:%M").to_string()),
        None => Cell::Empty,
    }
}

fn local_day(ms: Option<i64>) -> Cell {
    match local_time(ms) {
        Cell::Text(s) => Cell::Text(s.chars().take(10).collect()),
        other => other,
    }
}

/// The Chinese label of `code` in vocabulary group `group` ([`crate::vocabulary`]).
fn zh(group: &str, code: &str) -> String {
    crate::vocabulary::zh(group, code)
}

/// Codes of a list column (`,a,b,`) as their labels, joined with 、.
fn zh_list(group: &str, list: &str) -> String {
    codes(list)
        .into_iter()
        .map(|c| zh(group, c))
        .collect::<Vec<_>>()
        .join("、")
}

/// What an export reads: the list, its filter and order, and the names of places, people and
/// departments (exports show names, never ids or codes, where a name exists).
#[derive(Debug, Clone)]
struct Source {
    list: List,
    filter: Filter,
    /// The filter of the audit log (only for [`List::Audit`]).
    audit: AuditFilter,
    order_by: &'static str,
    now: i64,
    names: HashMap<String, String>,
    /// The console's address as the caller reached it (`https://host/console/`), for the
    /// workbook's links to records' pages; `None` when the request did not say.
    console: Option<String>,
}

impl Source {
    fn name(&self, id: &str) -> Cell {
        Cell::text(self.names.get(id).map_or(id, String::as_str))
    }

    fn opt_name(&self, id: Option<&str>) -> Cell {
        id.map_or(Cell::Empty, |id| self.name(id))
    }

    /// The 照片 cells of a page of records (`route`: the console's hash route of their
    /// kind, `cases`, `households`, `visits`, `patrols`).
    async fn photos(
        db: &Db,
        ids: &[String],
        route: &str,
    ) -> Result<HashMap<String, Cell>, sqlx::Error> {
        let counts = crate::db::blobs::attachment_counts(db, ids).await?;
        Ok(ids
            .iter()
            .map(|id| {
                let cell = Cell::Photos {
                    count: counts.get(id).copied().unwrap_or(0),
                    page: format!("#/{route}/{id}"),
                };
                (id.clone(), cell)
            })
            .collect())
    }

    /// The rows from `offset`, at most [`PAGE_ROWS`].
    async fn page(&self, db: &Db, offset: i64) -> Result<Vec<Vec<Cell>>, sqlx::Error> {
        let page = Page {
            order_by: self.order_by,
            limit: PAGE_ROWS,
            offset,
        };
        Ok(match self.list {
            List::Households => {
                let (rows, _) = idx::list_households(db, &self.filter, page).await?;
                let ids: Vec<String> = rows.iter().map(|(h, _)| h.id.clone()).collect();
                let mut photos = Self::photos(db, &ids, "households").await?;
                rows.into_iter()
                    .map(|(h, updated)| {
                        let photo = photos.remove(&h.id).unwrap_or(Cell::Empty);
                        let address = sync_core::models::household::Address {
                            compound: h.compound.clone(),
                            building: h.building.clone(),
                            unit: h.unit.clone(),
                            room: h.room.clone(),
                        }
                        .to_chinese();
                        vec![
                            Cell::text(h.id),
                            self.name(&h.community_id),
                            self.name(&h.grid_id),
                            Cell::text(h.compound),
                            Cell::text(h.building),
                            Cell::text(h.unit),
                            Cell::text(h.room),
                            Cell::text(address),
                            Cell::text(zh("household_status", &h.status)),
                            Cell::Int(h.residents),
                            Cell::text(zh_list("special_group", &h.special_groups)),
                            Cell::text(zh_list("household_tag", &h.tags)),
                            Cell::opt(h.liaison_group),
                            local_time(Some(updated)),
                            photo,
                        ]
                    })
                    .collect()
            }
            List::Cases => {
                let (rows, _) = idx::list_cases(db, &self.filter, page).await?;
                let ids: Vec<String> = rows.iter().map(|(c, _)| c.id.clone()).collect();
                let mut photos = Self::photos(db, &ids, "cases").await?;
                rows.into_iter()
                    .map(|(c, updated)| {
                        let photo = photos.remove(&c.id).unwrap_or(Cell::Empty);
                        let level =
                            index::level_at(&c, self.now).map(|l| zh("deadline_level", l.as_str()));
                        vec![
                            Cell::text(c.id),
                            self.name(&c.community_id),
                            self.name(&c.grid_id),
                            Cell::text(zh("case_kind", &c.case_kind)),
                            Cell::text(zh("case_category", &c.category)),
                            Cell::text(c.subject),
                            Cell::text(zh("case_state", &c.state)),
                            Cell::opt(level),
                            Cell::text(if c.escalated { "是" } else { "否" }),
                            Cell::opt(c.supervision.as_deref().map(|s| zh("supervision_level", s))),
                            // The handler: a person, or a department of the street.
                            self.opt_name(c.assignee.as_deref().or(c.department.as_deref())),
                            self.name(&c.opened_by),
                            local_time(Some(c.opened_at)),
                            local_time(c.resolved_at),
                            local_time(c.closed_at),
                            Cell::opt(c.step.as_deref().map(|s| zh("step", s))),
                            local_time(c.due_at),
                            local_time(Some(updated)),
                            photo,
                        ]
                    })
                    .collect()
            }
            List::Other(kind) => {
                let (rows, _) = idx::list_activities(db, &self.filter, page).await?;
                let households: Vec<String> = rows
                    .iter()
                    .filter_map(|(a, _)| a.household.clone())
                    .collect();
                let addresses = idx::household_addresses(db, &households).await?;
                let route = match kind {
                    RecordKind::Visit => Some("visits"),
                    RecordKind::Patrol => Some("patrols"),
                    _ => None,
                };
                let mut photos = match route {
                    Some(route) => {
                        let ids: Vec<String> = rows.iter().map(|(a, _)| a.id.clone()).collect();
                        Self::photos(db, &ids, route).await?
                    }
                    None => HashMap::new(),
                };
                let address = |id: Option<String>| {
                    id.map_or(Cell::Empty, |id| {
                        Cell::text(addresses.get(&id).cloned().unwrap_or(id))
                    })
                };
                rows.into_iter()
                    .map(|(a, updated)| {
                        let photo = photos.remove(&a.id);
                        let mut row = vec![
                            Cell::text(a.id),
                            self.name(&a.community_id),
                            self.name(&a.grid_id),
                        ];
                        let group = match kind {
                            RecordKind::Visit => "visit_method",
                            RecordKind::Activity => "activity_kind",
                            RecordKind::PartyRegistration => "registrant_kind",
                            _ => "asset_kind",
                        };
                        let subtype = Cell::opt(a.subtype.as_deref().map(|s| zh(group, s)));
                        let count = a.head_count.map_or(Cell::Empty, Cell::Int);
                        match kind {
                            RecordKind::Visit => row.extend([
                                local_time(a.at),
                                subtype,
                                address(a.household),
                                self.opt_name(a.worker.as_deref()),
                                Cell::text(a.label),
                            ]),
                            RecordKind::Patrol => {
                                row.extend([local_time(a.at), count, Cell::text(a.label)]);
                            }
                            RecordKind::Activity => row.extend([
                                local_time(a.at),
                                subtype,
                                self.opt_name(a.worker.as_deref()),
                                count,
                                Cell::text(a.label),
                            ]),
                            RecordKind::PartyRegistration => row.extend([
                                local_day(a.at),
                                subtype,
                                address(a.household),
                                Cell::text(a.label),
                            ]),
                            _ => row.extend([subtype, Cell::text(a.label)]),
                        }
                        row.push(local_time(Some(updated)));
                        row.extend(photo);
                        row
                    })
                    .collect()
            }
            List::Conflicts => {
                let (rows, _) = idx::list_conflicts(db, &self.filter, page).await?;
                rows.into_iter()
                    .map(|(c, updated)| {
                        vec![
                            Cell::text(c.id),
                            Cell::text(zh("record_kind", &c.kind)),
                            self.name(&c.community_id),
                            self.name(&c.grid_id),
                            Cell::Int(c.fields),
                            Cell::Int(c.illegal_events),
                            Cell::text(if c.merged_invalid { "是" } else { "否" }),
                            local_time(Some(updated)),
                        ]
                    })
                    .collect()
            }
            List::Audit => {
                let (rows, _) = crate::db::audit::list(db, &self.audit, PAGE_ROWS, offset).await?;
                rows.into_iter()
                    .map(|a| {
                        vec![
                            local_time(Some(a.at)),
                            Cell::text(zh("audit_action", &a.action)),
                            Cell::text(a.actor_login),
                            Cell::opt(a.actor_id),
                            Cell::opt(a.device_id),
                            Cell::opt(a.record_id),
                            Cell::opt(a.field),
                            Cell::opt(a.reason),
                            Cell::opt(a.detail),
                            Cell::opt(a.address),
                        ]
                    })
                    .collect()
            }
        })
    }
}

/// The list's query parameters, decoded as its list route decodes them.
fn query_of<T: DeserializeOwned>(uri: &Uri) -> ApiResult<T> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(q)| q)
        .map_err(|e| malformed(e.body_text()))
}

fn not_paginated(page: Option<u32>, per_page: Option<u32>) -> ApiResult<()> {
    if page.is_some() || per_page.is_some() {
        return Err(malformed(
            "exports are not paginated: drop page and per_page",
        ));
    }
    Ok(())
}

type Chunk = Result<Bytes, std::io::Error>;

fn body_of(rx: mpsc::Receiver<Chunk>) -> Body {
    Body::from_stream(ChunkStream(rx))
}

/// The response body's chunks as a stream (ends, and stays ended, when the writer is done).
#[derive(Debug)]
struct ChunkStream(mpsc::Receiver<Chunk>);

impl futures_util::Stream for ChunkStream {
    type Item = Chunk;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}

fn aborted() -> std::io::Error {
    std::io::Error::other("the export failed")
}

/// Streams list `file` (`households.csv`, `cases.xlsx`, ...) with the filters of `uri`'s query
/// to `caller`, after writing the export to the audit log.
pub async fn export(
    app: &AppState,
    caller: &AuthUser,
    addr: Option<IpAddr>,
    file: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (name, format) = file
        .rsplit_once('.')
        .ok_or_else(|| ApiError::not_found("expected /v1/exports/{list}.csv or .xlsx"))?;
    let list = List::parse(name).ok_or_else(|| {
        ApiError::not_found(
            "no such list (households, cases, visits, patrols, activities, party-registrations, assets, conflicts, audit)",
        )
    })?;
    let xlsx = match format {
        "csv" => false,
        "xlsx" => true,
        _ => return Err(ApiError::not_found("exports are .csv or .xlsx")),
    };
    let now = now_millis();
    let mut audit_filter = AuditFilter::default();
    let (filter, order_by) = match list {
        List::Households => {
            let p: HouseholdQuery = query_of(uri)?;
            not_paginated(p.page, p.per_page)?;
            records::household_filter(app, caller, &p).await?
        }
        List::Cases => {
            let p: CaseQuery = query_of(uri)?;
            not_paginated(p.page, p.per_page)?;
            records::case_filter(app, caller, &p, now).await?
        }
        List::Other(kind) => {
            let p: ActivityQuery = query_of(uri)?;
            not_paginated(p.page, p.per_page)?;
            records::activity_filter(app, caller, &p, kind, name).await?
        }
        List::Conflicts => {
            let p: ConflictQuery = query_of(uri)?;
            not_paginated(p.page, p.per_page)?;
            (conflict_filter(app, caller, &p).await?, conflicts::ORDER_BY)
        }
        List::Audit => {
            let p: AuditParams = query_of(uri)?;
            if p.page.is_some() || p.per_page.is_some() {
                return Err(malformed(
                    "exports are not paginated: drop page and per_page",
                ));
            }
            audit_filter = audit_list::audit_filter(caller, &p)?;
            (Filter::default(), "")
        }
    };
    let filters: BTreeMap<String, String> = query_of(uri)?;
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    audit::record(
        &app.db,
        AuditEntry {
            detail: Some(json!({ "list": name, "format": format, "filters": filters })),
            ..AuditEntry::by(AuditAction::Export, &user, &caller.device, addr)
        },
    )
    .await?;
    let hierarchy = places::hierarchy(&app.db).await?;
    let mut names: HashMap<String, String> = hierarchy
        .communities
        .into_iter()
        .map(|c| (c.id, c.name))
        .chain(hierarchy.grids.into_iter().map(|g| (g.id, g.name)))
        .chain(
            places::departments(&app.db)
                .await?
                .into_iter()
                .map(|d| (d.id, d.name)),
        )
        .collect();
    names.extend(users::display_names(&app.db).await?);
    let source = Source {
        list,
        filter,
        audit: audit_filter,
        order_by,
        now,
        names,
        console: console_address(headers),
    };
    let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let db = app.db.clone();
    let (content_type, extension) = if xlsx {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK_BYTES),
            };
            if let Err(e) = write_xlsx(&handle, &db, &source, &mut out) {
                tracing::warn!(error = %e, "xlsx export aborted");
                let _ = tx.blocking_send(Err(aborted()));
            }
        });
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        )
    } else {
        tokio::spawn(async move {
            if let Err(e) = write_csv(&db, &source, &tx).await {
                tracing::warn!(error = %e, "csv export aborted");
                let _ = tx.send(Err(aborted())).await;
            }
        });
        ("text/csv; charset=utf-8", "csv")
    };
    let day = local_day(Some(now)).csv();
    let disposition = format!("attachment; filename=\"{name}-{day}.{extension}\"");
    let mut response = body_of(rx).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The console's address as the caller reached this server (`Host`, and
/// `X-Forwarded-Proto` when a proxy in front says `https`), for the links of a workbook. The
/// links lead to the console's pages, which ask whoever opens them to sign in: they grant
/// nothing by themselves. `None` for a host that is not a plain host name or address.
fn console_address(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !plain {
        return None;
    }
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}/console/"))
}

/// A small file made in memory (an account, a report) as a download: its type, an
/// attachment named `name` (ASCII), never cached.
pub fn file_response(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut response = Bytes::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Writes the CSV page by page into the channel; stops quietly when the client has gone.
async fn write_csv(db: &Db, source: &Source, tx: &mpsc::Sender<Chunk>) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(CHUNK_BYTES));
    w.write_record(source.list.headers())?;
    let mut head = vec![0xEF, 0xBB, 0xBF];
    head.extend(w.into_inner()?);
    if tx.send(Ok(Bytes::from(head))).await.is_err() {
        return Ok(());
    }
    let mut offset = 0;
    loop {
        let rows = source.page(db, offset).await?;
        let mut w = csv::Writer::from_writer(Vec::with_capacity(CHUNK_BYTES));
        for row in &rows {
            w.write_record(row.iter().map(Cell::csv))?;
        }
        let bytes = w.into_inner()?;
        if !bytes.is_empty() && tx.send(Ok(Bytes::from(bytes))).await.is_err() {
            return Ok(());
        }
        if (rows.len() as i64) < PAGE_ROWS {
            return Ok(());
        }
        offset += PAGE_ROWS;
    }
}

/// Writes the workbook (one constant-memory worksheet) into `out`, reading rows page by page.
fn write_xlsx(
    handle: &tokio::runtime::Handle,
    db: &Db,
    source: &Source,
    out: &mut ChannelWriter,
) -> anyhow::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(source.list.sheet_name())?;
    for (c, h) in source.list.headers().iter().enumerate() {
        sheet.write_string_with_format(0, u16::try_from(c)?, *h, &bold)?;
    }
    let mut row_no: u32 = 1;
    let mut offset = 0;
    let mut links = 0;
    loop {
        let rows = handle.block_on(source.page(db, offset))?;
        for row in &rows {
            for (c, cell) in row.iter().enumerate() {
                let c = u16::try_from(c)?;
                match cell {
                    // Always a string cell: text that looks like a formula stays text.
                    Cell::Text(s) => {
                        sheet.write_string(row_no, c, s)?;
                    }
                    Cell::Int(i) => {
                        sheet.write_number(row_no, c, *i as f64)?;
                    }
                    // A record with photos links to its console page (sign-in required).
                    Cell::Photos { count, page } => match &source.console {
                        Some(console) if *count > 0 && links < MAX_LINKS => {
                            links += 1;
                            sheet.write_url_with_options(
                                row_no,
                                c,
                                format!("{console}{page}").as_str(),
                                count.to_string(),
                                "在督办工作台查看照片（需登录）",
                                None,
                            )?;
                        }
                        _ => {
                            sheet.write_number(row_no, c, *count as f64)?;
                        }
                    },
                    Cell::Empty => {}
                }
            }
            row_no += 1;
        }
        if (rows.len() as i64) < PAGE_ROWS {
            break;
        }
        offset += PAGE_ROWS;
    }
    workbook.save_to_writer(&mut *out)?;
    out.flush()?;
    Ok(())
}

/// An `io::Write` sending chunks of [`CHUNK_BYTES`] into the response body's channel.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for ChannelWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelWriter")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_neutralises_what_a_spreadsheet_would_run() {
        for (given, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\r=1", "'\r=1"),
            ("乌江水岸", "乌江水岸"),
            ("3-402", "3-402"),
            (" =1", " =1"),
            ("", ""),
        ] {
            assert_eq!(csv_text(given), written, "{given:?}");
        }
        assert_eq!(Cell::Int(-5).csv(), "-5");
        assert_eq!(Cell::text("=1").csv(), "'=1");
    }

    /// Workbook links lead to the console at the address the request came to, and only for
    /// a plain host: a `Host` header with anything else in it gets no link.
    #[test]
    fn console_links_use_a_plain_host_only() {
        let headers = |host: &'static str, proto: Option<&'static str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            if let Some(p) = proto {
                h.insert("x-forwarded-proto", HeaderValue::from_static(p));
            }
            h
        };
        assert_eq!(
            console_address(&headers("gridbook.example.cn", None)).as_deref(),
            Some("http://gridbook.example.cn/console/")
        );
        assert_eq!(
            console_address(&headers("10.0.0.5:8080", Some("https"))).as_deref(),
            Some("https://10.0.0.5:8080/console/")
        );
        assert_eq!(
            console_address(&headers("[::1]:80", Some("gopher"))).as_deref(),
            Some("http://[::1]:80/console/")
        );
        for bad in ["evil.example/x?", "a b", "x\"onmouseover", "user@host", ""] {
            assert_eq!(console_address(&headers(bad, None)), None, "{bad:?}");
        }
        assert_eq!(console_address(&HeaderMap::new()), None);
    }

    /// One name per code: each record list's sheet is its kind's name in the vocabulary (a
    /// case list is 案件, not 事件; party registrations 双报到, not 党员报到; patrols 巡逻).
    #[test]
    fn sheets_are_named_as_the_vocabulary_names_their_kind() {
        for (list, kind) in [
            ("households", RecordKind::Household),
            ("cases", RecordKind::Case),
            ("visits", RecordKind::Visit),
            ("patrols", RecordKind::Patrol),
            ("activities", RecordKind::Activity),
            ("party-registrations", RecordKind::PartyRegistration),
            ("assets", RecordKind::Asset),
        ] {
            let sheet = List::parse(list).map(List::sheet_name);
            let label = sync_core::vocab::lookup(
                &crate::vocabulary::groups(),
                "record_kind",
                kind.as_str(),
            )
            .map(|e| e.zh.to_owned());
            assert_eq!(sheet, label, "{list}");
        }
        assert_eq!(
            List::parse("cases").map(List::sheet_name).as_deref(),
            Some("案件")
        );
        // The case list's closing column is named as the closed state is.
        let closing = List::Cases.headers().contains(&"结案时间");
        assert!(closing, "{:?}", List::Cases.headers());
    }
}
