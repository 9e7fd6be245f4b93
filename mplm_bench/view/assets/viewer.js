"use strict";
// mplm-bench view: the sample table, and one sample's threads on a canvas timeline.
// Model text only ever reaches the page through textContent / canvas fillText, never as HTML.

const $ = (sel) => document.querySelector(sel);
// the sample table is columnar (COLS[name][k]); SAMPLES[k] builds sample k's row object on demand
let INDEX = null, COLS = {}, NAMES = [], N = 0, SAMPLES = [], IN_PAGE = null;
const STATE = { sort: { col: null, asc: false }, filters: {}, k: null, p: null, clock: "virtual",
  zoom: 1, sel: null, arrows: true, critical: true };
const CACHE = new Map();
const ROW = 16, BAR = 11, AXIS = 24;
let GUTTER = 96;  // the lane names' width: fitted to the sample's longest thread id
const LABEL_FONT = "11px ui-monospace, Menlo, Consolas, monospace";
const COLOR = { ok: "#4477aa", preempted: "#ffffff", error: "#cc3311", length: "#ee7733" };

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);  // strings become Text nodes
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toLocaleString("en-US", { maximumFractionDigits: 3 });
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function cell(k, c) { const col = COLS[c]; return col ? col[k] : undefined; }

function row(k) {
  const o = {};
  for (const c of NAMES) o[c] = COLS[c][k];
  return o;
}

async function loadTable() {
  INDEX = JSON.parse($("#index").textContent);
  const table = await decode(document.getElementById("sample-table"));  // not #table: the HTML table
  N = INDEX.n || 0;
  for (const [name, enc] of Object.entries(table)) {
    COLS[name] = Array.isArray(enc) ? enc : enc.i.map((i) => (i === null ? null : enc.d[i]));  // {d: values, i: index per row}
  }
  NAMES = Object.keys(COLS);
  SAMPLES = new Proxy([], { get(target, prop) {
    if (prop === "length") return N;
    if (typeof prop === "string" && /^\d+$/.test(prop)) return Number(prop) < N ? row(Number(prop)) : undefined;
    return Reflect.get(target, prop);
  } });
  // which samples' calls this file holds: all of them unless its size budget left some out
  if (INDEX.mode === "file" && INDEX.all_calls === false) {
    IN_PAGE = new Uint8Array(N);
    for (const tag of document.querySelectorAll('script[id^="calls-"]')) IN_PAGE[Number(tag.id.slice(6))] = 1;
  }
}

function servePath() { return (INDEX.paths || []).join(" ") || "RUN_OR_ROOT"; }

// ---- runs and their settings --------------------------------------------------------------
function flat(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length && prefix.split(".").length < 2) flat(v, key, out);
    else out.push([key, v]);
  }
  return out;
}

function renderRuns() {
  const box = $("#runs");
  box.append(h("div", { class: "hint" }, `${INDEX.runs.length} run(s), ${N} sample(s)` +
    (INDEX.mode === "serve" ? " — served live: reload the page to see new samples" : "")));
  if (IN_PAGE) {
    box.append(h("div", { class: "hint", id: "calls-note" }, `This file holds the calls of ${INDEX.in_page.toLocaleString("en-US")} of ` +
      `${N.toLocaleString("en-US")} samples (view --calls-mb ${INDEX.calls_mb}; the others are greyed): ` +
      `open any sample with \`mplm-bench view ${servePath()} --serve\`.`));
  }
  const perRun = new Map();
  for (let k = 0; k < N; k++) perRun.set(cell(k, "run"), (perRun.get(cell(k, "run")) || 0) + 1);
  for (const run of INDEX.runs) {
    const n = perRun.get(run.dir) || 0;
    const rows = flat(run, "", []).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, fmt(v))));
    box.append(h("details", { class: "run" }, h("summary", {}, `${run.dir} · ${run.status || "?"} · ${n} sample(s)`),
      h("table", { class: "kv" }, h("tbody", {}, rows))));
  }
  $("#where").textContent = INDEX.where || "";
}

// ---- the sample table ---------------------------------------------------------------------
const FILTERS = ["task", "strategy", "status", "correct"];

function renderFilters() {
  const box = $("#filters");
  for (const col of FILTERS) {
    const values = [...new Set(COLS[col] ? COLS[col].map(fmt) : [""])].sort();
    const sel = h("select", { "data-filter": col, onchange: (e) => { STATE.filters[col] = e.target.value; renderTable(); } },
      h("option", { value: "" }, "all"), values.map((v) => h("option", { value: v }, v)));
    box.append(h("label", {}, col, sel));
  }
  box.append(h("label", {}, "instance", h("input", { type: "search", id: "find", placeholder: "id contains",
    oninput: (e) => { STATE.filters.find = e.target.value; renderTable(); } })));
  if (IN_PAGE) {
    box.append(h("label", {}, h("input", { type: "checkbox", id: "in-page",
      onchange: (e) => { STATE.filters.inPage = e.target.checked; renderTable(); } }), "calls in this file"));
  }
  const sort = h("select", { id: "sort", onchange: (e) => { STATE.sort.col = e.target.value || null; renderTable(); } },
    h("option", { value: "" }, "(table order)"), INDEX.metrics.map((m) => h("option", { value: m }, m)));
  const dir = h("select", { id: "sort-dir", onchange: (e) => { STATE.sort.asc = e.target.value === "asc"; renderTable(); } },
    h("option", { value: "desc" }, "high first"), h("option", { value: "asc" }, "low first"));
  box.append(h("label", {}, "sort by", sort, dir));
}

function visibleSamples() {
  const f = STATE.filters, ids = COLS.instance_id || [];
  const active = FILTERS.filter((col) => f[col]);
  const rows = [];
  for (let k = 0; k < N; k++) {
    if (active.some((col) => fmt(cell(k, col)) !== f[col])) continue;
    if (f.find && !String(ids[k]).includes(f.find)) continue;
    if (f.inPage && IN_PAGE && !IN_PAGE[k]) continue;
    rows.push(k);
  }
  const col = STATE.sort.col;
  if (col) {
    const sign = STATE.sort.asc ? 1 : -1, v = COLS[col] || [];
    rows.sort((a, b) => {
      const x = v[a], y = v[b];
      if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;  // missing last
      if (y === null || y === undefined) return -1;
      if (typeof x === "number" && typeof y === "number") return sign * (x - y);
      return sign * String(x).localeCompare(String(y), "en", { numeric: true });
    });
  }
  return rows;
}

const MAX_ROWS = 2000;

function renderTable() {
  const cols = INDEX.columns;
  const head = h("tr", {}, cols.map((c) => h("th", {
    class: STATE.sort.col === c ? "sorted" + (STATE.sort.asc ? " asc" : "") : "",
    onclick: () => { STATE.sort.asc = STATE.sort.col === c ? !STATE.sort.asc : false; STATE.sort.col = c; syncSort(); renderTable(); },
  }, c)));
  $("#table thead").replaceChildren(head);
  const rows = visibleSamples();
  const body = rows.slice(0, MAX_ROWS).map((k) => {
    const cls = (k === STATE.k ? "sel" : "") + (IN_PAGE && !IN_PAGE[k] ? " nocalls" : "");
    return h("tr", { "data-k": k, class: cls.trim(), onclick: () => openSample(k) }, cols.map((c) => {
      const v = cell(k, c);
      return h("td", { class: (typeof v === "number" ? "num " : "") + (c === "status" ? (v === "ok" ? "st-ok" : "st-bad") : "") }, fmt(v));
    }));
  });
  $("#table tbody").replaceChildren(...body);
  $("#table-note").textContent = rows.length > MAX_ROWS ? `showing ${MAX_ROWS} of ${rows.length} samples: filter to narrow`
    : `${rows.length} of ${N} samples`;
}

function syncSort() {
  $("#sort").value = INDEX.metrics.includes(STATE.sort.col) ? STATE.sort.col : "";
  $("#sort-dir").value = STATE.sort.asc ? "asc" : "desc";
}

// ---- one sample: its calls, loaded when opened -----------------------------------------------
async function decode(el) {
  const text = el.textContent;
  if (el.dataset.enc !== "gzip+base64") return JSON.parse(text);
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function payloadOf(k) {
  if (CACHE.has(k)) return CACHE.get(k);
  const s = row(k);
  let p;
  if (INDEX.mode === "serve") {
    const q = new URLSearchParams({ run: s.run, instance: s.instance_id, repeat: s.repeat });
    const r = await fetch("calls?" + q.toString());
    if (!r.ok) throw new Error(`calls: HTTP ${r.status}`);
    p = await r.json();
  } else {
    const tag = document.getElementById("calls-" + k);
    if (!tag && IN_PAGE) throw new Error(`they are not in this file, which holds the calls of ${INDEX.in_page.toLocaleString("en-US")} ` +
      `of ${N.toLocaleString("en-US")} samples: open it with \`mplm-bench view ${servePath()} --serve\`, or write the file with a larger --calls-mb`);
    if (!tag) throw new Error("none on disk (its calls part is missing or damaged)");
    p = await decode(tag);
  }
  prepare(p);
  CACHE.set(k, p);
  return p;
}

function prepare(p) {
  const c = p.calls, n = (c.call || []).length;
  p.n = n;
  p.lanes = p.threads.map(() => []);
  for (let i = 0; i < n; i++) p.lanes[c.lane[i]].push(i);  // call order is each thread's step order
  p.onPath = new Uint8Array(n);
  for (const i of p.critical) p.onPath[i] = 1;
  p.byCall = new Map();
  for (let i = 0; i < n; i++) p.byCall.set(c.call[i], i);
}

async function openSample(k) {
  STATE.k = k; STATE.p = null; STATE.sel = null;  // nothing of the previous sample stays clickable
  for (const tr of document.querySelectorAll("#table tbody tr")) tr.classList.toggle("sel", Number(tr.dataset.k) === k);
  const s = row(k);
  $("#sample").hidden = false;
  $("#sample-head").replaceChildren(h("h2", {}, `${s.task} ${s.size ?? ""} · ${s.strategy} · ${s.instance_id} · repeat ${s.repeat}`),
    h("div", { class: "hint" }, "loading calls…"));
  let p;
  try { p = await payloadOf(k); } catch (e) {
    $("#sample-head").append(h("div", { class: "st-bad" }, "could not load this sample's calls: " + e.message));
    return;
  }
  if (STATE.k !== k) return;  // another sample was opened meanwhile
  STATE.p = p; STATE.sel = null; STATE.zoom = 1;
  history.replaceState(null, "", "#" + encodeURIComponent(`${s.run}|${s.instance_id}|${s.repeat}`));
  renderHead(s, p);
  renderControls();
  $("#step").replaceChildren(h("p", { class: "hint" }, "Click a step (a bar) to read it; click a thread's name for its steps."));
  layout();
  const sc = $("#scroller"); sc.scrollTop = 0; sc.scrollLeft = 0;
  draw();
}

function renderHead(s, p) {
  const facts = ["status", "status_detail", "correct", "score", "gen_tokens", "critical_path_tokens", "peak_context_tokens",
    "n_threads", "n_calls", "n_messages", "n_preempted", "n_protocol_errors", "rounds", "virtual_time", "wall_s"]
    .filter((c) => s[c] !== null && s[c] !== undefined && s[c] !== "")
    .map((c) => h("span", {}, h("b", {}, c + " "), fmt(s[c])));
  const more = Object.keys(s).filter((c) => !c.startsWith("_")).map((c) => h("tr", {}, h("td", {}, c), h("td", {}, fmt(s[c]))));
  $("#sample-head").replaceChildren(
    h("h2", {}, `${s.task} ${s.size ?? ""} · ${s.strategy} · ${s.instance_id} · repeat ${s.repeat}`),
    h("div", { class: "facts" }, facts, h("span", {}, h("b", {}, "steps on the critical path "), String(p.critical.length))),
    h("details", {}, h("summary", {}, "all columns"), h("table", { class: "kv" }, h("tbody", {}, more))));
}

function renderControls() {
  const clock = h("select", { id: "clock", onchange: (e) => { STATE.clock = e.target.value; STATE.zoom = 1; layout(); draw(); } },
    [["virtual", "virtual time (tokens)"], ["wall", "wall time (s)"], ["cp", "critical-path time (tokens)"]]
      .map(([v, t]) => h("option", { value: v, selected: v === STATE.clock }, t)));
  const box = (id, key, text) => h("label", {}, h("input", { type: "checkbox", id, checked: STATE[key],
    onchange: (e) => { STATE[key] = e.target.checked; draw(); } }), text);
  const zoom = (f) => () => zoomBy(f);
  const sw = (color, border, text) => h("span", {}, h("span", { class: "sw", style: `background:${color};border:1px solid ${border}` }), text);
  $("#controls").replaceChildren(h("label", {}, "x ", clock), box("show-arrows", "arrows", "arrows"),
    box("show-critical", "critical", "critical path"),
    h("span", {}, h("button", { onclick: zoom(0.5) }, "−"), h("button", { onclick: zoom(2) }, "+"),
      h("button", { onclick: () => { STATE.zoom = 1; layout(); draw(); } }, "fit")),
    h("span", { class: "legend" }, sw(COLOR.ok, COLOR.ok, "step"), sw(COLOR.length, COLOR.length, "truncated (length)"),
      sw(COLOR.error, COLOR.error, "error"), sw("#fff", COLOR.error, "preempted ×"), sw(COLOR.ok, "#f0b400", "critical path"),
      sw("#333", "#333", "spawn"), sw("#d55e00", "#d55e00", "message")),
    h("span", { class: "hint" }, "ctrl+wheel zooms"));
}

// ---- the timeline ---------------------------------------------------------------------------
function clockOf(p) {
  const c = p.calls;
  return { virtual: [c.sv, c.ev], wall: [c.sw, c.ew], cp: [c.cs, c.ce] }[STATE.clock];
}

function layout() {
  const p = STATE.p; if (!p) return;
  const [, ends] = clockOf(p);
  let tmax = 0; for (let i = 0; i < p.n; i++) if (ends[i] > tmax) tmax = ends[i];
  p.tmax = tmax || 1;
  const ctx = $("#canvas").getContext("2d");
  ctx.font = LABEL_FONT;
  let longest = 0;
  for (const name of p.threads) longest = Math.max(longest, ctx.measureText(name).width);
  GUTTER = Math.round(Math.min(220, Math.max(60, longest + 16)));
  const view = $("#timeline");
  const width = Math.max(100, view.clientWidth - GUTTER - 24);
  p.ppu = STATE.zoom * width / p.tmax;
  $("#spacer").style.width = (GUTTER + p.tmax * p.ppu + 20) + "px";
  $("#spacer").style.height = (AXIS + p.threads.length * ROW + 8) + "px";
}

function niceStep(span, px) {
  const raw = span / Math.max(1, px / 90);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function firstEnding(idx, ends, t) {  // first step of a lane ending at or after t
  let lo = 0, hi = idx.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (ends[idx[mid]] < t) lo = mid + 1; else hi = mid; }
  return lo;
}

function draw() {
  const p = STATE.p; if (!p) return;
  const view = $("#timeline"), sc = $("#scroller"), cv = $("#canvas");
  const W = sc.clientWidth, H = sc.clientHeight, dpr = window.devicePixelRatio || 1;
  if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
    cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
    cv.style.width = W + "px"; cv.style.height = H + "px";
  }
  const ctx = cv.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const [starts, ends] = clockOf(p), c = p.calls;
  const sl = sc.scrollLeft, st = sc.scrollTop, ppu = p.ppu;
  const X = (t) => GUTTER + t * ppu - sl, Y = (lane) => AXIS + lane * ROW - st;
  const t0 = sl / ppu, t1 = (sl + W - GUTTER) / ppu;
  const l0 = Math.max(0, Math.floor(st / ROW)), l1 = Math.min(p.threads.length - 1, Math.ceil((st + H - AXIS) / ROW));
  ctx.save();
  ctx.beginPath(); ctx.rect(GUTTER, AXIS, W - GUTTER, H - AXIS); ctx.clip();
  for (let lane = l0; lane <= l1; lane++) {
    const y = Y(lane);
    if (lane % 2) { ctx.fillStyle = "#f6f6f6"; ctx.fillRect(GUTTER, y, W - GUTTER, ROW); }
    const idx = p.lanes[lane];
    for (let k = firstEnding(idx, ends, t0); k < idx.length; k++) {
      const i = idx[k];
      if (starts[i] > t1) break;
      const x = X(starts[i]), w = Math.max(1.5, (ends[i] - starts[i]) * ppu), by = y + (ROW - BAR) / 2;
      const status = c.status[i];
      ctx.fillStyle = status === "preempted" ? COLOR.preempted : status === "error" ? COLOR.error
        : c.finish[i] === "length" ? COLOR.length : COLOR.ok;
      ctx.fillRect(x, by, w, BAR);
      if (status === "preempted") {
        ctx.strokeStyle = COLOR.error; ctx.lineWidth = 1; ctx.strokeRect(x + 0.5, by + 0.5, w - 1, BAR - 1);
        const xe = x + w; ctx.beginPath(); ctx.moveTo(xe - 4, by); ctx.lineTo(xe + 2, by + BAR); ctx.moveTo(xe + 2, by); ctx.lineTo(xe - 4, by + BAR); ctx.stroke();
      }
      if (STATE.critical && p.onPath[i]) { ctx.strokeStyle = "#f0b400"; ctx.lineWidth = 2.5; ctx.strokeRect(x - 1, by - 1.5, w + 2, BAR + 3); }
      if (i === STATE.sel) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.strokeRect(x - 2, by - 3, w + 4, BAR + 6); }
    }
  }
  if (STATE.arrows) drawArrows(ctx, p, starts, ends, X, Y, W, H);
  if (STATE.critical) drawCritical(ctx, p, starts, ends, X, Y);
  ctx.restore();
  // the lane names and the time axis stay in place while the lanes scroll under them
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, GUTTER, H); ctx.fillRect(0, 0, W, AXIS);
  ctx.fillStyle = "#333"; ctx.font = LABEL_FONT; ctx.textBaseline = "middle";
  for (let lane = l0; lane <= l1; lane++) {
    const y = Y(lane) + ROW / 2;
    if (y < AXIS) continue;
    ctx.fillText(p.threads[lane], 6, y, GUTTER - 10);  // squeezed, never spilling into the lanes
  }
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(GUTTER, AXIS - 0.5); ctx.lineTo(W, AXIS - 0.5); ctx.moveTo(GUTTER - 0.5, 0); ctx.lineTo(GUTTER - 0.5, H); ctx.stroke();
  const step = niceStep(t1 - t0, W - GUTTER);
  ctx.fillStyle = "#444"; ctx.textBaseline = "top";
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const x = X(t); ctx.beginPath(); ctx.moveTo(x, AXIS - 5); ctx.lineTo(x, AXIS); ctx.stroke();
    ctx.fillText(fmt(Math.round(t * 1000) / 1000), x + 2, 4);
  }
  ctx.fillText(STATE.clock === "wall" ? "s" : "tok", 6, 4);
}

function drawArrows(ctx, p, starts, ends, X, Y, W, H) {
  const a = p.arrows, kinds = [["#333333", 0], ["#d55e00", 1]];
  let heads = 0;
  for (const [color, kind] of kinds) {
    ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 0.8; ctx.globalAlpha = 0.55;
    ctx.beginPath();
    const tips = [];
    for (let j = 0; j < a.length; j += 3) {
      if (a[j + 2] !== kind) continue;
      const s = a[j], d = a[j + 1];
      const xa = X(ends[s]), ya = Y(p.calls.lane[s]) + ROW / 2, xb = X(starts[d]), yb = Y(p.calls.lane[d]) + ROW / 2;
      if ((xa < GUTTER && xb < GUTTER) || (xa > W && xb > W) || (ya < AXIS && yb < AXIS) || (ya > H && yb > H)) continue;
      ctx.moveTo(xa, ya); ctx.lineTo(xb, yb);
      if (heads++ < 4000) tips.push([xa, ya, xb, yb]);
    }
    ctx.stroke();
    for (const [xa, ya, xb, yb] of tips) arrowHead(ctx, xa, ya, xb, yb, 5);
  }
  ctx.globalAlpha = 1;
}

function arrowHead(ctx, xa, ya, xb, yb, size) {
  const ang = Math.atan2(yb - ya, xb - xa);
  ctx.beginPath(); ctx.moveTo(xb, yb);
  ctx.lineTo(xb - size * Math.cos(ang - 0.4), yb - size * Math.sin(ang - 0.4));
  ctx.lineTo(xb - size * Math.cos(ang + 0.4), yb - size * Math.sin(ang + 0.4));
  ctx.closePath(); ctx.fill();
}

function drawCritical(ctx, p, starts, ends, X, Y) {
  const path = p.critical;  // last step first
  ctx.strokeStyle = "#f0b400"; ctx.lineWidth = 2.5; ctx.globalAlpha = 0.9;
  ctx.beginPath();
  for (let k = 0; k + 1 < path.length; k++) {
    const to = path[k], from = path[k + 1];
    ctx.moveTo(X(ends[from]), Y(p.calls.lane[from]) + ROW / 2);
    ctx.lineTo(X(starts[to]), Y(p.calls.lane[to]) + ROW / 2);
  }
  ctx.stroke(); ctx.globalAlpha = 1;
}

function hit(ev) {
  const p = STATE.p; if (!p) return null;
  const sc = $("#scroller"), r = sc.getBoundingClientRect();
  const cx = ev.clientX - r.left, cy = ev.clientY - r.top;
  if (cy < AXIS) return null;
  const lane = Math.floor((cy - AXIS + sc.scrollTop) / ROW);
  if (lane < 0 || lane >= p.threads.length) return null;
  if (cx < GUTTER) return { lane };
  const [starts, ends] = clockOf(p);
  const t = (cx - GUTTER + sc.scrollLeft) / p.ppu, tol = 4 / p.ppu;
  const idx = p.lanes[lane];
  let best = null, gap = Infinity;
  for (let k = firstEnding(idx, ends, t - tol); k < idx.length; k++) {
    const i = idx[k];
    if (starts[i] > t + tol) break;
    const d = t < starts[i] ? starts[i] - t : t > ends[i] ? t - ends[i] : 0;
    if (d < gap) { gap = d; best = i; }
  }
  return best === null ? { lane, none: true } : { lane, call: best };
}

function zoomBy(f) {
  const p = STATE.p; if (!p) return;
  const sc = $("#scroller"), mid = (sc.scrollLeft + (sc.clientWidth - GUTTER) / 2) / p.ppu;
  STATE.zoom = Math.max(1, Math.min(STATE.zoom * f, 1e5));
  layout();
  sc.scrollLeft = mid * p.ppu - (sc.clientWidth - GUTTER) / 2;
  draw();
}

// ---- one step ---------------------------------------------------------------------------------
function selectCall(i, reveal) {
  const p = STATE.p; STATE.sel = i;
  if (reveal) {
    const sc = $("#scroller"), [starts] = clockOf(p), lane = p.calls.lane[i];
    const y = lane * ROW, x = starts[i] * p.ppu;
    if (y < sc.scrollTop || y > sc.scrollTop + sc.clientHeight - AXIS - ROW) sc.scrollTop = Math.max(0, y - 3 * ROW);
    if (x < sc.scrollLeft || x > sc.scrollLeft + sc.clientWidth - GUTTER - 20) sc.scrollLeft = Math.max(0, x - 40);
  }
  renderStep(i);
  draw();
}

function renderStep(i) {
  const p = STATE.p, c = p.calls, thread = p.threads[c.lane[i]];
  const jump = (j, text) => h("button", { class: "link", onclick: () => selectCall(j, true) }, text);
  const from = String(c.from[i] || "").split(",").filter(Boolean).map((src) => {
    const a = p.arrows; let j = null;
    for (let k = 0; k < a.length; k += 3) if (a[k + 1] === i && p.threads[c.lane[a[k]]] === src) j = a[k];
    return j === null ? src + " " : jump(j, `${src}#${c.step[j]}`);
  });
  const rows = [
    ["call", c.call[i]], ["thread", thread], ["parent", p.parents[thread]], ["step", c.step[i]], ["round", c.round[i]],
    ["status", c.status[i]], ["finish reason", c.finish[i]], ["prompt tokens", c.pt[i]], ["cached prompt tokens", c.cpt[i]],
    ["completion tokens", c.ct[i]], ["virtual time", `${fmt(c.sv[i])} → ${fmt(c.ev[i])}`],
    ["wall time (s)", `${fmt(c.sw[i])} → ${fmt(c.ew[i])}`], ["critical-path time", `${fmt(c.cs[i])} → ${fmt(c.ce[i])}`],
    ["time to first token (s)", c.ttft[i]], ["directives", c.dir[i]], ["retries", c.retries[i]],
    ["discarded tokens", c.disc[i]], ["error", c.err[i]], ["on the critical path", p.onPath[i] ? "yes" : "no"],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const table = h("table", { class: "kv" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { "data-field": k }, fmt(v)))),
    from.length ? h("tr", {}, h("td", {}, "consumed from"), h("td", {}, from)) : null));
  const prompt = c.prompt[i]
    ? h("details", {}, h("summary", {}, `prompt (${c.prompt[i].length.toLocaleString("en-US")} characters)`), h("pre", { class: "text", id: "step-prompt" }, c.prompt[i]))
    : h("p", { class: "hint" }, "prompt not kept (run with --log-prompts to keep it)");
  const steps = p.lanes[c.lane[i]].map((j) => h("li", { class: j === i ? "cur" : "", onclick: () => selectCall(j, true) },
    `step ${c.step[j]} · ${fmt(c.ct[j])} tok · ${c.status[j]}${c.finish[j] && c.finish[j] !== "stop" ? " (" + c.finish[j] + ")" : ""} · ${c.dir[j] || "—"}`));
  $("#step").replaceChildren(h("h3", {}, `thread ${thread} · step ${c.step[i]}`), table,
    h("h4", {}, "response"), h("pre", { class: "text", id: "step-response" }, c.response[i] || ""),
    h("h4", {}, "prompt"), prompt,
    h("h4", {}, `thread ${thread}: ${p.lanes[c.lane[i]].length} step(s) in order`), h("ol", { class: "steps" }, steps));
  $("#step").scrollTop = 0;
}

// ---- wiring ---------------------------------------------------------------------------------
async function init() {
  await loadTable();
  renderRuns();
  renderFilters();
  renderTable();
  const sc = $("#scroller");
  let pending = false;
  sc.addEventListener("scroll", () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } });
  sc.addEventListener("click", (ev) => {
    const got = hit(ev);
    if (!got) return;
    if (got.call !== undefined) selectCall(got.call, false);
    else if (ev.clientX - sc.getBoundingClientRect().left < GUTTER) selectCall(STATE.p.lanes[got.lane][0], false);
  });
  sc.addEventListener("mousemove", (ev) => {
    const got = hit(ev), tip = $("#tip"), on = got && got.call !== undefined;
    sc.style.cursor = on ? "pointer" : "default";
    tip.hidden = !on;
    if (!on) return;
    const c = STATE.p.calls, i = got.call, r = $("#timeline").getBoundingClientRect();
    tip.textContent = `thread ${STATE.p.threads[c.lane[i]]} · step ${c.step[i]} · ${fmt(c.ct[i])} tok · ${c.status[i]}` +
      (c.finish[i] && c.finish[i] !== "stop" ? ` (${c.finish[i]})` : "") + (c.dir[i] ? ` · ${c.dir[i]}` : "");
    tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - tip.offsetWidth - 4) + "px";
    tip.style.top = (ev.clientY - r.top + 14) + "px";
  });
  sc.addEventListener("mouseleave", () => { $("#tip").hidden = true; });
  sc.addEventListener("wheel", (ev) => { if (ev.ctrlKey) { ev.preventDefault(); zoomBy(ev.deltaY < 0 ? 1.25 : 0.8); } }, { passive: false });
  window.addEventListener("resize", () => { layout(); draw(); });
  const want = decodeURIComponent(location.hash.slice(1));
  for (let k = 0; want && k < N; k++) {
    if (`${cell(k, "run")}|${cell(k, "instance_id")}|${cell(k, "repeat")}` === want) { openSample(k); break; }
  }
  document.body.dataset.ready = "1";  // for tests and scripts: the table is drawn
}

init();
