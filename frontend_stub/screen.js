// The command-center screen: plain script, no build step. GraphQL over HTTP for reads and
// mutations, graphql-ws (vendor/) for the overview and feed subscriptions.
"use strict";

const TOKEN_KEY = "ehome.token"; // sessionStorage: the token lives as long as the tab
const ADMIN_ROLES = ["SUPER_ADMIN", "SENIOR_ADMIN", "JUNIOR_ADMIN"];
const ROLE_NAMES = { SUPER_ADMIN: "区级管理员", SENIOR_ADMIN: "镇街管理员", JUNIOR_ADMIN: "村社管理员",
  MEMBER: "党员", AUDITOR: "审计员", PARTNER: "合作方" };
const KINDS = { BRANCH_ACTIVITY: ["组织活动", "◆"], ASSESSMENT: ["考核评价", "★"],
  SECURITY_ALERT: ["安全预警", "⚠"], WARNING: ["工作提醒", "●"] };
const CATEGORY_NAMES = { AGENCY: "机关", NON_PUBLIC: "非公企业", BUILDING: "楼宇",
  RED_PROPERTY: "红色物业", RURAL: "农村" };
const LIGHT_RANK = { GREEN: 1, YELLOW: 2, RED: 3 };
const FEED_KEEP = 200;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const state = { token: null, viewer: null, admin: false, tenants: new Map(), under: null,
  ws: null, subs: [], seen: new Set(), events: [], lastCursor: null, alerts: [], charts: {} };

// -- session -----------------------------------------------------------------------------------

class Expired extends Error {}

async function gql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const response = await fetch("/graphql", { method: "POST", headers,
    body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    if (body.errors.some((e) => e.extensions && e.extensions.code === "UNAUTHENTICATED") && state.token) {
      expire();
      throw new Expired();
    }
    throw new Error(body.errors[0].message);
  }
  return body.data;
}

function showLogin(message) {
  $("screen").hidden = true;
  $("login").hidden = false;
  $("login-message").textContent = message || "";
}

// An expired session (UNAUTHENTICATED over HTTP, close 4401/4403 on the socket) goes back to
// the login form with a message, never to a half-working screen.
function expire() {
  teardown();
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin("登录已过期，请重新登录");
}

function teardown() {
  state.subs.forEach((dispose) => dispose());
  state.subs = [];
  if (state.ws) state.ws.dispose();
  state.ws = null;
  state.token = null;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const data = await gql("mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
      { u: $("username").value, p: $("password").value });
    sessionStorage.setItem(TOKEN_KEY, data.login.accessToken);
    $("password").value = "";
    await start(data.login.accessToken);
  } catch (error) {
    $("login-message").textContent = `登录失败：${error.message}`;
  }
});

$("logout").addEventListener("click", async () => {
  try { await gql("mutation { logout }"); } catch (error) { /* ending the session anyway */ }
  teardown();
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin("已退出登录");
});

// -- start -------------------------------------------------------------------------------------

async function start(token) {
  state.token = token;
  try {
    const { me } = await gql("{ me { username grants { role tenant { id name level } } } }");
    state.viewer = me;
    state.admin = me.grants.some((g) => ADMIN_ROLES.includes(g.role));
    await loadTenants();
  } catch (error) {
    if (!(error instanceof Expired)) showLogin(`加载失败：${error.message}`);
    return;
  }
  $("login").hidden = true;
  $("screen").hidden = false;
  $("viewer-name").textContent = state.viewer.username;
  $("viewer-role").textContent = state.viewer.grants.length
    ? state.viewer.grants.map((g) => `${ROLE_NAMES[g.role] || g.role} · ${g.tenant.name}`).join("，")
    : "党员";
  connect();
  renderFilters();
  initCharts();
  const roots = [...state.tenants.values()].filter((t) => !state.tenants.has(t.parent));
  renderTree(roots);
  setUnder(roots.length === 1 ? roots[0].id : null);
}

async function loadTenants() {
  // The server limits the list to the viewer's scope; pages of 100 until the end.
  state.tenants.clear();
  let after = null;
  for (;;) {
    const { tenants } = await gql(`query($after: String) { tenants(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { id name code level parent { id } } } } }`, { after });
    for (const { node } of tenants.edges) {
      state.tenants.set(node.id, { ...node, parent: node.parent && node.parent.id, children: [] });
    }
    if (!tenants.pageInfo.hasNextPage) break;
    after = tenants.pageInfo.endCursor;
  }
  for (const t of state.tenants.values()) {
    if (state.tenants.has(t.parent)) state.tenants.get(t.parent).children.push(t);
  }
}

// -- live connection ---------------------------------------------------------------------------

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  let dropped = false;
  state.ws = graphqlWs.createClient({
    url,
    connectionParams: () => ({ authorization: `Bearer ${state.token}` }),
    retryAttempts: Infinity,
    // Quick, bounded retries: a restarted server should be back on the wall within seconds.
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 5000))),
    shouldRetry: (event) => !(event && (event.code === 4401 || event.code === 4403)),
    on: {
      connected: () => {
        setConnection(true);
        if (dropped) { dropped = false; refreshPanels(); }
      },
      closed: (event) => {
        if (!state.ws) return; // logged out
        if (event && (event.code === 4401 || event.code === 4403)) { expire(); return; }
        dropped = true;
        setConnection(false);
      },
    },
  });
}

function setConnection(up) {
  const status = $("conn-status");
  status.textContent = up ? "实时连接" : "重新连接中…";
  status.className = `conn ${up ? "ok" : "down"}`;
}

function subscribe(query, variables, onData) {
  // graphql-ws resends this same payload object on every reconnect, so a subscription that
  // updates payload.variables (the feed's `after`) resumes where it left off.
  const payload = { query, variables };
  const dispose = state.ws.subscribe(payload, {
    next: (result) => result.data && onData(result.data, payload),
    error: (error) => console.warn("subscription error", error),
    complete: () => {},
  });
  state.subs.push(dispose);
  return payload;
}

// -- scope -------------------------------------------------------------------------------------

function setUnder(id) {
  state.under = id;
  state.subs.forEach((dispose) => dispose());
  state.subs = [];
  state.seen = new Set();
  state.events = [];
  state.lastCursor = null;
  renderBreadcrumb();
  document.querySelectorAll(".tree span.selected").forEach((s) => s.classList.remove("selected"));
  const mine = document.querySelector(`.tree span[data-id="${CSS.escape(id || "")}"]`);
  if (mine) mine.classList.add("selected");
  ["members", "branches", "activitiesToday", "openAlerts", "red", "yellow", "green"]
    .forEach((k) => { document.querySelector(`[data-tile="${k}"]`).textContent = "–"; });
  $("feed").replaceChildren();

  subscribe(`subscription($under: ID) { overview(under: $under) {
      tenant { id } members branches activitiesToday openAlerts lights { green yellow red } } }`,
    { under: id }, ({ overview }) => renderTiles(overview));
  loadFeed(id).catch(report);
  refreshPanels();
}

function refreshPanels() {
  loadAlerts().catch(report);
  loadStats().catch(report);
  loadCadres().catch(report);
}

function report(error) {
  if (!(error instanceof Expired)) console.warn(error);
}

function renderBreadcrumb() {
  const trail = [];
  for (let t = state.tenants.get(state.under); t; t = state.tenants.get(t.parent)) trail.unshift(t);
  $("breadcrumb").replaceChildren(...trail.flatMap((t, i) => {
    const link = el("a", { textContent: t.name, onclick: () => setUnder(t.id) });
    link.dataset.id = t.id;
    return i ? [" › ", link] : [link];
  }));
}

function renderTree(roots) {
  const branch = (t) => {
    const label = el("span", { textContent: t.name, title: t.code, onclick: () => setUnder(t.id) });
    label.dataset.id = t.id;
    const item = el("li", {}, label);
    if (t.children.length) item.append(el("ul", {}, ...t.children.map(branch)));
    return item;
  };
  $("tree").replaceChildren(...roots.map(branch));
}

// -- tiles -------------------------------------------------------------------------------------

function renderTiles(o) {
  const values = { members: o.members, branches: o.branches, activitiesToday: o.activitiesToday,
    openAlerts: o.openAlerts, red: o.lights.red, yellow: o.lights.yellow, green: o.lights.green };
  for (const [key, value] of Object.entries(values)) {
    document.querySelector(`[data-tile="${key}"]`).textContent = value.toLocaleString("zh-CN");
  }
}

// -- feed --------------------------------------------------------------------------------------

const FEED_FIELDS = "id cursor kind light title occurredAt tenant { id name }";

async function loadFeed(under) {
  const { feedEvents } = await gql(`query($under: ID) { feedEvents(under: $under, first: 30) {
      edges { node { ${FEED_FIELDS} } } } }`, { under });
  if (state.under !== under) return; // the scope changed meanwhile
  const history = feedEvents.edges.map((e) => e.node).reverse(); // oldest first
  history.forEach(addEvent);
  // Live from the newest event shown: nothing between the history and the subscription lost.
  subscribe(`subscription($under: ID, $after: String) { feed(under: $under, after: $after) {
      ${FEED_FIELDS} } }`, { under, after: state.lastCursor }, ({ feed }, payload) => {
    addEvent(feed);
    payload.variables.after = state.lastCursor;
    if (feed.kind === "SECURITY_ALERT" || feed.kind === "WARNING") loadAlerts().catch(report);
    if (feed.kind === "BRANCH_ACTIVITY") scheduleStats();
  });
}

function addEvent(event) {
  // Replays after a reconnect may repeat what was shown: each event is shown once.
  if (state.seen.has(event.id)) return;
  state.seen.add(event.id);
  state.lastCursor = event.cursor;
  state.events.unshift(event);
  const [label, icon] = KINDS[event.kind] || [event.kind, "•"];
  const item = el("li", { className: `${event.light || ""} kind-${event.kind}`, title: label },
    el("span", { className: "icon", textContent: icon }),
    el("div", {}, el("div", { textContent: event.title }),
      el("div", { className: "where", textContent: `${label} · ${event.tenant ? event.tenant.name : ""}` })),
    el("span", { className: "when", textContent: ago(event.occurredAt) }));
  item.dataset.id = event.id;
  item.dataset.kind = event.kind;
  item.dataset.at = event.occurredAt;
  item.hidden = !kindShown(event.kind);
  $("feed").prepend(item);
  while ($("feed").children.length > FEED_KEEP) $("feed").lastElementChild.remove();
}

function renderFilters() {
  $("feed-filters").replaceChildren(...Object.entries(KINDS).map(([kind, [label, icon]]) => {
    const box = el("input", { type: "checkbox", checked: true, onchange: applyFilters });
    box.dataset.kind = kind;
    return el("label", {}, box, ` ${icon} ${label}`);
  }));
}

function kindShown(kind) {
  const box = document.querySelector(`#feed-filters input[data-kind="${kind}"]`);
  return !box || box.checked;
}

function applyFilters() {
  for (const item of $("feed").children) item.hidden = !kindShown(item.dataset.kind);
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "刚刚";
  if (seconds < 3600) return `${Math.floor(seconds / 60)}分钟前`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}小时前`;
  return `${Math.floor(seconds / 86400)}天前`;
}

setInterval(() => {
  for (const item of document.querySelectorAll("#feed li, #alerts li")) {
    const when = item.querySelector(".when");
    if (when && item.dataset.at) when.textContent = ago(item.dataset.at);
  }
}, 30000);

// -- alerts and map ----------------------------------------------------------------------------

async function loadAlerts() {
  const under = state.under;
  const { alerts } = await gql(`query($under: ID) { alerts(under: $under, status: [OPEN, ACKNOWLEDGED], first: 100) {
      totalCount edges { node { id kind light title status occurredAt tenant { id name } } } } }`, { under });
  if (state.under !== under) return;
  state.alerts = alerts.edges.map((e) => e.node);
  $("alerts-count").textContent = alerts.totalCount ? `(${alerts.totalCount})` : "";
  $("alerts").replaceChildren(...state.alerts.map(alertItem));
  renderMap();
}

function alertItem(alert) {
  const actions = el("div", { className: "actions" });
  if (state.admin) {
    if (alert.status === "OPEN") {
      actions.append(el("button", { textContent: "确认", className: "ack",
        onclick: () => act("mutation($id: ID!) { acknowledgeAlert(id: $id) { id } }", { id: alert.id }) }));
    }
    const note = el("input", { placeholder: "处置说明", hidden: true, className: "note" });
    actions.append(note, el("button", { textContent: "处置", className: "resolve", onclick: () => {
      if (note.hidden) { note.hidden = false; note.focus(); return; }
      if (note.value.trim()) act("mutation($id: ID!, $note: String!) { resolveAlert(id: $id, note: $note) { id } }",
        { id: alert.id, note: note.value.trim() });
    } }));
  }
  const item = el("li", { className: alert.light },
    el("span", { className: "status", textContent: alert.status === "OPEN" ? "待确认" : "已确认" }),
    el("div", {}, el("div", { textContent: alert.title }),
      el("div", { className: "where", textContent: `${alert.tenant ? alert.tenant.name : "全区"} · ` },
        el("span", { className: "when", textContent: ago(alert.occurredAt) }))),
    actions);
  item.dataset.id = alert.id;
  item.dataset.status = alert.status;
  item.dataset.at = alert.occurredAt;
  return item;
}

async function act(mutation, variables) {
  try {
    await gql(mutation, variables);
  } catch (error) {
    report(error);
  }
  await loadAlerts().catch(report);
}

function renderMap() {
  // Worst open light per subtree: each alert colours its tenant and every tenant above it.
  const worst = new Map();
  for (const alert of state.alerts) {
    for (let t = alert.tenant && state.tenants.get(alert.tenant.id); t; t = state.tenants.get(t.parent)) {
      if ((LIGHT_RANK[alert.light] || 0) > (LIGHT_RANK[worst.get(t.id)] || 0)) worst.set(t.id, alert.light);
    }
  }
  const here = state.tenants.get(state.under);
  const cells = here ? (here.children.length ? here.children : [here])
    : [...state.tenants.values()].filter((t) => !state.tenants.has(t.parent));
  const cell = (t, size) => {
    const light = worst.get(t.id) || "GREEN";
    const node = el("div", { className: `cell ${size} ${light}`, textContent: t.name, title: t.code,
      onclick: () => setUnder(t.id) });
    node.dataset.id = t.id;
    node.dataset.light = light;
    return node;
  };
  // Each tenant shown with the tenants below it (a town with its villages), so the wall shows
  // the whole subtree at a glance; a click drills down.
  $("map").replaceChildren(...cells.map((t) => t.children.length
    ? el("div", { className: "group" }, cell(t, "head"),
        el("div", { className: "sub" }, ...t.children.map((c) => cell(c, "small"))))
    : cell(t, "")));
}

// -- charts ------------------------------------------------------------------------------------

function initCharts() {
  for (const [key, id] of [["days", "chart-days"], ["categories", "chart-categories"], ["radar", "chart-radar"]]) {
    if (state.charts[key]) state.charts[key].dispose();
    state.charts[key] = echarts.init($(id), "dark", { renderer: "canvas" });
  }
}

window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));

let statsTimer = null;
function scheduleStats() {
  clearTimeout(statsTimer); // a burst of activities is one reload
  statsTimer = setTimeout(() => loadStats().catch(report), 2000);
}

async function loadStats() {
  const under = state.under;
  const { stats } = await gql(`query($under: ID) { stats(under: $under, days: 30) {
      activitiesPerDay { date count } branchesByCategory { category count } } }`, { under });
  if (state.under !== under) return;
  const base = { backgroundColor: "transparent", textStyle: { fontFamily: "inherit" } };
  state.charts.days.setOption({ ...base,
    grid: { left: 40, right: 12, top: 16, bottom: 28 }, tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: stats.activitiesPerDay.map((d) => d.date.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "活动", itemStyle: { color: "#e83b3b" },
      data: stats.activitiesPerDay.map((d) => d.count) }] });
  state.charts.categories.setOption({ ...base, tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "65%"], label: { color: "#e8eef8" },
      data: stats.branchesByCategory.map((c) => ({ name: CATEGORY_NAMES[c.category] || c.category, value: c.count })) }] });
}

// -- cadre radar -------------------------------------------------------------------------------
// The cadres of the current subtree (the first 20, in id order) in a picker; the chosen one's
// five dimensions against the district average. The server masks names and hides files the
// viewer may not read: the panel shows what it gets.

const DIMENSION_NAMES = { LOYALTY: "政治忠诚", DETERMINATION: "政治定力", RESPONSIBILITY: "政治担当",
  ABILITY: "政治能力", SELF_DISCIPLINE: "政治自律" };
const LIGHT_COLORS = { RED: "#ff4d4f", YELLOW: "#f5c542", GREEN: "#34c759" };
const LIGHT_LABELS = { RED: "红", YELLOW: "黄", GREEN: "绿" };

async function loadCadres() {
  const under = state.under;
  const { cadreLights } = await gql(`query($under: ID) { cadreLights(under: $under, first: 20) {
      edges { node { cadreId name light needsPlan tenant { name } } } } }`, { under });
  if (state.under !== under) return;
  const cadres = cadreLights.edges.map((e) => e.node);
  const picker = $("radar-cadre");
  const chosen = picker.value;
  picker.replaceChildren(...cadres.map((c) => {
    const option = el("option", { value: c.cadreId,
      textContent: `${LIGHT_LABELS[c.light] || ""}灯 · ${c.name} · ${c.tenant.name}${c.needsPlan ? " · 待整改" : ""}` });
    option.style.color = LIGHT_COLORS[c.light] || "";
    option.dataset.light = c.light;
    return option;
  }));
  $("radar-empty").hidden = cadres.length > 0;
  $("chart-radar").hidden = cadres.length === 0;
  if (!cadres.length) return;
  picker.value = cadres.some((c) => c.cadreId === chosen) ? chosen : cadres[0].cadreId;
  await loadRadar(picker.value);
}

$("radar-cadre").addEventListener("change", (event) => loadRadar(event.target.value).catch(report));

async function loadRadar(cadreId) {
  const { radar } = await gql(`query($id: ID!) { radar(cadreId: $id) {
      cadreId dimensions { dimension value districtAverage } } }`, { id: cadreId });
  if ($("radar-cadre").value !== cadreId || !radar) return;
  const chart = state.charts.radar;
  chart.resize(); // the panel may have been hidden when the chart was made
  const option = $("radar-cadre").selectedOptions[0];
  const color = LIGHT_COLORS[option && option.dataset.light] || "#3aa0ff";
  chart.setOption({ backgroundColor: "transparent", textStyle: { fontFamily: "inherit" },
    tooltip: { trigger: "item" },
    legend: { bottom: 0, textStyle: { color: "#8fa3c0" }, itemWidth: 12, itemHeight: 8 },
    radar: { radius: "62%", center: ["50%", "48%"], splitNumber: 4,
      axisName: { color: "#e8eef8", fontSize: 11 },
      indicator: radar.dimensions.map((d) => ({ name: DIMENSION_NAMES[d.dimension] || d.dimension, max: 100 })) },
    series: [{ type: "radar", data: [
      { name: "本人", value: radar.dimensions.map((d) => d.value),
        itemStyle: { color }, areaStyle: { opacity: 0.25 } },
      { name: "全区平均", value: radar.dimensions.map((d) => d.districtAverage ?? 0),
        itemStyle: { color: "#8fa3c0" }, lineStyle: { type: "dashed" } },
    ] }] }, true);
  $("chart-radar").dataset.cadre = radar.cadreId;
}

// -- boot --------------------------------------------------------------------------------------

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved); else showLogin("");
