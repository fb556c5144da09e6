/* SPDX-License-Identifier: Apache-2.0 */
/*
 * packetbroker dashboard: polls the public REST API (/api/v1) once a second
 * and redraws. Nothing here is private: every call is in schema/openapi.yaml.
 * Data that could not be refreshed is never shown as current: a banner
 * says since when, and the page is dimmed.
 */
"use strict";

const POLL_MS = 1000;
const WINDOW_MS = 15 * 60 * 1000;
const API = "api/v1";

const state = {
  readToken: sessionStorage.getItem("pb.readToken") || "",
  token: sessionStorage.getItem("pb.token") || "",
  lastOk: 0,
  prev: null,            /* previous sample: {t, peers: {name: {rec, bytes}}, sources: {...}} */
  peerHist: new Map(),   /* name -> [[t, records/s]] */
  srcHist: new Map(),    /* name -> [[t, packets/s]] */
  dlqHist: new Map(),    /* "rows", "mb" -> [[t, value]] */
  filter: new URLSearchParams(),
  job: null,
  nodeNames: new Map(),  /* node id -> name, from the peers' identities and gap paths */
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error.message : "HTTP " + status);
    this.status = status;
    this.code = body && body.error ? body.error.code : "";
  }
}

async function api(path, init) {
  const opts = Object.assign({ headers: {}, cache: "no-store" }, init || {});
  const tok = opts.token || state.readToken;
  if (tok) opts.headers.Authorization = "Bearer " + tok;
  delete opts.token;
  const resp = await fetch(API + path, opts);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

/* ---- formatting ---- */

function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
function fmtRate(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return v >= 10 ? String(Math.round(v)) : v.toFixed(1);
}
function fmtGbps(bytesPerS) { return ((bytesPerS * 8) / 1e9).toFixed(bytesPerS * 8 >= 1e9 ? 2 : 4); }
function fmtBytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}
function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return d + "d " + h + "h " + m + "m";
  if (h > 0) return h + "h " + m + "m";
  return m + "m " + (s % 60) + "s";
}
function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  /* sv-SE: ISO-like "2024-05-01 12:00:00" in the browser's time zone. */
  return isNaN(d) ? iso : d.toLocaleString("sv-SE");
}

/* Table rows from cells: [text, className]; built with DOM calls (no HTML injection). */
function fillTable(table, rows, emptyText) {
  const tbody = table.tBodies[0];
  const frag = document.createDocumentFragment();
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = table.tHead.rows[0].cells.length;
    td.className = "empty";
    td.textContent = emptyText;
    tr.appendChild(td);
    frag.appendChild(tr);
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    if (r.key) tr.dataset.key = r.key;
    r.cells.forEach(([text, cls], i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) td.scope = "row";
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    });
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
}

function pushHist(map, key, t, v) {
  if (!map.has(key)) map.set(key, []);
  const a = map.get(key);
  a.push([t, v]);
  while (a.length > 0 && a[0][0] < t - WINDOW_MS) a.shift();
}

/* ---- sections ---- */

function renderHeader(status, config) {
  $("node-name").textContent = status.node.name || "node " + status.node.id;
  document.title = (status.node.name || "packetbroker") + " – packetbroker";
  const desc = config && config.node ? config.node.description : "";
  $("node-desc").textContent = desc || "";
  $("version").textContent = status.version;
  $("uptime").textContent = fmtDuration(status.uptime_s);
  /* The run epoch is shown to token holders only (GET /status). */
  $("epoch").textContent = status.epoch === undefined ? "– (needs the API token)" : String(status.epoch);
}

function renderPeers(peers, t, dt) {
  const rows = [];
  for (const p of peers.peers) {
    if (p.node && p.node.id !== null) {
      if (p.node.name) state.nodeNames.set(p.node.id, p.node.name);
    }
    const rec = (p.records_sent || 0) + (p.records_received || 0);
    const bytes = (p.bytes_sent || 0) + (p.bytes_received || 0);
    let rps = 0, bps = 0;
    const before = state.prev && state.prev.peers[p.name];
    if (before && dt > 0) {
      rps = Math.max(0, (rec - before.rec) / dt);
      bps = Math.max(0, (bytes - before.bytes) / dt);
    }
    if (before) pushHist(state.peerHist, p.name, t, rps);
    state.cur.peers[p.name] = { rec, bytes };
    rows.push({
      key: p.name,
      cells: [
        [p.name + (p.direction === "upstream" && p.node && p.node.name ? " (" + p.node.name + ")" : "")],
        [p.state, "state state-" + p.state],
        [p.address || "–"],
        [p.state === "up" || p.state === "slow" ? fmtTime(p.connected_since) : "–"],
        [before ? fmtRate(rps) : "…", "num"],
        [before ? fmtGbps(bps) : "…", "num"],
        [fmtInt(p.in_flight), "num"],
        [fmtInt(p.resent), "num"],
        [fmtInt(p.to_dlq), "num"],
        [p.rtt_ms === null || p.rtt_ms === undefined ? "–" : p.rtt_ms.toFixed(1) + " ms", "num"],
      ],
    });
  }
  fillTable($("peers"), rows, "no peers configured");
}

function renderSources(sources, t, dt) {
  const rows = [];
  for (const s of sources.sources) {
    const before = state.prev && state.prev.sources[s.name];
    let pps = 0;
    if (before && dt > 0) pps = Math.max(0, (s.packets - before) / dt);
    if (before !== undefined) pushHist(state.srcHist, s.name, t, pps);
    state.cur.sources[s.name] = s.packets;
    rows.push({
      key: s.name,
      cells: [
        [s.name], [s.state, "state state-" + s.state], [s.target],
        [fmtInt(s.packets), "num"], [fmtBytes(s.bytes), "num"],
        [before !== undefined ? fmtRate(pps) : "…", "num"],
        [fmtInt((s.pcap_drops || 0) + (s.pcap_ifdrops || 0)), "num"],
        [fmtInt(s.trailer_errors), "num"],
      ],
    });
  }
  fillTable($("sources"), rows, "no capture sources on this node");
}

function nodeLabel(id) {
  const n = state.nodeNames.get(id) || (state.self && state.self.id === id ? state.self.name : null);
  return n ? n + " (" + id + ")" : "node " + id;
}

/* A hop of a gap stream's path: its announced name, else its id. */
function hopLabel(h) { return h.name || "#" + h.node; }

function renderGaps(gaps) {
  const rows = [];
  for (const s of gaps.streams) {
    const o = s.origin;
    const ranges = s.missing.slice(0, 5).map(([a, b]) => (a === b ? String(a) : a + "–" + b));
    let text = ranges.join(", ");
    if (s.ranges_total > ranges.length) text += " … (" + s.ranges_total + " ranges)";
    /* The route of the stream's latest record, origin to this node, as the engine saw it;
     * empty for a stream restored at start that no record reached yet. */
    for (const h of s.path) if (h.name) state.nodeNames.set(h.node, h.name);
    const path = s.path.length > 0 ? s.path.map(hopLabel).join(" → ") : "– (no record since start)";
    rows.push({
      key: o.node + "/" + o.source,
      cells: [
        [nodeLabel(o.node) + " / source " + o.source + (o.epoch !== undefined ? " (epoch " + o.epoch + ")" : "")],
        [path],
        [fmtInt(s.received), "num"],
        [fmtInt(s.missing_total), "num"],
        [text || "none"],
        [fmtTime(s.last_seen)],
      ],
    });
  }
  fillTable($("gaps"), rows, "no origin streams received");
  const tt = gaps.totals;
  $("gaps-summary").textContent = tt
    ? tt.streams + " stream(s), " + fmtInt(tt.received) + " received, " + fmtInt(tt.missing_total) +
      " missing, " + fmtInt(tt.gap_events) + " gap event(s)"
    : "";
}

function renderDlq(dlq, t) {
  if (dlq === null) {
    $("dlq-summary").textContent = "No dead-letter queue configured on this node (dlq.path).";
    fillTable($("dlq"), [], "no DLQ");
    $("replay").disabled = true;
    return;
  }
  $("replay").disabled = state.job !== null;
  const st = dlq.stats;
  if (st) {
    pushHist(state.dlqHist, "rows", t, st.rows);
    pushHist(state.dlqHist, "mb", t, st.bytes / 1e6);
  }
  $("dlq-summary").textContent = st
    ? fmtInt(st.rows) + " entries, " + fmtBytes(st.bytes) + " of " + fmtBytes(st.max_bytes) +
      "; " + fmtInt(dlq.total) + " match the filter" +
      (st.refused_full + st.refused_queue > 0 ? "; REFUSING records (full)" : "")
    : fmtInt(dlq.total) + " entries match the filter";
  fillTable($("dlq"), dlq.rows.map((r) => ({
    key: String(r.id),
    cells: [
      [String(r.id), "num"], [r.peer], [nodeLabel(r.origin.node) + " / " + r.origin.source],
      [fmtTime(r.captured)], [fmtTime(r.enqueued)], [r.reason || "–"],
      [fmtInt(r.attempts), "num"], [fmtInt(r.bytes), "num"],
    ],
  })), dlq.total > 0 ? "" : "the DLQ holds no entry matching the filter");
}

/*
 * Green: every peer up, no open gaps. Amber: a peer slow or connecting,
 * or gaps. Red: a peer down, or the DLQ refusing records.
 */
function renderHealth(peers, gaps, dlq) {
  const reasons = [];
  let level = "green";
  const bump = (l, why) => {
    reasons.push(why);
    if (l === "red" || (l === "amber" && level === "green")) level = l;
  };
  for (const p of peers.peers) {
    if (p.state === "down" || p.state === "unknown") bump("red", "peer " + p.name + " " + p.state);
    else if (p.state !== "up") bump("amber", "peer " + p.name + " " + p.state);
  }
  const st = dlq && dlq.stats;
  if (st && st.refused_full + st.refused_queue > 0) bump("red", "DLQ refusing records");
  if (gaps.streams.some((s) => s.ranges_total > 0)) bump("amber", "open gaps");
  const el = $("health");
  el.className = "health " + level;
  $("health-text").textContent = level === "green" ? "healthy" : reasons.join(", ");
}

function drawCharts() {
  const now = Date.now();
  const series = (map) => [...map.entries()].map(([label, points], i) =>
    ({ label, points, color: PBChart.COLORS[i % PBChart.COLORS.length] }));
  PBChart.draw($("peers-chart"), series(state.peerHist), { windowMs: WINDOW_MS, format: fmtRate, now });
  PBChart.draw($("sources-chart"), series(state.srcHist), { windowMs: WINDOW_MS, format: fmtRate, now });
  const d = state.dlqHist;
  PBChart.draw($("dlq-chart"), [
    { label: "rows", points: d.get("rows") || [], color: "#d29922" },
    { label: "MB", points: d.get("mb") || [], color: "#a371f7" },
  ], { windowMs: WINDOW_MS, format: fmtRate, now });
}

/* ---- polling ---- */

function setStale(message) {
  const b = $("banner");
  const since = state.lastOk ? " Last good data: " + new Date(state.lastOk).toLocaleTimeString("sv-SE") + "." : "";
  b.textContent = message + since + " Showing nothing newer; retrying every second.";
  b.hidden = false;
  $("main").classList.add("stale");
  $("health").className = "health unknown";
  $("health-text").textContent = "API unreachable";
}

async function poll() {
  const t = Date.now();
  try {
    const q = state.filter.toString();
    /* The configuration never changes while the daemon runs: read it once. */
    if (state.config === undefined) state.config = await api("/config").catch(() => undefined);
    /* No dlq.path: no DLQ to ask for (a 404 each second would be noise). */
    const hasDlq = !state.config || (state.config.dlq && state.config.dlq.path);
    const [status, peers, sources, gaps, dlq] = await Promise.all([
      api("/status", state.token ? { token: state.token } : {}), api("/peers"), api("/sources"), api("/gaps?limit=50"),
      hasDlq ? api("/dlq?limit=100" + (q ? "&" + q : "")) : null,
    ]);
    state.self = status.node;
    const dt = state.prev ? (t - state.prev.t) / 1000 : 0;
    state.cur = { t, peers: {}, sources: {} };
    renderHeader(status, state.config);
    renderPeers(peers, t, dt);
    renderSources(sources, t, dt);
    renderGaps(gaps);
    renderDlq(dlq, t);
    renderHealth(peers, gaps, dlq);
    state.prev = state.cur;
    state.lastOk = t;
    $("updated").textContent = new Date(t).toLocaleTimeString("sv-SE");
    $("banner").hidden = true;
    $("main").classList.remove("stale");
  } catch (e) {
    if (!(e instanceof ApiError) && !(e instanceof TypeError && /fetch/i.test(e.message)))
      console.error("dashboard:", e); /* a bug here, not the network: tests look for it */
    if (e instanceof ApiError && e.status === 401 && !state.askedRead) {
      state.askedRead = true;
      const tok = window.prompt("This API needs a read token (api.read_token_file):");
      if (tok) {
        state.readToken = tok.trim();
        sessionStorage.setItem("pb.readToken", state.readToken);
      }
    }
    /* Rates across a hole would be averages: start again after it. */
    state.prev = null;
    setStale(e instanceof ApiError ? "The API answered " + e.status + ": " + e.message + "."
      : "The API is unreachable (" + e.message + ").");
  }
  drawCharts();
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}

/* ---- DLQ filter, export link, replay ---- */

function readFilter() {
  const f = new FormData($("dlq-filter"));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (String(v).trim() !== "") q.set(k, String(v).trim());
  state.filter = q;
  const s = q.toString();
  $("download").href = API + "/dlq/export" + (s ? "?" + s : "");
}

async function startReplay(token) {
  const body = {};
  for (const [k, v] of state.filter.entries()) body[k] = k === "node" ? Number(v) : v;
  const job = await api("/dlq/replay", {
    method: "POST", token,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  state.job = job.id;
  $("replay").disabled = true;
  $("replay-progress").hidden = false;
  followJob(job.id);
}

async function followJob(id) {
  try {
    const j = await api("/dlq/replays/" + id);
    $("replay-progress").value = j.progress || 0;
    $("replay-status").textContent = "Replay job " + id + ": " + j.state + ", " + fmtInt(j.sent) + " sent, " +
      fmtInt(j.acked) + " acknowledged, " + fmtInt(j.deleted) + " removed" + (j.error ? " (" + j.error + ")" : "");
    if (j.state === "done" || j.state === "failed") {
      state.job = null;
      $("replay").disabled = false;
      $("replay-progress").hidden = true;
      return;
    }
  } catch (e) {
    $("replay-status").textContent = "Replay job " + id + ": cannot read its state (" + e.message + "), retrying";
  }
  setTimeout(() => followJob(id), 500);
}

function setup() {
  $("dlq-filter").addEventListener("submit", (ev) => { ev.preventDefault(); readFilter(); poll(); });
  $("dlq-filter").addEventListener("reset", () => setTimeout(() => { readFilter(); poll(); }, 0));
  const dlg = $("token-dialog");
  $("replay").addEventListener("click", () => {
    $("token").value = state.token;
    $("token-error").textContent = "";
    dlg.showModal();
  });
  $("token-form").addEventListener("submit", async (ev) => {
    if (ev.submitter && ev.submitter.value === "cancel") return;
    ev.preventDefault();
    const tok = $("token").value.trim();
    try {
      await startReplay(tok);
      state.token = tok;
      sessionStorage.setItem("pb.token", tok);
      dlg.close();
    } catch (e) {
      $("token-error").textContent = e.status === 401 || e.status === 403
        ? "Refused: " + e.message : "Cannot start the replay: " + e.message;
    }
  });
  window.addEventListener("resize", drawCharts);
  readFilter();
  loop();
}

setup();
