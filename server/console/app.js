// Gridbook's supervisors' console: one page, hash routes, the review API (`/v1/...`) only.
// No framework and no build step: the server serves these files as they are.
//
// Session: the access and refresh tokens live in sessionStorage (this tab only); the console's
// device id per login in localStorage, so signing in again reuses the device. An expired access token is
// refreshed once, then the user is sent back to the sign-in page.

import { t, code, codesOf, currentLang, setLang, missingKeys, loadVocabulary } from "./i18n.js";
import { lineChart, barChart } from "./chart.js";

// --- DOM ---------------------------------------------------------------------------------------

/** Builds an element. Text children are text nodes, never HTML. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const view = () => document.getElementById("view");

/** Replaces the page's content; arrays are flattened, empty parts skipped. The photos of the
 * page left behind are closed and their object URLs revoked. */
function show(...nodes) {
  closeViewer();
  revokeObjectUrls();
  view().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== "" && n !== null && n !== undefined && n !== false));
}

function fmtTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(currentLang() === "en" ? "en-GB" : "zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit",
  });
}

function fmtDay(value) {
  if (!value) return "";
  return String(value).slice(0, 10);
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 1000) / 10}%`;
}

/**
 * The label of a figure of GET /v1/figures from the vocabulary's report_figure group (the
 * figures API keeps its older names for households, visits and patrols).
 */
function figureLabel(field) {
  const renamed = { households: "households_on_record", visits: "home_visits", patrols: "patrols_run" };
  return code(renamed[field] ?? field, "report_figure");
}

function levelBadge(level) {
  if (!level) return "";
  return h("span", { class: `badge level-${level}` }, code(level, "deadline_level"));
}

function notice(text, cls = "info") {
  return h("p", { class: `notice ${cls}`, role: cls === "error" ? "alert" : "status" }, text);
}

// --- session and API ---------------------------------------------------------------------------

const SESSION = "gridbook.session";
const DEVICE = "gridbook.device";

let session = JSON.parse(sessionStorage.getItem(SESSION) || "null");

function saveSession(next) {
  session = next;
  if (next) sessionStorage.setItem(SESSION, JSON.stringify(next));
  else sessionStorage.removeItem(SESSION);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function refreshTokens() {
  if (!session?.refresh_token) return false;
  const res = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    // Naming the device lets a retry after a lost answer get the same token back.
    body: JSON.stringify({ refresh_token: session.refresh_token, device_id: session.device_id }),
  });
  if (!res.ok) return false;
  const body = await res.json();
  saveSession({ ...session, access_token: body.access_token, refresh_token: body.refresh_token });
  return true;
}

/** Calls the API; refreshes an expired access token once; throws ApiError with the JSON error. */
async function api(path, { method = "GET", body, raw = false } = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { accept: "application/json" };
    if (session?.access_token) headers.authorization = `Bearer ${session.access_token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && attempt === 0 && (await refreshTokens())) continue;
    if (res.status === 401) {
      saveSession(null);
      location.hash = "#/login";
      throw new ApiError(401, "unauthorized", t("session_expired"));
    }
    if (!res.ok) {
      let err = { code: "error", message: res.statusText };
      try {
        err = (await res.json()).error ?? err;
      } catch {
        // A body that is not the JSON error shape: keep the status text.
      }
      if (err.code === "password_change_required" && session) {
        saveSession({ ...session, must_change_password: true });
        location.hash = "#/password";
      }
      throw new ApiError(res.status, err.code, err.message);
    }
    if (raw) return res;
    return res.status === 204 ? null : res.json();
  }
  throw new ApiError(401, "unauthorized", t("session_expired"));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

function errorView(err) {
  if (err.status === 404) return notice(t("not_found"), "error");
  if (err.status === 403) return notice(`${t("forbidden")}: ${err.message}`, "error");
  return notice(`${t("error")}: ${err.message}`, "error");
}

/** Downloads an export through fetch (the token goes in a header, not the URL). */
function download(list, format, params, button) {
  return downloadFile(`/v1/exports/${list}.${format}${query(params)}`, `${list}.${format}`, button);
}

/** Downloads the file at `path` as `filename`, the button showing progress. */
async function downloadFile(path, filename, button) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = t("exporting");
  try {
    const res = await api(path, { raw: true });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    button.after(errorView(err));
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function exportButtons(list, params) {
  const csv = h("button", { type: "button", class: "secondary", "data-export": `${list}.csv` }, t("export_csv"));
  const xlsx = h("button", { type: "button", class: "secondary", "data-export": `${list}.xlsx` }, t("export_xlsx"));
  csv.addEventListener("click", () => download(list, "csv", params, csv));
  xlsx.addEventListener("click", () => download(list, "xlsx", params, xlsx));
  return h("span", { class: "exports" }, csv, xlsx);
}

// --- routing -----------------------------------------------------------------------------------

function currentRoute() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { parts: path.split("/").filter(Boolean), params: Object.fromEntries(new URLSearchParams(search)) };
}

function go(path, params = {}) {
  location.hash = `#${path}${query(params)}`;
}

const isAdmin = () => session?.user?.role === "admin";
// The county office reads the streets' figures only: counts, never a record or a list.
const isCounty = () => session?.user?.role === "county";

function navLinks() {
  const links = isAdmin()
    ? [["audit", "#/audit"]]
    : isCounty()
    ? [["dashboard", "#/"]]
    : [["dashboard", "#/"], ["tasks", "#/tasks"], ["cases", "#/cases"], ["households", "#/households"],
       ["conflicts", "#/conflicts"], ["assets", "#/assets"], ["reports", "#/reports"], ["exports", "#/exports"], ["import", "#/import"]];
  const { parts } = currentRoute();
  const here = parts[0] ?? (isAdmin() ? "audit" : "dashboard");
  return links.map(([key, href]) =>
    h("a", { href, class: here === key || (key === "dashboard" && !parts[0]) ? "active" : "", "data-nav": key }, t(key)));
}

function renderChrome() {
  document.title = `${t("app")} · ${t("app_sub")}`;
  const header = document.getElementById("top");
  const langButton = h("button", { type: "button", class: "link", id: "lang", "aria-label": "language" }, t("language"));
  langButton.addEventListener("click", () => {
    setLang(currentLang() === "en" ? "zh" : "en");
    route();
  });
  const right = [langButton];
  if (session) {
    const out = h("button", { type: "button", class: "link", id: "sign-out" }, t("sign_out"));
    out.addEventListener("click", signOut);
    right.unshift(h("span", { class: "who" }, session.user.display_name, " · ", code(session.user.role, "role")));
    right.push(h("a", { href: "#/password", class: "link", id: "change-password" }, t("change_password")));
    right.push(out);
  }
  header.replaceChildren(
    h("div", { class: "brand" }, h("strong", {}, t("app")), h("span", {}, t("app_sub"))),
    h("nav", {}, session ? navLinks() : []),
    h("div", { class: "user" }, right),
  );
}

async function route() {
  renderChrome();
  const { parts, params } = currentRoute();
  if (!session && parts[0] !== "login") {
    go("/login");
    return;
  }
  // After an administrator's reset, nothing but the new password.
  if (session?.must_change_password && parts[0] !== "password") {
    go("/password");
    return;
  }
  show(h("p", { class: "muted" }, t("loading")));
  try {
    switch (parts[0]) {
      case "login": return loginPage();
      case "password": return passwordPage();
      case undefined: return isAdmin() ? auditPage(params) : isCounty() ? countyPage(params) : dashboardPage(params);
      case "tasks": return tasksPage();
      case "cases": return parts[1] ? casePage(parts[1]) : casesPage(params);
      case "households": return parts[1] ? householdPage(parts[1]) : householdsPage(params);
      case "visits": return parts[1] ? visitPage(parts[1]) : show(notice(t("not_found"), "error"));
      case "patrols": return parts[1] ? patrolPage(parts[1]) : show(notice(t("not_found"), "error"));
      case "conflicts": return parts[1] ? conflictPage(parts[1]) : conflictsPage(params);
      case "assets": return parts[1] ? assetPage(parts[1], params) : assetsPage(params);
      case "reports": return reportPage(params);
      case "exports": return exportsPage(params);
      case "import": return importPage(params);
      case "audit": return auditPage(params);
      default: return show(notice(t("not_found"), "error"));
    }
  } catch (err) {
    show(errorView(err));
  }
}

// --- sign in / out -----------------------------------------------------------------------------

function loginPage() {
  if (session) return go("/");
  const message = h("div");
  const form = h("form", { class: "card narrow", id: "login-form" },
    h("h1", {}, t("sign_in")),
    h("label", {}, t("login"), h("input", { name: "login", autocomplete: "username", required: true })),
    h("label", {}, t("password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    message,
    h("button", { type: "submit" }, t("sign_in")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { login: data.get("login"), password: data.get("password"), device_name: "web console" };
    // A device belongs to one user: remember one per login on this browser.
    const deviceKey = `${DEVICE}.${body.login}`;
    const device = localStorage.getItem(deviceKey);
    if (device) body.device_id = device;
    const res = await fetch("/v1/auth/login", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!res.ok) {
      const text = res.status === 429 ? t("slowed_down") : t("bad_credentials");
      message.replaceChildren(notice(text, "error"));
      return;
    }
    const tokens = await res.json();
    localStorage.setItem(deviceKey, tokens.device_id);
    saveSession({
      access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user,
      device_id: tokens.device_id, must_change_password: tokens.must_change_password,
    });
    if (tokens.must_change_password) return go("/password");
    go(tokens.user.role === "admin" ? "/audit" : "/");
  });
  show(form);
}

/** Changing one's password: required after an administrator's reset, open to everyone. */
function passwordPage() {
  const message = h("div");
  const forced = Boolean(session?.must_change_password);
  const form = h("form", { class: "card narrow", id: "password-form" },
    h("h1", {}, t("change_password")),
    forced ? notice(t("password_reset_notice")) : "",
    h("label", {}, t("old_password"), h("input", { name: "old", type: "password", autocomplete: "current-password", required: true })),
    h("label", {}, t("new_password"), h("input", { name: "new", type: "password", autocomplete: "new-password", minlength: 8, required: true })),
    h("label", {}, t("repeat_password"), h("input", { name: "repeat", type: "password", autocomplete: "new-password", minlength: 8, required: true })),
    message,
    h("button", { type: "submit" }, t("change_password")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    if (data.get("new") !== data.get("repeat")) {
      message.replaceChildren(notice(t("passwords_differ"), "error"));
      return;
    }
    try {
      await api("/v1/auth/password", {
        method: "POST", body: { old_password: data.get("old"), new_password: data.get("new") },
      });
    } catch (err) {
      const known = ["wrong_password", "weak_password", "common_password", "password_is_login", "password_unchanged"];
      message.replaceChildren(notice(known.includes(err.code) ? t(err.code) : err.message, "error"));
      return;
    }
    saveSession({ ...session, must_change_password: false });
    go(session.user.role === "admin" ? "/audit" : "/");
  });
  show(form);
}

async function signOut() {
  const refresh = session?.refresh_token;
  saveSession(null);
  if (refresh) {
    await fetch("/v1/auth/logout", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh }),
    }).catch(() => {});
  }
  go("/login");
}

// --- shared pieces -----------------------------------------------------------------------------

function periodOf(days) {
  const to = new Date();
  const from = new Date(to.getTime() - Number(days) * 86_400_000);
  return { from: from.toISOString(), to: to.toISOString() };
}

/** A filter form; on submit, goes to `path` with the form's non-empty values. */
function filterForm(path, params, fields) {
  const form = h("form", { class: "filters" },
    fields.map(([name, label, input]) => h("label", {}, label, input(params[name] ?? ""))),
    h("div", { class: "buttons" },
      h("button", { type: "submit" }, t("filter")),
      h("button", { type: "button", class: "secondary", onclick: () => go(path) }, t("reset"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go(path, Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== "")));
  });
  return form;
}

const textInput = (name, extra = {}) => (value) => h("input", { name, value, ...extra });
const dateInput = (name) => (value) => h("input", { name, type: "date", value });
const selectInput = (name, options) => (value) =>
  h("select", { name },
    h("option", { value: "" }, t("any")),
    options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value) }, label)));

function pager(path, params, page) {
  const pages = Math.max(1, Math.ceil(page.total / page.per_page));
  const at = page.page;
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: at <= 1, onclick: () => go(path, { ...params, page: at - 1 }) }, t("prev")),
    h("span", {}, `${t("page")} ${at} / ${pages} · ${t("total")} ${page.total}`),
    h("button", { type: "button", class: "secondary", disabled: at >= pages, onclick: () => go(path, { ...params, page: at + 1 }) }, t("next")));
}

function table(columns, rows, rowAttrs = () => ({})) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)))),
    h("tbody", {}, rows.length
      ? rows.map((row) => h("tr", rowAttrs(row), columns.map(([, cell]) => h("td", {}, cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, t("none"))))));
}

/** An address as a street office writes it (乌江水岸2栋1单元102室), as `Address::to_chinese` does. */
function addressText(address) {
  if (!address) return "";
  let out = (address.compound ?? "").trim();
  for (const [part, word] of [[address.building, "栋"], [address.unit, "单元"], [address.room, "室"]]) {
    const p = (part ?? "").trim();
    if (!p) continue;
    out += p.endsWith(word) ? p : p + word;
  }
  return out;
}

// --- dashboard ---------------------------------------------------------------------------------

// The figures `keys` of `totals` as the dashboards' cards (overdue cases in alert colours).
function figureCardsOf(totals, keys) {
  return h("div", { class: "cards" }, keys.map((key) =>
    h("div", { class: `figure ${key === "overdue_cases" && totals[key] > 0 ? "alert" : ""}`, "data-figure": key },
      h("span", { class: "value" }, key === "visit_coverage" ? percent(totals[key]) : totals[key]),
      h("span", { class: "label" }, figureLabel(key)))));
}

// The county office's dashboard: every street's figures for a period, counts only.
async function countyPage(params) {
  const days = params.days ?? "90";
  const figures = await api(`/v1/figures/streets${query(periodOf(days))}`);
  const controls = filterForm("/", { days, ...params }, [
    ["days", t("period"), selectInput("days", [["30", t("last_30")], ["90", t("last_90")], ["365", t("last_365")]])],
  ]);
  const totals = figures.totals;
  const cardKeys = ["households", "overdue_cases", "appeals_resolved", "appeals_resolved_on_time", "disputes_mediated",
    "hazards_found", "hazards_rectified", "visit_coverage", "visits", "patrols"];
  const cards = figureCardsOf(totals, cardKeys);
  return show(
    h("h1", {}, t("dashboard")),
    controls,
    cards,
    h("section", { class: "card", id: "streets" }, h("h2", {}, t("by_street")),
      table([
        [t("street"), (r) => r.name],
        [figureLabel("households"), (r) => r.households],
        [figureLabel("visit_coverage"), (r) => percent(r.visit_coverage)],
        [figureLabel("overdue_cases"), (r) => r.overdue_cases],
        [t("supervised"), (r) => supervisedCell(r)],
        [figureLabel("appeals_resolved"), (r) => r.appeals_resolved],
        [figureLabel("disputes_mediated"), (r) => r.disputes_mediated],
        [figureLabel("hazards_found"), (r) => r.hazards_found],
        [figureLabel("hazards_rectified"), (r) => r.hazards_rectified],
        [figureLabel("patrols"), (r) => r.patrols],
      ], figures.streets)));
}

async function dashboardPage(params) {
  const days = params.days ?? "90";
  const period = periodOf(days);
  const place = { community: params.community, grid: params.grid };
  const [street, figures, timeline, red, yellow, accounts] = await Promise.all([
    api(`/v1/figures${query(period)}`),
    api(`/v1/figures${query({ ...period, ...place })}`),
    api(`/v1/figures/timeline${query({ ...period, ...place })}`),
    api(`/v1/cases${query({ level: "red", sort: "due_at", per_page: 10, ...place })}`),
    api(`/v1/cases${query({ level: "yellow", sort: "due_at", per_page: 10, ...place })}`),
    api(`/v1/assets/accounts${query(place)}`),
  ]);
  const controls = filterForm("/", { days, ...params }, [
    ["days", t("period"), selectInput("days", [["30", t("last_30")], ["90", t("last_90")], ["365", t("last_365")]])],
    ["community", t("community"), selectInput("community", street.communities.map((c) => [c.id, c.name]))],
    ["grid", t("grid"), selectInput("grid", street.grids
      .filter((g) => !params.community || g.community === params.community)
      .map((g) => [g.id, g.name]))],
  ]);
  const totals = figures.totals;
  const cardKeys = ["overdue_cases", "appeals_resolved", "appeals_resolved_on_time", "disputes_mediated",
    "hazards_found", "hazards_rectified", "households_visited", "visit_coverage", "visits", "patrols",
    "service_activities", "cultural_activities", "outreach_activities", "party_members_registered"];
  const cards = figureCardsOf(totals, cardKeys);
  const labels = timeline.points.map((p) => fmtDay(p.start).slice(5));
  const lines = lineChart(labels, [
    { name: t("opened"), values: timeline.points.map((p) => p.opened), cls: "opened" },
    { name: code("closed", "case_state"), values: timeline.points.map((p) => p.closed), cls: "closed" },
  ]);
  const overdue = [...figures.grids].sort((a, b) => b.overdue_cases - a.overdue_cases).slice(0, 12)
    .map((g) => ({ label: g.name, value: g.overdue_cases }));
  const attention = [...red.items, ...yellow.items];
  const perPlace = params.community || params.grid ? figures.grids : figures.communities;
  return show(
    h("h1", {}, t("dashboard")),
    controls,
    cards,
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h2", {}, t("opened_vs_closed")), lines),
      h("section", { class: "card" }, h("h2", {}, t("overdue_by_grid")), barChart(overdue, { cls: "bar overdue" }))),
    h("section", { class: "card", id: "attention" }, h("h2", {}, t("needs_attention")), caseTable(attention)),
    accounts.expiring_leases.length === 0 ? "" : h("section", { class: "card", id: "expiring-leases" },
      h("h2", {}, t("expiring_leases")), expiringTable(accounts.expiring_leases)),
    h("section", { class: "card" }, h("h2", {}, t("figures")),
      table([
        [params.community || params.grid ? t("grid") : t("community"), (r) => r.name],
        [figureLabel("households"), (r) => r.households],
        [figureLabel("households_visited"), (r) => r.households_visited],
        [figureLabel("visit_coverage"), (r) => percent(r.visit_coverage)],
        [figureLabel("overdue_cases"), (r) => r.overdue_cases],
        [t("supervised"), (r) => supervisedCell(r)],
        [figureLabel("appeals_resolved"), (r) => r.appeals_resolved],
        [figureLabel("disputes_mediated"), (r) => r.disputes_mediated],
        [figureLabel("hazards_found"), (r) => r.hazards_found],
        [figureLabel("hazards_rectified"), (r) => r.hazards_rectified],
        [figureLabel("patrols"), (r) => r.patrols],
      ], perPlace)),
    (figures.departments ?? []).length === 0 ? "" : h("section", { class: "card", id: "departments" },
      h("h2", {}, t("departments")),
      table([
        [t("handling_department"), (d) => d.name],
        [t("dept_cases"), (d) => d.cases],
        [t("dept_resolved"), (d) => d.resolved],
        [t("on_time_rate"), (d) => percent(d.on_time_rate)],
        [figureLabel("overdue_cases"), (d) => d.overdue],
      ], figures.departments)),
  );
}

/// Open cases under the street's supervision, red and yellow cards apart from deadline alerts.
function supervisedCell(r) {
  return h("span", {},
    r.supervised_red ? h("span", { class: "badge supervision-red" }, `${code("red", "supervision_level")} ${r.supervised_red}`) : "",
    " ",
    r.supervised_yellow ? h("span", { class: "badge supervision-yellow" }, `${code("yellow", "supervision_level")} ${r.supervised_yellow}`) : "",
    r.supervised_red || r.supervised_yellow ? "" : "0");
}

// --- cases -------------------------------------------------------------------------------------

/// The street's supervision (督办), shown apart from the deadline's level.
function supervisionBadge(level) {
  return level ? h("span", { class: `badge supervision-${level}` }, code(level, "supervision_level")) : "";
}

function caseTable(items) {
  return table([
    [t("level"), (c) => levelBadge(c.level)],
    [t("supervision"), (c) => supervisionBadge(c.supervision)],
    [t("subject"), (c) => h("a", { href: `#/cases/${c.id}`, "data-case": c.id }, c.subject)],
    [t("kind"), (c) => code(c.kind, "case_kind")],
    [t("category"), (c) => code(c.category, "case_category")],
    [t("state"), (c) => code(c.state, "case_state")],
    [t("grid"), (c) => c.grid_name ?? c.grid],
    [t("opened_at"), (c) => fmtTime(c.opened_at)],
    [t("due_at"), (c) => fmtTime(c.due_at)],
  ], items, (c) => ({ class: c.level ? `row-${c.level}` : "" }));
}

/// What waits for the signed-in supervisor (待我处理): GET /v1/tasks, most urgent first.
async function tasksPage() {
  const list = await api("/v1/tasks");
  return show(
    h("h1", {}, t("tasks")),
    h("p", { class: "muted" }, t("tasks_hint")),
    list.items.length === 0 ? notice(t("no_tasks")) : "",
    table([
      [t("level"), (x) => levelBadge(x.level)],
      [t("supervision"), (x) => supervisionBadge(x.supervision)],
      [t("task_action"), (x) => h("strong", {}, code(x.action, "case_action"))],
      [t("subject"), (x) => h("a", { href: `#/cases/${x.case}`, "data-task": x.case }, x.subject)],
      [t("kind"), (x) => code(x.kind, "case_kind")],
      [t("state"), (x) => code(x.state, "case_state")],
      [t("urgency"), (x) => code(x.urgency, "urgency")],
      [t("grid"), (x) => x.grid_name ?? x.grid],
      [t("due_at"), (x) => fmtTime(x.due_at)],
    ], list.items, (x) => ({ class: x.level ? `row-${x.level}` : "" })),
    list.truncated ? notice(t("tasks_truncated")) : "",
  );
}

const CASE_STATES = ["draft", "reported", "accepted", "not_filed", "in_progress", "resolved", "verified", "closed", "suspended", "cancelled"];

async function casesPage(params) {
  const page = await api(`/v1/cases${query({ per_page: 25, ...params })}`);
  const filters = { ...params };
  delete filters.page;
  return show(
    h("div", { class: "title-row" }, h("h1", {}, t("cases")), exportButtons("cases", filters)),
    filterForm("/cases", params, [
      ["kind", t("kind"), selectInput("kind", ["appeal", "dispute", "hazard"].map((k) => [k, code(k, "case_kind")]))],
      ["state", t("state"), selectInput("state", CASE_STATES.map((s) => [s, code(s, "case_state")]))],
      ["level", t("level"), selectInput("level", ["red", "yellow", "on_time"].map((l) => [l, code(l, "deadline_level")]))],
      ["community", t("community"), textInput("community", { placeholder: "dzk" })],
      ["grid", t("grid"), textInput("grid", { placeholder: "dzk-01" })],
      ["escalated", t("escalated"), selectInput("escalated", [["true", t("yes")], ["false", t("no")]])],
      ["opened_from", t("opened_from"), dateInput("opened_from")],
      ["opened_to", t("opened_to"), dateInput("opened_to")],
      ["sort", t("sort"), selectInput("sort", [["-opened_at", `${t("opened_at")} ↓`], ["due_at", `${t("due_at")} ↑`], ["-updated_at", `${t("updated_at")} ↓`]])],
    ]),
    caseTable(page.items),
    pager("/cases", params, page),
  );
}

const NEEDS_NOTE = new Set(["reject", "cancel", "verify_fail", "deny_delay"]);

function actionForm(id, detail, action, done) {
  const fields = [h("label", {}, t("note"), h("textarea", { name: "note", rows: 2, required: NEEDS_NOTE.has(action) }))];
  if (action === "dispatch") {
    // To a grid worker of the grid, or to a department of the street (站所) with co-handlers.
    const departments = detail.departments ?? [];
    fields.unshift(
      h("label", {}, t("assignee"),
        h("select", { name: "assignee" },
          h("option", { value: "" }, "—"),
          (detail.assignees ?? []).map((u) => h("option", { value: u.id }, `${u.display_name} (${u.login})`)))),
      departments.length === 0 ? "" : h("label", {}, t("handling_department"),
        h("select", { name: "department" },
          h("option", { value: "" }, "—"),
          departments.map((d) => h("option", { value: d.id }, d.name)))),
      departments.length === 0 ? "" : h("fieldset", { class: "co-departments" },
        h("legend", {}, t("co_departments")),
        departments.map((d) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: "co_departments", value: d.id }), d.name))),
      h("p", { class: "muted" }, t("dispatch_hint")));
  }
  if (action === "supervise") {
    fields.unshift(h("label", {}, t("level"),
      h("select", { name: "level" }, ["yellow", "red"].map((l) => h("option", { value: l }, code(l, "supervision_level"))))));
  }
  const message = h("div");
  const form = h("form", { class: "action-form", "data-action-form": action },
    h("h3", {}, code(action, "case_action")), fields, message,
    h("div", { class: "buttons" },
      h("button", { type: "submit" }, t("confirm")),
      h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, t("cancel_btn"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const entries = [...new FormData(form)].filter(([, v]) => v !== "");
    const data = Object.fromEntries(entries.filter(([k]) => k !== "co_departments"));
    const co = entries.filter(([k]) => k === "co_departments").map(([, v]) => v);
    if (co.length > 0) data.co_departments = co;
    try {
      await api(`/v1/cases/${id}/actions`, { method: "POST", body: { action, ...data } });
      done();
    } catch (err) {
      // The server refuses a hazard's verification without a photo after rectification.
      const noAfterPhoto = action === "verify_pass" && err.status === 422 && /attachments/.test(err.message ?? "");
      message.replaceChildren(noAfterPhoto
        ? h("div", { class: "notice error", role: "alert", id: "verify-refused" },
          h("strong", {}, t("verify_refused_no_after_photo")), h("div", { class: "muted" }, err.message))
        : errorView(err));
    }
  });
  return form;
}

async function casePage(id, flash) {
  const detail = await api(`/v1/records/${id}`);
  if (detail.kind !== "case") return go(`/households/${id}`);
  const c = detail.record;
  const status = detail.case_status ?? {};
  const people = detail.people ?? {};
  const sources = detail.event_sources ?? {};
  const person = (userId) => people[userId] ?? userId ?? "";
  const deptName = (code) => (detail.department_names ?? {})[code] ?? code;
  const step = (status.steps ?? []).at(-1);
  const actionArea = h("div", { class: "action-area" });
  const allowed = detail.allowed_actions ?? [];
  const attachments = c.attachments ?? [];
  const hazard = c.case_kind === "hazard";
  // A hazard is verified only with a photo after rectification, taken on a phone.
  const needsAfterPhoto = hazard && allowed.includes("verify_pass") && !attachments.some((a) => a.stage === "after");
  const actions = h("section", { class: "card", id: "actions" }, h("h2", {}, t("actions")),
    needsAfterPhoto ? h("p", { class: "notice warn", id: "needs-after-photo" }, t("verify_needs_after_photo")) : "",
    allowed.length
      ? h("div", { class: "buttons" }, allowed.map((action) =>
        h("button", {
          type: "button", "data-action": action,
          onclick: () => action === "acknowledge"
            ? go(`/conflicts/${id}`)
            : actionArea.replaceChildren(actionForm(id, detail, action, () => casePage(id, t("action_done")))),
        }, code(action, "case_action"))))
      : h("p", { class: "muted" }, t("no_actions")),
    actionArea);
  const timeline = h("ol", { class: "timeline", id: "timeline" }, (c.events ?? []).map((e) => {
    const source = sources[e.id] ?? {};
    return h("li", { "data-event": e.action },
      h("div", { class: "when" }, fmtTime(e.at)),
      h("div", {},
        h("strong", {}, code(e.action, "case_action")), " · ", person(e.actor), ` (${code(e.role, "role")})`,
        source.device_name ? h("span", { class: "device" }, ` · ${t("device")}: ${source.device_name}`) : "",
        e.assignee ? ` → ${person(e.assignee)}` : "",
        e.level ? ` · ${code(e.level, "supervision_level")}` : "",
        e.delay_days ? ` · ${t("delay_days")} ${e.delay_days}` : "",
        e.note ? h("p", { class: "note" }, e.note) : ""));
  }));
  const kindParts = [];
  if (c.case_kind === "dispute") {
    kindParts.push(h("section", { class: "card", id: "mediation" }, h("h2", {}, t("mediation")),
      table([
        [t("at"), (m) => fmtTime(m.at)],
        [t("mediators"), (m) => (m.mediators ?? []).join("、")],
        [t("participants"), (m) => (m.participants ?? []).join("、")],
        [t("summary"), (m) => m.summary],
        [t("outcome"), (m) => code(m.outcome, "mediation_outcome")],
      ], c.mediation ?? [])));
  }
  if (c.case_kind === "hazard" && c.rectification) {
    const r = c.rectification;
    const recheck = r.recheck
      ? `${code(r.recheck.result, "recheck_result")} · ${fmtTime(r.recheck.at)} · ${person(r.recheck.by)}${r.recheck.note ? ` · ${r.recheck.note}` : ""}`
      : "–";
    kindParts.push(h("section", { class: "card", id: "rectification" }, h("h2", {}, t("rectification")),
      h("dl", {},
        h("dt", {}, t("measure")), h("dd", {}, r.measure),
        h("dt", {}, t("responsible")), h("dd", {}, r.responsible),
        h("dt", {}, t("due_at")), h("dd", {}, r.due ?? "–"),
        h("dt", {}, t("recheck")), h("dd", {}, recheck))));
  }
  return show(
    h("p", {}, h("a", { href: "#/cases" }, `← ${t("cases")}`)),
    flash ? notice(flash, "ok") : "",
    h("div", { class: "title-row" }, h("h1", { id: "case-subject" }, c.subject),
      levelBadge(detail.deadline?.level ?? null)),
    h("div", { class: "two" },
      h("section", { class: "card" },
        h("dl", {},
          h("dt", {}, t("kind")), h("dd", {}, `${code(c.case_kind, "case_kind")} · ${code(c.category, "case_category")}`),
          h("dt", {}, t("state")), h("dd", { id: "case-state" }, code(status.state, "case_state")),
          h("dt", {}, t("step")), h("dd", {}, step ? `${code(step.step, "step")} · ${fmtTime(step.started_at)}` : "–"),
          h("dt", {}, t("deadline")), h("dd", {}, detail.deadline ? fmtTime(detail.deadline.due_at) : "–"),
          h("dt", {}, t("assignee")), h("dd", {}, person(status.assignee) || "–"),
          status.department ? [h("dt", {}, t("handling_department")), h("dd", { id: "case-department" },
            [deptName(status.department), ...(status.co_departments ?? []).map((d) => `${deptName(d)}（${t("co_departments")}）`)].join("、"))] : "",
          h("dt", {}, t("urgency")), h("dd", {}, code(c.urgency, "urgency")),
          h("dt", {}, t("grid")), h("dd", {}, detail.place_names?.grid_name ?? c.place?.grid ?? ""),
          h("dt", {}, t("location")), h("dd", {}, c.location ?? ""),
          h("dt", {}, t("opened_at")), h("dd", {}, fmtTime(c.opened_at))),
        h("h3", {}, t("description")), h("p", {}, c.description ?? ""),
        h("h3", {}, t("parties")),
        (c.parties ?? []).length === 0 ? h("p", { class: "muted" }, t("none")) : "",
        h("ul", {}, (c.parties ?? []).map((p) => h("li", {},
          p.name ?? "", ` (${code(p.role, "party_role")})`,
          p.household ? [" · ", h("a", { href: `#/households/${p.household}` }, t("households"))] : "")))),
      actions),
    kindParts,
    hazard ? beforeAfterCard(detail) : "",
    hazard && attachments.every((a) => ["before", "after"].includes(a.stage))
      ? ""
      : photosCard(detail, hazard ? attachments.filter((a) => !["before", "after"].includes(a.stage)) : attachments),
    h("section", { class: "card" }, h("h2", {}, t("timeline")), timeline),
  );
}


// --- photos and files --------------------------------------------------------------------------

// A record's attachments are fetched with the bearer token (an <img src> could not send it) and
// shown through object URLs, which the Content-Security-Policy admits as `blob:` images. The
// URLs of a page are revoked when another page is shown.
const objectUrls = new Set();

function revokeObjectUrls() {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls.clear();
}

/** An object URL of the bytes at `path` (GET /v1/blobs/...), revoked with the page. */
async function blobUrl(path) {
  const res = await api(path, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  objectUrls.add(url);
  return url;
}

/** The console's page of a record, by kind. */
function recordHref(kind, id) {
  const pages = { case: "cases", household: "households", visit: "visits", patrol: "patrols" };
  return `#/${pages[kind] ?? "households"}/${id}`;
}

/** What a record page needs to show its attachments: which have arrived, who attached them. */
function attachmentContext(detail) {
  return { uploaded: new Set(detail.uploaded_blobs ?? []), sources: detail.attachment_sources ?? {} };
}

/** Who attached it (user and device) and when. */
function attachmentMeta(a, ctx) {
  const source = ctx.sources[a.device] ?? {};
  const who = source.user_name ? `${source.user_name}${source.device_name ? `（${source.device_name}）` : ""}` : "";
  return [who, fmtTime(a.taken_at)].filter(Boolean).join(" · ");
}

function attachmentTitle(a) {
  return a.caption || (a.stage ? code(a.stage, "attachment_stage") : "") || t("photo");
}

function photoError(err) {
  if (err.status === 403) return t("forbidden");
  return `${t("photo_failed")}${err.message ? `: ${err.message}` : ""}`;
}

function missingFrame(a) {
  return h("div", { class: "photo-frame missing", "data-missing": a.sha256 }, t("photo_not_uploaded"));
}

/** The thumbnail (a button opening the viewer), a file's download button, or the placeholder. */
function attachmentFrame(a, ctx) {
  if (!ctx.uploaded.has(a.sha256)) return missingFrame(a);
  if (a.media_type === "application/pdf") {
    const button = h("button", { type: "button", class: "photo-frame file", "data-download": a.sha256 },
      `${code(a.media_type, "media_type")} · ${t("download_file")}`);
    button.addEventListener("click", () =>
      downloadFile(`/v1/blobs/${a.sha256}`, `${attachmentTitle(a)}.pdf`, button));
    return button;
  }
  const img = h("img", { alt: attachmentTitle(a) });
  const button = h("button", { type: "button", class: "photo-frame", "data-open": a.sha256, title: t("photo_open") }, img);
  button.addEventListener("click", () => openViewer(a, ctx));
  blobUrl(`/v1/blobs/${a.sha256}?size=thumb`).then(
    (url) => { img.src = url; },
    (err) => button.replaceWith(err.code === "blob_not_uploaded"
      ? missingFrame(a)
      : h("div", { class: "photo-frame failed", role: "alert" }, photoError(err))));
  return button;
}

/** One attachment: its frame, its stage, caption and place, who and when. */
function photoFigure(a, ctx) {
  return h("figure", { class: "photo", "data-attachment": a.id, "data-stage": a.stage ?? "" },
    attachmentFrame(a, ctx),
    h("figcaption", {},
      h("div", {},
        a.stage ? h("span", { class: `badge stage stage-${a.stage}` }, code(a.stage, "attachment_stage")) : "",
        a.caption ? ` ${a.caption}` : ""),
      a.location ? h("div", { class: "muted" }, a.location) : "",
      h("div", { class: "muted" }, attachmentMeta(a, ctx))));
}

function photoGrid(attachments, ctx) {
  return attachments.length === 0
    ? h("p", { class: "muted" }, t("no_photos"))
    : h("div", { class: "photo-grid" }, attachments.map((a) => photoFigure(a, ctx)));
}

/** A card of a record's photos and files. */
function photosCard(detail, attachments = detail.record?.attachments ?? []) {
  return h("section", { class: "card", id: "photos" },
    h("h2", {}, `${t("photos")} (${attachments.length})`),
    photoGrid(attachments, attachmentContext(detail)));
}

/** A hazard's photos before and after rectification, side by side (整改前 | 整改后). */
function beforeAfterCard(detail) {
  const all = detail.record?.attachments ?? [];
  const ctx = attachmentContext(detail);
  const column = (stage) => h("div", { class: "stage-column", "data-stage-column": stage },
    h("h3", {}, code(stage, "attachment_stage")),
    photoGrid(all.filter((a) => a.stage === stage), ctx));
  return h("section", { class: "card", id: "before-after" },
    h("h2", {}, t("rectification_photos")),
    h("div", { class: "before-after" }, column("before"), column("after")));
}

let viewerUrl = null;

/** The full-size picture in a modal dialog; Esc, the close button or a click beside it close it. */
function openViewer(a, ctx) {
  closeViewer();
  const img = h("img", { alt: attachmentTitle(a) });
  const status = h("p", { class: "muted" }, t("loading"));
  const close = h("button", { type: "button", class: "secondary", id: "viewer-close" }, t("close_viewer"));
  const dialog = h("dialog", { id: "photo-viewer", "data-sha256": a.sha256, "aria-label": t("photo_viewer") },
    h("div", { class: "viewer-bar" },
      h("div", {},
        a.stage ? h("strong", {}, code(a.stage, "attachment_stage")) : "",
        a.caption ? ` ${a.caption}` : "",
        h("div", { class: "muted" }, [a.location, attachmentMeta(a, ctx)].filter(Boolean).join(" · "))),
      close),
    status,
    img);
  close.addEventListener("click", closeViewer);
  dialog.addEventListener("close", closeViewer);
  dialog.addEventListener("click", (e) => { if (e.target === dialog) closeViewer(); });
  document.body.append(dialog);
  dialog.showModal();
  blobUrl(`/v1/blobs/${a.sha256}`).then(
    (url) => {
      if (!dialog.isConnected) return;
      viewerUrl = url;
      img.src = url;
      status.remove();
    },
    (err) => status.replaceWith(err.code === "blob_not_uploaded"
      ? notice(t("photo_not_uploaded"), "error")
      : notice(photoError(err), "error")));
}

function closeViewer() {
  const dialog = document.getElementById("photo-viewer");
  if (viewerUrl) {
    URL.revokeObjectURL(viewerUrl);
    objectUrls.delete(viewerUrl);
    viewerUrl = null;
  }
  if (!dialog) return;
  if (dialog.open) dialog.close();
  dialog.remove();
}

// --- visits and patrols ------------------------------------------------------------------------

async function visitPage(id) {
  const detail = await api(`/v1/records/${id}`);
  if (detail.kind !== "visit") return go(recordHref(detail.kind, id).slice(1));
  const v = detail.record;
  const people = detail.people ?? {};
  return show(
    h("p", {}, h("a", { href: `#/households/${v.household}` }, `← ${t("households")}`)),
    h("h1", { id: "record-title" }, `${code("visit", "record_kind")} · ${fmtTime(v.at)}`),
    h("section", { class: "card" }, h("dl", {},
      h("dt", {}, t("method")), h("dd", {}, code(v.method, "visit_method")),
      h("dt", {}, t("worker")), h("dd", {}, people[v.worker] ?? "–"),
      h("dt", {}, t("grid")), h("dd", {}, detail.place_names?.grid_name ?? v.place?.grid ?? ""),
      h("dt", {}, t("households")), h("dd", {}, h("a", { href: `#/households/${v.household}` }, t("open"))),
      h("dt", {}, t("summary")), h("dd", {}, v.summary ?? ""),
      (v.opened_cases ?? []).length === 0 ? "" : [h("dt", {}, t("related_cases")),
        h("dd", {}, (v.opened_cases ?? []).map((c) => h("a", { href: `#/cases/${c}`, class: "tag" }, t("open"))))])),
    photosCard(detail),
  );
}

async function patrolPage(id) {
  const detail = await api(`/v1/records/${id}`);
  if (detail.kind !== "patrol") return go(recordHref(detail.kind, id).slice(1));
  const p = detail.record;
  return show(
    h("h1", { id: "record-title" }, `${code("patrol", "record_kind")} · ${fmtTime(p.started_at)}`),
    h("section", { class: "card" }, h("dl", {},
      h("dt", {}, t("patrol_route")), h("dd", {}, p.route || "–"),
      h("dt", {}, t("at")), h("dd", {}, `${fmtTime(p.started_at)}${p.ended_at ? ` – ${fmtTime(p.ended_at)}` : ""}`),
      h("dt", {}, t("grid")), h("dd", {}, detail.place_names?.grid_name ?? p.place?.grid ?? ""),
      h("dt", {}, t("patrol_team")), h("dd", {}, (p.team ?? []).map((m) => `${m.name}（${code(m.role, "patrol_role")}）`).join("、") || "–"))),
    h("section", { class: "card" }, h("h2", {}, t("patrol_findings")),
      table([
        [t("at"), (f) => fmtTime(f.at)],
        [t("note"), (f) => f.note],
        [t("related_cases"), (f) => (f.case ? h("a", { href: `#/cases/${f.case}` }, t("open")) : "")],
      ], p.findings ?? [])),
    photosCard(detail),
  );
}

// --- households --------------------------------------------------------------------------------

async function householdsPage(params) {
  const page = await api(`/v1/households${query({ per_page: 25, ...params })}`);
  const filters = { ...params };
  delete filters.page;
  return show(
    h("div", { class: "title-row" }, h("h1", {}, t("households")), exportButtons("households", filters)),
    filterForm("/households", params, [
      ["q", t("search"), textInput("q", { placeholder: t("search_hint"), type: "search" })],
      ["grid", t("grid"), textInput("grid", { placeholder: "dzk-01" })],
      ["status", t("status"), selectInput("status", ["active", "moved_out", "merged"].map((s) => [s, code(s, "household_status")]))],
      ["special_group", t("special_group"), selectInput("special_group",
        ["elderly_alone", "empty_nest", "disabled", "dibao", "tekun", "left_behind_child", "veteran",
          "serious_illness", "community_correction", "drug_rehab", "mental_illness"].map((g) => [g, code(g, "special_group")]))],
    ]),
    table([
      [t("address"), (r) => h("a", { href: `#/households/${r.id}`, "data-household": r.id }, addressText(r.address) || r.id)],
      [t("grid"), (r) => r.grid_name ?? r.grid],
      [t("liaison_group"), (r) => r.liaison_group ?? ""],
      [t("resident_count"), (r) => r.residents],
      [t("special_groups"), (r) => r.special_groups.map((g) => code(g, "special_group")).join("、")],
      [t("status"), (r) => code(r.status, "household_status")],
    ], page.items),
    pager("/households", params, page),
  );
}

function revealCell(id, field, masked) {
  if (masked === null || masked === undefined || masked === "") return "";
  const cell = h("span", { class: "masked", "data-field": field }, masked);
  const button = h("button", { type: "button", class: "link", "data-reveal": field }, t("reveal"));
  button.addEventListener("click", () => {
    const form = reasonForm("reveal-form", t("reveal_reason"), h("button", { type: "submit" }, t("confirm")),
      async (reason) => {
        const res = await api(`/v1/records/${id}/reveal`, { method: "POST", body: { field, reason } });
        cell.textContent = res.value;
        cell.className = "revealed";
        form.remove();
      });
    button.replaceWith(form);
  });
  return h("span", {}, cell, " ", button);
}

// A form asking for a reason of at least 4 characters (written to the audit log) before
// `act(reason)`; its errors are shown in the form.
function reasonForm(cls, label, submit, act) {
  const message = h("div");
  const form = h("form", { class: cls },
    h("label", {}, label, h("input", { name: "reason", required: true, minlength: 4 })),
    message,
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = new FormData(form).get("reason").trim();
    if ([...reason].length < 4) {
      message.replaceChildren(notice(t("reason_too_short"), "error"));
      return;
    }
    try {
      await act(reason);
    } catch (err) {
      message.replaceChildren(errorView(err));
    }
  });
  return form;
}

function archiveCard(id) {
  const form = reasonForm("archive-form", t("archive_reason"),
    h("button", { type: "submit", "data-archive": id }, t("archive")),
    async (reason) => {
      const res = await api(`/v1/households/${id}/archive`, { method: "POST", body: { reason } });
      form.replaceWith(notice(`${t("archived_until")} ${fmtTime(res.erase_after)}`, "ok"));
    });
  return h("section", { class: "card" }, h("h2", {}, t("archive")), h("p", { class: "muted" }, t("archive_hint")), form);
}

async function householdPage(id) {
  const [detail, visits, cases, history] = await Promise.all([
    api(`/v1/records/${id}`),
    api(`/v1/visits${query({ household: id, per_page: 50 })}`).catch(() => ({ items: [] })),
    api(`/v1/cases${query({ household: id, per_page: 50 })}`).catch(() => ({ items: [] })),
    api(`/v1/records/${id}/history${query({ per_page: 50 })}`),
  ]);
  if (["case", "visit", "patrol"].includes(detail.kind)) return go(recordHref(detail.kind, id).slice(1));
  const r = detail.record;
  const residents = r.residents ?? [];
  return show(
    h("p", {}, h("a", { href: "#/households" }, `← ${t("households")}`)),
    h("h1", {}, addressText(r.address) || id),
    h("section", { class: "card" }, h("dl", {},
      h("dt", {}, t("grid")), h("dd", {}, `${detail.place_names?.community_name ?? r.place?.community ?? ""} / ${detail.place_names?.grid_name ?? r.place?.grid ?? ""}`),
      h("dt", {}, t("liaison_group")), h("dd", {}, r.liaison_group ?? "–"),
      h("dt", {}, t("status")), h("dd", {}, code(r.status, "household_status")),
      h("dt", {}, t("tag")), h("dd", {}, (r.tags ?? []).map((tag) => code(tag, "household_tag")).join("、") || "–"))),
    r.status !== "active" && ["community_supervisor", "street_supervisor"].includes(session?.user?.role)
      ? archiveCard(id)
      : "",
    h("section", { class: "card" }, h("h2", {}, t("residents")),
      table([
        [t("name"), (p) => p.name],
        [t("gender"), (p) => code(p.gender, "gender")],
        [t("birth_date"), (p) => revealCell(id, `residents[${residents.indexOf(p)}].birth_date`, p.birth_date)],
        [t("relation"), (p) => code(p.relation, "relation")],
        [t("id_number"), (p) => revealCell(id, `residents[${residents.indexOf(p)}].id_number`, p.id_number)],
        [t("phone"), (p) => revealCell(id, `residents[${residents.indexOf(p)}].phone`, p.phone)],
        [t("status"), (p) => code(p.status, "resident_status")],
        [t("special_groups"), (p) => (p.special_groups ?? []).map((g) =>
          h("span", { class: `tag ${g.verified ? "verified" : ""}` },
            code(g.group, "special_group"), g.verified ? ` ✓` : "", g.valid_until ? ` (${t("valid")} ${g.valid_until})` : ""))],
      ], residents)),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h2", {}, t("visits")),
        table([
          [t("at"), (v) => h("a", { href: `#/visits/${v.id}`, "data-visit": v.id }, fmtTime(v.at))],
          [t("summary"), (v) => v.label],
          [t("method"), (v) => code(v.method, "visit_method")],
          [t("photos"), (v) => v.photos ?? 0],
        ], visits.items)),
      h("section", { class: "card" }, h("h2", {}, t("related_cases")), caseTable(cases.items))),
    photosCard(detail),
    h("section", { class: "card" }, h("h2", {}, t("history")),
      history.total > history.entries.length
        ? h("p", { class: "muted" }, `${t("history_latest")}: ${history.entries.length} / ${history.total}`)
        : "",
      table([
        [t("at"), (e) => fmtTime(e.at)],
        [t("by"), (e) => `${e.user?.display_name ?? "?"} · ${e.device_name ?? e.device ?? ""}`],
        [t("fields"), (e) => [...new Set(e.edits.map((x) => x.field))].slice(0, 8).join(", ")],
        [t("message"), (e) => e.message ?? ""],
      ], history.entries)),
  );
}

// --- conflicts ---------------------------------------------------------------------------------

async function conflictsPage(params) {
  const page = await api(`/v1/conflicts${query({ per_page: 25, ...params })}`);
  return show(
    h("h1", {}, t("conflict_inbox")),
    h("p", { class: "muted" }, t("conflict_hint")),
    page.items.length === 0 ? notice(t("no_conflicts")) : "",
    table([
      [t("records"), (c) => h("a", { href: `#/conflicts/${c.id}`, "data-conflict": c.id }, `${code(c.kind, "record_kind")} ${c.id.slice(-8)}`)],
      [t("grid"), (c) => c.grid_name ?? c.grid],
      [t("fields"), (c) => c.fields],
      [t("illegal_events"), (c) => c.illegal_events],
      [t("updated_at"), (c) => fmtTime(c.updated_at)],
    ], page.items),
    pager("/conflicts", params, page),
  );
}

function showValue(value) {
  if (value === null || value === undefined) return "∅";
  return typeof value === "string" ? value : JSON.stringify(value);
}

async function conflictPage(id, flash) {
  const report = await api(`/v1/conflicts/${id}`);
  const link = recordHref(report.kind, id);
  const fields = report.fields.map((f) => h("section", { class: "card conflict", "data-field": f.field },
    h("h2", {}, `${t("field")}: ${f.field}`),
    h("div", { class: "side-by-side" }, f.values.map((v) => {
      const choose = h("button", { type: "button", "data-choice": v.choice }, t("choose"));
      choose.addEventListener("click", async () => {
        try {
          await api(`/v1/conflicts/${id}/resolve`, { method: "POST", body: { field: f.field, choice: v.choice } });
          conflictPage(id, t("conflict_resolved"));
        } catch (err) {
          choose.after(errorView(err));
        }
      });
      return h("div", { class: `candidate ${v.shown ? "shown" : ""}` },
        h("div", { class: "value" }, showValue(v.value)),
        h("dl", {},
          h("dt", {}, t("by")), h("dd", {}, v.user ? `${v.user.display_name} (${code(v.user.role, "role")})` : v.actor.slice(0, 8)),
          h("dt", {}, t("device")), h("dd", {}, v.device_name ?? v.device ?? ""),
          h("dt", {}, t("at")), h("dd", {}, fmtTime(v.at))),
        v.shown ? h("p", { class: "muted" }, t("shown")) : "",
        choose);
    }))));
  const illegal = report.illegal_events.length
    ? h("section", { class: "card", id: "illegal-events" }, h("h2", {}, t("illegal_events")),
      h("p", { class: "muted" }, t("acknowledge_hint")),
      table([[t("audit_action"), (e) => code(e.action, "case_action")], [t("by"), (e) => e.user?.display_name ?? e.actor],
        [t("at"), (e) => fmtTime(e.at)],
        [t("audit_detail"), (e) => e.reason ?? ""],
        [t("review"), (e) => acknowledgeForm(id, e)]], report.illegal_events))
    : "";
  return show(
    h("p", {}, h("a", { href: "#/conflicts" }, `← ${t("conflict_inbox")}`), " · ", h("a", { href: link }, t("open"))),
    flash ? notice(flash, "ok") : "",
    h("h1", {}, `${code(report.kind, "record_kind")} · ${report.grid ?? ""}`),
    report.fields.length === 0 && !report.illegal_events.length ? notice(t("no_conflicts")) : "",
    fields,
    illegal,
    report.merged_invalid ? h("section", { class: "card" }, h("h2", {}, t("merge_problem")), h("p", {}, report.merged_invalid)) : "",
  );
}

/// Marks an event made illegal by a merge as reviewed: the `acknowledge` case action.
function acknowledgeForm(id, illegalEvent) {
  const message = h("div");
  const form = h("form", { class: "acknowledge-form", "data-acknowledge": illegalEvent.event },
    h("textarea", { name: "note", rows: 2, placeholder: t("note") }),
    message,
    h("button", { type: "submit" }, t("acknowledge_btn")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = new FormData(form).get("note");
    try {
      await api(`/v1/cases/${id}/actions`, {
        method: "POST",
        body: { action: "acknowledge", target: illegalEvent.event, ...(note ? { note } : {}) },
      });
      conflictPage(id, t("conflict_resolved"));
    } catch (err) {
      message.replaceChildren(errorView(err));
    }
  });
  return form;
}

// --- exports -----------------------------------------------------------------------------------

async function exportsPage(params) {
  const lists = ["households", "cases", "visits", "patrols", "activities", "party-registrations", "assets", "conflicts"];
  const place = { community: params.community, grid: params.grid };
  return show(
    h("h1", {}, t("exports")),
    h("p", { class: "muted" }, t("export_page_hint")),
    filterForm("/exports", params, [
      ["community", t("community"), textInput("community", { placeholder: "dzk" })],
      ["grid", t("grid"), textInput("grid", { placeholder: "dzk-01" })],
    ]),
    table([
      [t("records"), (list) => t(`list_${list}`)],
      [t("exports"), (list) => exportButtons(list, place)],
    ], lists),
  );
}

// --- 三资 accounts ------------------------------------------------------------------------------

/** Yuan from fen, as a street office writes money: ¥12,345.00. */
function yuan(fen) {
  return `¥${(fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function leaseBadge(lease) {
  return h("span", { class: `badge lease-${lease.state}`, "data-lease-state": lease.state }, code(lease.state, "lease_state"));
}

function expiringTable(leases) {
  return table([
    [t("asset_name"), (l) => h("a", { href: `#/assets/${l.asset}`, "data-asset": l.asset }, l.asset_name)],
    [t("community"), (l) => l.community_name],
    [t("lease_tenant"), (l) => l.tenant],
    [t("lease_end"), (l) => l.end],
    [t("days_left"), (l) => l.days_left],
    [t("rent_per_year"), (l) => yuan(l.rent_fen_per_year)],
  ], leases, () => ({ class: "row-yellow" }));
}

function yearOptions() {
  const now = new Date().getFullYear();
  return [now, now - 1, now - 2].map((y) => [String(y), String(y)]);
}

/** The 三资 accounts of the place: every asset's year, and the leases expiring within 90 days. */
async function assetsPage(params) {
  const place = { community: params.community, grid: params.grid };
  const [street, accounts] = await Promise.all([
    api("/v1/figures"),
    api(`/v1/assets/accounts${query({ ...place, year: params.year })}`),
  ]);
  const totals = accounts.totals;
  const cards = h("div", { class: "cards" }, [
    ["income_fen", totals.income_fen], ["previous_income_fen", totals.previous_income_fen],
    ["expense_fen", totals.expense_fen], ["net_fen", totals.net_fen],
    ["rent_due_fen", totals.rent_due_fen], ["rent_received_fen", totals.rent_received_fen],
  ].map(([key, fen]) => h("div", { class: "figure", "data-figure": key },
    h("span", { class: "value" }, yuan(fen)), h("span", { class: "label" }, t(key)))));
  return show(
    h("h1", {}, t("assets")),
    h("p", { class: "muted" }, t("assets_hint"), accounts.as_of ? ` ${t("as_of")} ${accounts.as_of}` : ""),
    filterForm("/assets", params, [
      ["year", t("year"), selectInput("year", yearOptions())],
      ["community", t("community"), selectInput("community", street.communities.map((c) => [c.id, c.name]))],
    ]),
    cards,
    h("section", { class: "card", id: "asset-list" }, h("h2", {}, t("asset_list")),
      table([
        [t("asset_name"), (a) => h("a", { href: `#/assets/${a.id}${query({ year: params.year })}`, "data-asset": a.id }, a.name)],
        [t("kind"), (a) => code(a.asset_kind, "asset_kind")],
        [t("community"), (a) => a.community_name],
        [t("income_fen"), (a) => yuan(a.income_fen)],
        [t("previous_income_fen"), (a) => yuan(a.previous_income_fen)],
        [t("expense_fen"), (a) => yuan(a.expense_fen)],
        [t("rent_due_fen"), (a) => yuan(a.rent_due_fen)],
        [t("rent_received_fen"), (a) => yuan(a.rent_received_fen)],
        [t("running_leases"), (a) => a.running_leases],
      ], accounts.assets)),
    h("section", { class: "card", id: "expiring-leases" }, h("h2", {}, t("expiring_leases")),
      accounts.expiring_leases.length === 0 ? notice(t("no_expiring_leases")) : expiringTable(accounts.expiring_leases)),
  );
}

/** One asset's account: leases, the year by month, every year, and the ledger. */
async function assetPage(id, params) {
  const a = await api(`/v1/assets/${id}/account${query({ year: params.year })}`);
  const f = a;
  const xlsx = h("button", { type: "button", class: "secondary", id: "account-xlsx" }, t("export_xlsx"));
  xlsx.addEventListener("click", () =>
    downloadFile(`/v1/assets/${id}/account.xlsx${query({ year: params.year })}`, `${a.name}-${a.year}.xlsx`, xlsx));
  const months = barChart(a.months.map((m) => ({ label: m.month.slice(5), value: Math.round(m.income_fen / 100) })),
    { cls: "bar income" });
  return show(
    h("p", {}, h("a", { href: `#/assets${query({ year: params.year })}` }, `← ${t("assets")}`)),
    h("div", { class: "title-row" }, h("h1", { id: "asset-name" }, a.name), xlsx),
    h("p", { class: "muted" }, code(a.asset_kind, "asset_kind"), " · ", a.community_name, " · ", a.grid_name,
      " · ", t("book_value"), " ", yuan(a.value_fen)),
    a.description ? h("p", {}, a.description) : "",
    filterForm(`/assets/${id}`, params, [["year", t("year"), selectInput("year", yearOptions())]]),
    h("div", { class: "cards" }, [
      ["income_fen", f.income_fen], ["previous_income_fen", f.previous_income_fen], ["expense_fen", f.expense_fen],
      ["net_fen", f.net_fen], ["rent_due_fen", f.rent_due_fen], ["rent_received_fen", f.rent_received_fen],
    ].map(([key, fen]) => h("div", { class: "figure", "data-figure": key },
      h("span", { class: "value" }, yuan(fen)), h("span", { class: "label" }, t(key))))),
    h("section", { class: "card", id: "leases" }, h("h2", {}, t("leases")),
      table([
        [t("lease_tenant"), (l) => l.tenant],
        [t("lease_start"), (l) => l.start],
        [t("lease_end"), (l) => l.end],
        [t("rent_per_year"), (l) => yuan(l.rent_fen_per_year)],
        [t("state"), (l) => leaseBadge(l)],
        [t("days_left"), (l) => (l.state === "ended" ? "" : l.days_left)],
      ], a.leases)),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h2", {}, t("income_by_month")), months),
      h("section", { class: "card", id: "years" }, h("h2", {}, t("by_year")),
        table([
          [t("year"), (y) => y.year],
          [t("income_fen"), (y) => yuan(y.income_fen)],
          [t("expense_fen"), (y) => yuan(y.expense_fen)],
          [t("net_fen"), (y) => yuan(y.net_fen)],
        ], a.years))),
    h("section", { class: "card", id: "ledger" }, h("h2", {}, t("ledger")),
      table([
        [t("date"), (e) => e.on],
        [t("direction"), (e) => code(e.direction, "ledger_direction")],
        [t("amount"), (e) => yuan(e.amount_fen)],
        [t("ledger_note"), (e) => e.note],
      ], a.ledger)),
  );
}

// --- monthly report ----------------------------------------------------------------------------

/** The twelve months before this one, newest first, then this month so far. */
function monthOptions() {
  const now = new Date();
  const out = [];
  for (let back = 0; back <= 12; back += 1) {
    const d = new Date(now.getFullYear(), now.getMonth() - back, 1);
    const value = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
    out.push([value, back === 0 ? `${value} ${t("month_so_far")}` : value]);
  }
  return out.slice(1).concat(out.slice(0, 1));
}

/** A figure's value as the report shows it. */
function figureValue(key, value) {
  if (["mediation_success_rate", "appeals_on_time_rate", "visit_coverage"].includes(key)) return percent(value);
  if (["asset_income", "asset_expense"].includes(key)) return yuan(Math.round(value * 100));
  return value;
}

function figureCards(group, id) {
  return h("div", { class: "cards", id }, Object.entries(group).map(([key, value]) =>
    h("div", { class: "figure", "data-figure": key },
      h("span", { class: "value" }, figureValue(key, value)),
      h("span", { class: "label" }, code(key, "report_figure")))));
}

const REPORT_COLUMNS = ["households_on_record", "liaisons", "party_members_total", "service_hours",
  "service_activities", "cultural_activities", "disputes_mediated", "mediation_success_rate", "hazards_found",
  "hazards_rectified", "appeals_resolved", "appeals_on_time_rate", "home_visits", "visit_coverage", "asset_income"];

function reportTable(rows, placeHeader) {
  return table([
    [placeHeader, (r) => r.name],
    ...REPORT_COLUMNS.map((key) => [code(key, "report_figure"),
      (r) => figureValue(key, key in r.as_of ? r.as_of[key] : r.month[key])]),
  ], rows);
}

/** The monthly report (工作月报) of the caller's place or a community: figures, summary, files. */
async function reportPage(params) {
  const filters = { month: params.month, community: params.community };
  const [street, report] = await Promise.all([api("/v1/figures"), api(`/v1/reports/monthly${query(filters)}`)]);
  const fileButton = (ext, label) => {
    const b = h("button", { type: "button", class: "secondary", id: `report-${ext}` }, label);
    b.addEventListener("click", () =>
      downloadFile(`/v1/reports/monthly.${ext}${query(filters)}`, `${report.title}.${ext}`, b));
    return b;
  };
  return show(
    h("div", { class: "title-row" }, h("h1", { id: "report-title" }, report.title),
      h("span", { class: "exports" }, fileButton("xlsx", t("export_xlsx")), fileButton("pdf", t("export_pdf")))),
    h("p", { class: "muted" }, `${t("period")} ${report.month}`, report.complete ? "" : ` ${t("month_so_far")}`),
    filterForm("/reports", { ...params, month: params.month || report.month }, [
      ["month", t("month"), selectInput("month", monthOptions())],
      ["community", t("community"), selectInput("community", street.communities.map((c) => [c.id, c.name]))],
    ]),
    h("section", { class: "card", id: "report-summary" }, h("h2", {}, t("report_summary")), h("p", {}, report.summary)),
    h("section", { class: "card" }, h("h2", {}, t("report_as_of")), figureCards(report.totals.as_of, "report-as-of")),
    h("section", { class: "card" }, h("h2", {}, t("report_month")), figureCards(report.totals.month, "report-month")),
    report.communities.length > 1 ? h("section", { class: "card", id: "report-communities" },
      h("h2", {}, t("by_community")), reportTable(report.communities, t("community"))) : "",
    report.grids.length > 1 ? h("section", { class: "card", id: "report-grids" },
      h("h2", {}, t("by_grid")), reportTable(report.grids, t("grid"))) : "",
  );
}

// --- household roster import -------------------------------------------------------------------

/** The content type of a roster file, by its name (browsers leave CSV's empty on some systems). */
function rosterType(file) {
  if (/\.xlsx$/i.test(file.name)) return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  if (/\.csv$/i.test(file.name)) return "text/csv";
  return file.type || "application/octet-stream";
}

/** Uploads `file` with XMLHttpRequest (fetch reports no upload progress); resolves the JSON answer. */
function uploadRoster(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("authorization", `Bearer ${session.access_token}`);
    xhr.setRequestHeader("content-type", rosterType(file));
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded, e.total));
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: the status text stands.
      }
      if (xhr.status === 202) return resolve(body);
      const err = body?.error ?? { code: "error", message: xhr.statusText };
      reject(new ApiError(xhr.status, err.code, err.message));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", t("error"))));
    xhr.send(file);
  });
}

function importSummary(job) {
  const s = job.summary;
  const keys = ["rows", "valid_rows", "invalid_rows", "households_created", "households_updated",
    "households_unchanged", "residents_created", "residents_updated"];
  const state = job.state === "refused" ? t("import_refused")
    : job.state === "failed" ? t("import_failed")
    : job.dry_run ? t("import_dry_done") : t("import_done");
  const cls = job.state === "done" ? "info" : "error";
  const parts = [notice(job.error ? `${state}: ${job.error.message}` : state, cls)];
  if (!s) return h("div", { id: "import-summary", "data-state": job.state }, parts);
  parts.push(table([
    ["", (k) => t(`import_${k}`)],
    ["", (k) => h("span", { "data-count": k }, String(s[k]))],
  ], keys));
  const report = h("button", { type: "button", class: "secondary", id: "import-report" }, t("import_report"));
  report.addEventListener("click", () => downloadFile(`/v1/imports/${job.id}/report.xlsx`, "import-report.xlsx", report));
  parts.push(h("p", {}, report));
  if (s.problems.length) {
    parts.push(table([
      [t("import_row"), (p) => String(p.row)],
      [t("import_column"), (p) => p.column ?? ""],
      [t("import_problem"), (p) => h("span", { "data-problem": p.problem }, code(p.problem, "import_problem"))],
    ], s.problems.slice(0, 200)));
    if (s.problems.length > 200) parts.push(h("p", { class: "muted" }, t("import_more_problems")));
  }
  return h("div", { id: "import-summary", "data-state": job.state }, parts);
}

async function importPage(params) {
  const grid = h("input", { name: "grid", required: true, placeholder: "dzk-01", value: params.grid ?? "" });
  const file = h("input", { name: "file", type: "file", accept: ".xlsx,.csv", required: true });
  const dryRun = h("input", { name: "dry_run", type: "checkbox" });
  const partial = h("input", { name: "partial", type: "checkbox" });
  const submit = h("button", { type: "submit", id: "import-start" }, t("import_start"));
  const form = h("form", { class: "filters", id: "import-form" },
    h("label", {}, t("grid"), grid),
    h("label", {}, t("import_file"), file),
    h("label", { class: "check" }, dryRun, t("import_dry_run")),
    h("label", { class: "check" }, partial, t("import_partial")),
    h("div", { class: "buttons" }, submit));
  const bar = h("progress", { id: "import-progress", max: 1, value: 0, hidden: true });
  const phase = h("p", { class: "muted", id: "import-phase" });
  const result = h("div", { id: "import-result" });
  const step = (label, done, total) => {
    bar.hidden = false;
    bar.max = Math.max(1, total);
    bar.value = Math.min(done, bar.max);
    phase.textContent = total ? `${label} ${done} / ${total}` : label;
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file.files.length) return;
    submit.disabled = true;
    result.replaceChildren();
    try {
      // A fresh access token before a long upload (api() refreshes an expired one).
      await api("/v1/auth/me");
      const path = `/v1/imports/households${query({ grid: grid.value.trim(), dry_run: dryRun.checked || undefined, partial: partial.checked || undefined })}`;
      let job = await uploadRoster(path, file.files[0], (done, total) => step(t("import_uploading"), done, total));
      while (job.state === "running") {
        step(t(`import_phase_${job.phase}`), job.done, job.total);
        await new Promise((r) => setTimeout(r, 300));
        job = await api(`/v1/imports/${job.id}`);
      }
      step(t("import_phase_done"), 1, 1);
      result.replaceChildren(importSummary(job));
    } catch (err) {
      bar.hidden = true;
      result.replaceChildren(errorView(err));
    } finally {
      submit.disabled = false;
    }
  });
  return show(
    h("h1", {}, t("import_roster")),
    h("p", { class: "muted" }, t("import_hint")),
    form, bar, phase, result,
  );
}

// --- audit (administrators) --------------------------------------------------------------------

async function auditPage(params) {
  if (!isAdmin()) return show(notice(t("admin_only"), "error"));
  const page = await api(`/v1/admin/audit${query({ per_page: 50, ...params })}`);
  const filters = { ...params };
  delete filters.page;
  return show(
    h("div", { class: "title-row" }, h("h1", {}, t("audit")), exportButtons("audit", filters)),
    filterForm("/audit", params, [
      ["action", t("audit_action"), selectInput("action",
        codesOf("audit_action").map((a) => [a, code(a, "audit_action")]))],
      ["record", t("records"), textInput("record")],
    ]),
    table([
      [t("at"), (a) => fmtTime(a.at_text)],
      [t("audit_user"), (a) => a.actor_login],
      [t("audit_action"), (a) => h("span", { "data-audit-action": a.action }, code(a.action, "audit_action"))],
      [t("audit_target"), (a) => [a.record_id ?? a.detail?.target ?? "", a.field ? ` · ${a.field}` : ""]],
      [t("reason"), (a) => a.reason ?? ""],
      [t("audit_detail"), (a) => (a.detail ? JSON.stringify(a.detail) : "")],
      [t("audit_address"), (a) => a.address ?? ""],
    ], page.items),
    pager("/audit", params, page),
  );
}

// --- start -------------------------------------------------------------------------------------

if (missingKeys().length) console.warn("i18n keys without a translation:", missingKeys());
window.addEventListener("hashchange", route);
loadVocabulary().catch((e) => console.warn("labels unavailable:", e)).finally(route);
