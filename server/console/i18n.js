// Interface text: Chinese by default, English on request (the switch in the header).
// Keys are English identifiers; enum values from the API are looked up under their own code.

const zh = {
  app: "网格通", app_sub: "督办工作台",
  sign_in: "登录", sign_out: "退出", login: "账号", password: "密码",
  bad_credentials: "账号或密码错误", slowed_down: "尝试过多，请稍后再试",
  change_password: "修改密码", old_password: "原密码", new_password: "新密码", repeat_password: "再次输入新密码",
  password_reset_notice: "管理员已重置您的密码，请先设置新密码", passwords_differ: "两次输入的新密码不一致",
  wrong_password: "原密码错误", weak_password: "密码须为 8 到 1024 个字符", common_password: "密码过于常见，请另选",
  password_is_login: "密码不能与账号相同", password_unchanged: "新密码不能与原密码相同",
  dashboard: "工作台", cases: "案件", households: "住户档案", conflicts: "冲突待办",
  exports: "导出", audit: "审计日志", language: "English",
  period: "统计期间", last_30: "近30天", last_90: "近90天", last_365: "近一年",
  place: "范围", all_places: "全部",
  community: "社区", grid: "网格", street: "街道",
  figures: "统计", opened_vs_closed: "案件受理与结案", overdue_by_grid: "各网格超期案件",
  opened: "受理", needs_attention: "需立即关注的案件",
  visits: "走访", patrols: "巡查",
  kind: "类型", state: "状态", level: "预警", subject: "事项", category: "类别",
  opened_at: "受理时间", due_at: "办理时限", assignee: "承办人", escalated: "已上报街道",
  opened_from: "受理起", opened_to: "受理止", filter: "筛选", reset: "重置",
  any: "全部", yes: "是", no: "否", page: "页", total: "共", prev: "上一页", next: "下一页",
  export_csv: "导出 CSV", export_xlsx: "导出 Excel", exporting: "正在导出…",
  description: "描述", location: "地点", urgency: "紧急程度", parties: "当事人",
  timeline: "办理过程", actions: "可执行操作", note: "意见 / 备注", confirm: "确定", cancel_btn: "取消",
  no_actions: "当前状态下您没有可执行的操作", action_done: "已提交，将在网格员下次同步时送达",
  mediators: "调解员", participants: "参加人", outcome: "结果", mediation: "调解记录", rectification: "隐患整改", measure: "整改措施", responsible: "责任人",
  recheck: "复查结果", device: "设备", by: "操作人", at: "时间", role: "角色",
  step: "当前环节", deadline: "时限", paused: "已暂停", delay_days: "延期天数",
  search: "搜索", search_hint: "地址或居民姓名", status: "状态", special_group: "特殊人群", tag: "标签",
  address: "地址", residents: "居民", liaison_group: "联户", resident_count: "人数",
  name: "姓名", gender: "性别", birth_date: "出生日期", relation: "与户主关系", id_number: "身份证号",
  phone: "电话", special_groups: "特殊人群",
  valid: "有效期", reveal: "查看", reveal_reason: "查看原因（将记入审计日志）",
  archive: "归档", archive_reason: "归档原因（将记入审计日志）",
  archive_hint: "该户已迁出。归档后，其敏感信息（身份证号、电话、特殊人群）将从所有手机删除，并在保留期满后从服务器删除。",
  archived_until: "已归档，敏感信息删除时间",
  reason: "原因", reason_too_short: "请填写至少4个字的原因", related_cases: "关联案件", history: "修改记录", history_latest: "显示最近的修改",
  fields: "修改字段", message: "说明", none: "无",
  conflict_inbox: "冲突待办", conflict_hint: "多部手机离线修改了同一字段。请选择保留的值，结果会同步到各手机。",
  field: "字段", competing_values: "并发写入的值", choose: "采用此值", shown: "当前显示",
  illegal_events: "合并后不合规的办理事件", merge_problem: "合并后的校验问题", conflict_resolved: "已处理",
  no_conflicts: "没有待处理的冲突", records: "记录", updated_at: "更新时间",
  tasks: "待我处理", tasks_hint: "需要您办理的案件环节，按紧急程度排列：先红色预警，再黄色预警；同级按督办、紧急程度和到期时间。",
  no_tasks: "暂无待办事项", task_action: "待办环节", supervision: "督办", supervised: "督办中",
  handling_department: "承办站所", co_departments: "协办站所", dispatch_hint: "派遣给本网格网格员，或派遣给街道站所（可选协办站所）。",
  departments: "站所办理情况", dept_cases: "派遣案件", dept_resolved: "已办结", on_time_rate: "按期率",
  tasks_truncated: "待办较多，仅显示最早到期的部分，请在案件列表中筛选。",
  acknowledge_hint: "该事件保留在办理记录中，但不改变案件状态。核查后可标记为已核查，并写明处理意见。",
  acknowledge_btn: "标记已核查", review: "核查",
  export_page_hint: "按当前范围导出清单（中文表头）。导出会记入审计日志。",
  list_households: "住户档案", list_cases: "案件", list_visits: "走访记录", list_patrols: "巡查记录",
  list_activities: "活动", "list_party-registrations": "双报到", list_assets: "三资", list_conflicts: "冲突待办",
  audit_action: "操作", audit_user: "用户", audit_target: "对象", audit_detail: "详情", audit_address: "地址",
  loading: "加载中…", not_found: "未找到", error: "出错了", forbidden: "无权访问",
  session_expired: "登录已过期，请重新登录", back: "返回", open: "查看",
  admin_only: "审计日志仅管理员可见", worker: "网格员", summary: "摘要", method: "方式",
  sort: "排序",
  assets: "三资管理", assets_hint: "集体资金、资产、资源的收支与合同（本年累计，与上年同期比较）。", as_of: "统计截至",
  reports: "工作月报", month: "月份", month_so_far: "（本月截至今日）", export_pdf: "导出 PDF",
  report_summary: "总体情况", report_as_of: "时点数（截至制表时）", report_month: "本月数", by_community: "分社区", by_grid: "分网格", by_street: "分街道",
  asset_name: "资产名称", asset_list: "资产台账", lease_tenant: "承租方", lease_start: "起租日", lease_end: "到期日",
  days_left: "剩余天数", rent_per_year: "年租金", expiring_leases: "90天内到期的合同", no_expiring_leases: "90天内无到期合同",
  income_fen: "本年收入", previous_income_fen: "上年同期收入", expense_fen: "本年支出", net_fen: "本年结余",
  rent_due_fen: "应收租金", rent_received_fen: "实收", running_leases: "在租合同", year: "年度",
  book_value: "账面价值", leases: "租赁合同", income_by_month: "月度收入（元）", by_year: "年度收支", ledger: "收支台账",
  date: "日期", direction: "收支", amount: "金额", ledger_note: "摘要",
  import: "导入", import_roster: "导入户籍花名册",
  import_hint: "上传社区的户籍花名册（Excel 或 CSV，一行一人）。按身份证号和地址与已有住户比对，已有的更新、不重复新建；有错误行时整份文件不写入，除非勾选“只写入正确行”。导入会记入审计日志。",
  import_file: "花名册文件", import_dry_run: "试导入（只检查，不写入）", import_partial: "只写入正确行，错误行列入报告",
  import_start: "开始导入", import_uploading: "正在上传…", import_phase_checking: "正在检查各行",
  import_phase_preparing: "正在比对住户", import_phase_writing: "正在写入", import_phase_done: "已完成",
  import_done: "导入完成", import_dry_done: "试导入完成，未写入任何数据", import_refused: "文件有错误行，未写入任何数据",
  import_failed: "导入失败，未写入任何数据", import_report: "下载检查报告",
  import_rows: "总行数", import_valid_rows: "正确行", import_invalid_rows: "错误行",
  import_households_created: "新增住户", import_households_updated: "更新住户", import_households_unchanged: "未变住户",
  import_residents_created: "新增居民", import_residents_updated: "更新居民",
  import_row: "行号", import_column: "列", import_problem: "问题", import_more_problems: "其余问题见检查报告",
  photos: "照片", photo: "照片", photo_not_uploaded: "照片尚未上传", photo_failed: "照片加载失败",
  photo_open: "查看大图", photo_viewer: "照片查看", close_viewer: "关闭", download_file: "下载",
  no_photos: "暂无照片", rectification_photos: "整改前后照片",
  verify_needs_after_photo: "核查通过需要至少一张整改后照片：请网格员在手机上拍摄整改后照片并同步后再核查。",
  verify_refused_no_after_photo: "未能核查通过：隐患须有整改后照片",
  patrol_route: "巡逻路线", patrol_team: "巡逻人员", patrol_findings: "巡逻发现",
};

const en = {
  app: "Gridbook", app_sub: "Supervisors' console",
  sign_in: "Sign in", sign_out: "Sign out", login: "Login", password: "Password",
  bad_credentials: "Wrong login or password", slowed_down: "Too many attempts; try again later",
  change_password: "Change password", old_password: "Current password", new_password: "New password",
  repeat_password: "New password again", password_reset_notice: "An administrator reset your password: choose a new one first",
  passwords_differ: "The two new passwords differ", wrong_password: "The current password is wrong",
  weak_password: "The password must be 8 to 1024 characters", common_password: "This password is too common; choose another",
  password_is_login: "The password must not be the login", password_unchanged: "The new password must differ from the current one",
  dashboard: "Dashboard", cases: "Cases", households: "Households", conflicts: "Conflicts",
  exports: "Exports", audit: "Audit log", language: "中文",
  period: "Period", last_30: "Last 30 days", last_90: "Last 90 days", last_365: "Last 12 months",
  place: "Place", all_places: "All",
  community: "Community", grid: "Grid", street: "Street",
  figures: "Figures", opened_vs_closed: "Cases opened and closed", overdue_by_grid: "Overdue cases by grid",
  opened: "Opened", needs_attention: "Cases needing attention now",
  visits: "Visits", patrols: "Patrols",
  kind: "Kind", state: "State", level: "Alert", subject: "Subject", category: "Category",
  opened_at: "Opened", due_at: "Due", assignee: "Assignee", escalated: "Escalated",
  opened_from: "Opened from", opened_to: "Opened to", filter: "Filter", reset: "Reset",
  any: "Any", yes: "Yes", no: "No", page: "Page", total: "Total", prev: "Previous", next: "Next",
  export_csv: "Export CSV", export_xlsx: "Export XLSX", exporting: "Exporting…",
  description: "Description", location: "Location", urgency: "Urgency", parties: "Parties",
  timeline: "Timeline", actions: "Actions", note: "Note / reason", confirm: "Confirm", cancel_btn: "Cancel",
  no_actions: "No action is open to you in this state", action_done: "Done; it reaches the grid worker's phone on the next sync",
  mediators: "Mediators", participants: "Participants", outcome: "Outcome", mediation: "Mediation sessions", rectification: "Rectification", measure: "Measure", responsible: "Responsible",
  recheck: "Recheck", device: "Device", by: "By", at: "When", role: "Role",
  step: "Current step", deadline: "Deadline", paused: "Paused", delay_days: "Delay (days)",
  search: "Search", search_hint: "Address or resident name", status: "Status", special_group: "Special group", tag: "Tag",
  address: "Address", residents: "Residents", liaison_group: "Liaison group", resident_count: "Residents",
  name: "Name", gender: "Gender", birth_date: "Birth date", relation: "Relation", id_number: "ID number",
  phone: "Phone", special_groups: "Special groups",
  valid: "Valid", reveal: "Reveal", reveal_reason: "Reason (written to the audit log)",
  archive: "Archive", archive_reason: "Reason (written to the audit log)",
  archive_hint: "This household moved away. Archiving deletes its personal data (ID numbers, phones, special groups) from every phone, and from the server when the retention period ends.",
  archived_until: "Archived; personal data erased at",
  reason: "Reason", reason_too_short: "Give a reason of at least 4 characters", related_cases: "Related cases", history: "History", history_latest: "Latest changes shown",
  fields: "Fields", message: "Message", none: "None",
  conflict_inbox: "Conflict inbox", conflict_hint: "Several phones changed the same field offline. Choose the value to keep; phones get it on their next sync.",
  field: "Field", competing_values: "Competing values", choose: "Keep this", shown: "Shown now",
  illegal_events: "Case events illegal after the merge", merge_problem: "Problem after the merge", conflict_resolved: "Resolved",
  no_conflicts: "Nothing to resolve", records: "Records", updated_at: "Updated",
  tasks: "My tasks", tasks_hint: "Case steps waiting for you, most urgent first: red deadlines, then yellow; within a level by supervision, urgency and due time.",
  no_tasks: "Nothing waits for you", task_action: "Step", supervision: "Supervision", supervised: "Under supervision",
  handling_department: "Department", co_departments: "Co-handling departments", dispatch_hint: "Dispatch to a grid worker of the grid, or to a department of the street (with co-handling departments if needed).",
  departments: "Departments", dept_cases: "Cases dispatched", dept_resolved: "Resolved", on_time_rate: "On-time rate",
  tasks_truncated: "Many tasks: only the earliest due are shown; filter the case list for the rest.",
  acknowledge_hint: "The event stays in the case's log but changes nothing. Once reviewed, mark it so, with a note on what was done.",
  acknowledge_btn: "Mark reviewed", review: "Review",
  export_page_hint: "Export a list for the current place (Chinese column headers). Exports are written to the audit log.",
  list_households: "Households", list_cases: "Cases", list_visits: "Visits", list_patrols: "Patrols",
  list_activities: "Activities", "list_party-registrations": "Party registrations", list_assets: "Assets", list_conflicts: "Conflict inbox",
  audit_action: "Action", audit_user: "User", audit_target: "Target", audit_detail: "Detail", audit_address: "Address",
  loading: "Loading…", not_found: "Not found", error: "Something went wrong", forbidden: "Not allowed",
  session_expired: "Your session expired; sign in again", back: "Back", open: "Open",
  admin_only: "Only administrators read the audit log", worker: "Grid worker", summary: "Summary", method: "Method",
  sort: "Sort",
  assets: "Collective assets", assets_hint: "Income, expense and leases of collective funds, assets and resources (year to date, against the same period last year).", as_of: "as of",
  reports: "Monthly report", month: "Month", month_so_far: "(this month so far)", export_pdf: "Export PDF",
  report_summary: "Summary", report_as_of: "As of the report", report_month: "This month", by_community: "By community", by_grid: "By grid", by_street: "By street",
  asset_name: "Asset", asset_list: "Assets", lease_tenant: "Tenant", lease_start: "First day", lease_end: "Last day",
  days_left: "Days left", rent_per_year: "Yearly rent", expiring_leases: "Leases expiring within 90 days", no_expiring_leases: "No lease expires within 90 days",
  income_fen: "Income this year", previous_income_fen: "Same period last year", expense_fen: "Expense this year", net_fen: "Net this year",
  rent_due_fen: "Rent due", rent_received_fen: "Received", running_leases: "Running leases", year: "Year",
  book_value: "Book value", leases: "Leases", income_by_month: "Income by month (yuan)", by_year: "By year", ledger: "Ledger",
  date: "Date", direction: "In/out", amount: "Amount", ledger_note: "Note",
  import: "Import", import_roster: "Import household roster",
  import_hint: "Upload a community's household roster (Excel or CSV, one resident a row). Households are matched by ID number and address and updated, never duplicated; a file with invalid rows writes nothing unless \"write the valid rows\" is ticked. Imports are written to the audit log.",
  import_file: "Roster file", import_dry_run: "Dry run (check only, write nothing)", import_partial: "Write the valid rows; report the invalid ones",
  import_start: "Import", import_uploading: "Uploading…", import_phase_checking: "Checking rows",
  import_phase_preparing: "Matching households", import_phase_writing: "Writing", import_phase_done: "Finished",
  import_done: "Import finished", import_dry_done: "Dry run finished; nothing was written", import_refused: "The file has invalid rows; nothing was written",
  import_failed: "The import failed; nothing was written", import_report: "Download the report",
  import_rows: "Rows", import_valid_rows: "Valid rows", import_invalid_rows: "Invalid rows",
  import_households_created: "Households created", import_households_updated: "Households updated", import_households_unchanged: "Households unchanged",
  import_residents_created: "Residents created", import_residents_updated: "Residents updated",
  import_row: "Row", import_column: "Column", import_problem: "Problem", import_more_problems: "More problems are in the report",
  photos: "Photos", photo: "Photo", photo_not_uploaded: "Not yet uploaded", photo_failed: "The photo could not be loaded",
  photo_open: "View full size", photo_viewer: "Photo viewer", close_viewer: "Close", download_file: "Download",
  no_photos: "No photos", rectification_photos: "Before and after rectification",
  verify_needs_after_photo: "Verifying needs at least one photo after rectification: the grid worker takes it on the phone and syncs, then verify.",
  verify_refused_no_after_photo: "Not verified: a hazard needs a photo after rectification",
  patrol_route: "Route", patrol_team: "Team", patrol_findings: "Findings",
};

// Labels of the API's codes come from the server's one vocabulary (GET /v1/vocabulary), loaded
// once by loadVocabulary() before the first page is drawn: groups by name, and every code in
// one flat map (the first group naming a code wins) for callers that do not say the group.
let groups = new Map();
let flat = new Map();

/** Loads the vocabulary; the console draws nothing before it. */
export async function loadVocabulary() {
  const response = await fetch("/v1/vocabulary");
  if (!response.ok) throw new Error(`vocabulary: ${response.status}`);
  const list = await response.json();
  groups = new Map(list.map((g) => [g.name, new Map(g.entries.map((e) => [e.code, e]))]));
  flat = new Map();
  for (const g of list) for (const e of g.entries) if (!flat.has(e.code)) flat.set(e.code, e);
}

/** Every code of a vocabulary group, in the vocabulary's order (for a filter's choices). */
export function codesOf(group) {
  return [...(groups.get(group)?.keys() ?? [])];
}

const STORE = "gridbook.lang";
let lang = localStorage.getItem(STORE) === "en" ? "en" : "zh";

export function currentLang() {
  return lang;
}

export function setLang(next) {
  lang = next === "en" ? "en" : "zh";
  localStorage.setItem(STORE, lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

/** Interface text for `key`. */
export function t(key) {
  const table = lang === "en" ? en : zh;
  return table[key] ?? en[key] ?? key;
}

/**
 * The label of an API code (state, kind, action, ...) from the vocabulary's `group` (e.g.
 * "case_state"; needed where one code means two things, as `red` in deadline_level and
 * supervision_level), or from any group. Unknown codes are shown as they are.
 */
export function code(value, group) {
  if (value === null || value === undefined || value === "") return "";
  const entry = (group ? groups.get(group)?.get(String(value)) : undefined) ?? flat.get(String(value));
  if (!entry) return String(value);
  return lang === "en" ? entry.en : entry.zh;
}

/** Every key of the Chinese table has an English text, and the other way round. */
export function missingKeys() {
  const a = Object.keys(zh).filter((k) => !(k in en));
  const b = Object.keys(en).filter((k) => !(k in zh));
  return a.concat(b);
}

setLang(lang);
