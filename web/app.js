// The flashnas dashboard: plain JavaScript over the REST API (every request
// carries the API key from this tab's session storage as a Bearer header).
// Views: sign-in, the jobs list, and a job page whose trials arrive through
// the API's change feed (GET /trials?after=seq), so a running job adds points
// without a reload and each poll costs what changed, not the whole job.
// Drawing is O(trials) per frame and frames are coalesced, so 2,000 trials stay smooth.
'use strict';

const POLL_MS = Number(new URLSearchParams(location.search).get('poll')) || 2000;
const KEY_SLOT = 'flashnas.key';

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_SLOT);
  const res = await fetch(path, { ...options, headers: { Authorization: `Bearer ${key}`, Accept: 'application/json', ...(options.headers || {}) } });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null;
  if (!res.ok) {
    if (res.status === 401) signOut('The key was refused (unknown or revoked).');
    throw new ApiError(res.status, body?.detail || body?.title || `HTTP ${res.status}`);
  }
  return body;
}

// ------------------------------------------------------------------ helpers

const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k.startsWith('data-')) node.setAttribute(k, v); else node[k] = v;
  }
  node.append(...children);
  return node;
}
const fmt = (v, digits = 4) => (v === null || v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(digits)) : String(v));
const pattern = (arch) => arch.layer_types.map((t) => ({ full: 'F', swa: 'W', skip: 'S' }[t] || '?')).join('');
function shares(arch) {
  const n = arch.layer_types.length || 1;
  return { skip: arch.layer_types.filter((t) => t === 'skip').length / n, swa: arch.layer_types.filter((t) => t === 'swa').length / n };
}
function colourOf(arch) {
  const s = shares(arch);  // grey for all-full, towards orange with skips and blue with sliding windows
  const r = 90 + 145 * s.skip - 50 * s.swa, g = 100 + 20 * s.skip + 10 * s.swa, b = 120 - 90 * s.skip + 110 * s.swa;
  return `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
}
// A job's latency objective (spec.latency.objective) applied to a trial's metrics.
function latencyOf(objective, m) {
  if (!objective || typeof objective === 'string') return m[objective || 'prefill_ms'];
  let total = 0;
  for (const [metric, weight] of Object.entries(objective)) {
    if (m[metric] === null || m[metric] === undefined) return undefined;
    total += weight * m[metric];
  }
  return total;
}
function objectiveName(o) {
  if (!o || typeof o === 'string') return o || 'prefill_ms';
  const terms = Object.entries(o).filter(([, w]) => w !== 0);
  return terms.length === 1 && terms[0][1] === 1 ? terms[0][0] : terms.map(([k, w]) => `${w}·${k}`).join(' + ');
}

let pollTimer = null;
function every(fn) {
  clearTimeout(pollTimer);
  const tick = async () => {
    try { await fn(); } catch (e) { if (!(e instanceof ApiError && e.status === 401)) console.error(e); }
    if (pollTimer !== null) pollTimer = setTimeout(tick, POLL_MS);
  };
  pollTimer = setTimeout(tick, 0);
}
function stopPolling() { clearTimeout(pollTimer); pollTimer = null; }

// ------------------------------------------------------------------ sign-in

function signOut(message = '') {
  sessionStorage.removeItem(KEY_SLOT);
  stopPolling();
  $('#sign-in-error').textContent = message;
  route();
}

$('#sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_SLOT, $('#key').value.trim());
  try {
    await api('/v1/jobs?limit=1');
    $('#key').value = '';
    $('#sign-in-error').textContent = '';
    route();
  } catch (e) {
    if (e.status !== 401) signOut(`Could not sign in: ${e.message}`);
  }
});
$('#sign-out').addEventListener('click', () => signOut());

// ------------------------------------------------------------------ views

function show(view) {
  for (const id of ['sign-in-view', 'jobs-view', 'job-view']) $(`#${id}`).hidden = id !== view;
  $('#sign-out').hidden = view === 'sign-in-view';
}

function route() {
  stopPolling();
  if (!sessionStorage.getItem(KEY_SLOT)) { show('sign-in-view'); return; }
  const m = location.hash.match(/^#\/jobs\/(\d+)$/);
  if (m) showJob(Number(m[1])); else showJobs();
}
window.addEventListener('hashchange', route);

function progressText(job) {
  const p = job.progress;
  if (job.stage === 'measuring' && p.stage1_planned) return `measuring latency ${p.stage1_measured}/${p.stage1_planned}`;
  if (job.kind === 'search' && p.budget) return `${p.evaluated}/${p.budget} evaluated` + (job.hypervolume != null ? `, HV ${job.hypervolume.toFixed(4)}` : '');
  const settled = p.succeeded + p.failed + p.cancelled;
  return `${settled}/${p.total} trials` + (p.failed ? ` (${p.failed} failed)` : '');
}
function progressFraction(job) {
  const p = job.progress;
  if (job.stage === 'measuring' && p.stage1_planned) return p.stage1_measured / p.stage1_planned;
  if (job.kind === 'search' && p.budget) return p.evaluated / p.budget;
  return p.total ? (p.succeeded + p.failed + p.cancelled) / p.total : 0;
}

function showJobs() {
  show('jobs-view');
  const load = async () => {
    const q = new URLSearchParams({ limit: '200' });
    if ($('#state-filter').value) q.set('state', $('#state-filter').value);
    if ($('#kind-filter').value) q.set('kind', $('#kind-filter').value);
    const page = await api(`/v1/jobs?${q}`);
    const rows = page.items.map((job) => el('tr', { 'data-job-id': job.id },
      el('td', { class: 'num' }, String(job.id)),
      el('td', {}, el('a', { href: `#/jobs/${job.id}` }, job.name || '(unnamed)')),
      el('td', {}, job.kind),
      el('td', { class: `state-${job.state}` }, job.state + (job.stage && job.state === 'running' ? ` (${job.stage})` : '')),
      el('td', {}, progressText(job)),
      el('td', {}, new Date(job.created_at).toLocaleString())));
    $('#jobs tbody').replaceChildren(...rows);
  };
  $('#state-filter').onchange = $('#kind-filter').onchange = () => every(load);
  every(load);
}

// ------------------------------------------------------------------ job page

// [key, heading, value of a trial, shown as: 'text' | 'int' | 'real' (4 significant digits) | 'mark']
const TRIAL_COLUMNS = [
  ['ordinal', 'trial', (t) => t.ordinal, 'int'],
  ['state', 'state', (t) => t.state, 'text'],
  ['source', 'source', (t) => t.source, 'text'],
  ['pattern', 'layers', (t) => pattern(t.arch), 'text'],
  ['d_model', 'd_model', (t) => t.arch.d_model, 'int'],
  ['d_ffn', 'd_ffn (mean)', (t) => t.arch.d_ffn.reduce((a, b) => a + b, 0) / t.arch.d_ffn.length, 'real'],
  ['params', 'params', (t) => t.metrics.params, 'int'],
  ['eval_nll', 'eval NLL', (t) => t.metrics.eval_nll, 'real'],
  ['prefill_ms', 'TTFT ms', (t) => t.metrics.prefill_ms, 'real'],
  ['decode_ms_per_token', 'decode ms/token', (t) => t.metrics.decode_ms_per_token, 'real'],
  ['frontier', 'frontier', (t) => (jobState.frontier.has(t.id) ? 1 : 0), 'mark'],
];
function cellText(v, shown) {
  if (v === null || v === undefined) return '';
  if (shown === 'mark') return v ? '●' : '';
  if (shown === 'real') return v.toPrecision(4);
  return String(v);
}

let jobState = null;

function showJob(id) {
  show('job-view');
  jobState = { id, job: null, trials: new Map(), afterSeq: 0, afterEvent: 0, frontier: new Set(), frontierVersion: null,
    hv: [], latencyModelId: null, sort: { key: 'ordinal', desc: false }, selected: null, dirty: true };
  $('#events').replaceChildren();
  $('#trials thead tr').replaceChildren(...TRIAL_COLUMNS.map(([key, label]) => {
    const th = el('th', { 'data-key': key }, label);
    th.onclick = () => { const s = jobState.sort; s.desc = s.key === key ? !s.desc : false; s.key = key; renderTrials(); };
    return th;
  }));
  every(() => pollJob(id));
}

async function pollJob(id) {
  const s = jobState;
  const job = await api(`/v1/jobs/${id}`);
  if (s !== jobState) return;
  s.job = job;
  $('#job-title').textContent = `${job.name || 'job'} (#${job.id}, ${job.kind})`;
  $('#job-status').replaceChildren(el('span', { class: `state-${job.state}` }, job.state), ` ${job.stage ? `· ${job.stage} ` : ''}· ${progressText(job)}`,
    job.error ? el('span', { class: 'error' }, ` · ${job.error}`) : '',
    job.waiting ? el('span', { class: 'waiting' }, ` · ${job.waiting}`) : '');
  $('#job-progress-bar').style.width = `${Math.round(100 * progressFraction(job))}%`;
  $('#hypervolume-panel').hidden = job.kind !== 'search';
  $('#latency-model-panel').hidden = !job.latency_model_id;

  // Trials that changed since the last poll (the change feed), a page at a time.
  for (;;) {
    const page = await api(`/v1/jobs/${id}/trials?after=${s.afterSeq}&limit=1000`);
    for (const t of page.items) { s.trials.set(t.id, t); s.afterSeq = Math.max(s.afterSeq, t.seq); }
    if (page.items.length) s.dirty = true;
    if (page.items.length < 1000) break;
  }
  const events = await api(`/v1/jobs/${id}/events?after=${s.afterEvent}&limit=1000`);
  for (const e of events.items) {
    s.afterEvent = Math.max(s.afterEvent, e.seq);
    $('#events').append(el('li', {}, `${new Date(e.created_at).toLocaleTimeString()} ${e.kind} ${JSON.stringify(e.payload)}`));
  }
  if (job.frontier_version !== s.frontierVersion || s.frontierVersion === null) {
    const frontier = await api(`/v1/jobs/${id}/frontier`);
    s.frontier = new Set(frontier.points.map((p) => p.trial_id));
    s.frontierVersion = frontier.version;
    s.dirty = true;
  }
  if (job.kind === 'search') {
    const hv = await api(`/v1/jobs/${id}/hypervolume`);
    if (hv.items.length !== s.hv.length) { s.hv = hv.items; s.dirty = true; }
  }
  if (job.latency_model_id && job.latency_model_id !== s.latencyModelId) {
    s.latencyModelId = job.latency_model_id;
    drawLatencyModel(await api(`/v1/latency-models/${job.latency_model_id}`), job);
  }
  if (s.dirty) { s.dirty = false; requestAnimationFrame(() => { drawPareto(); drawHypervolume(); renderTrials(); }); }
  if (['succeeded', 'failed', 'cancelled'].includes(job.state) && !s.dirty && s.finalPolled) stopPolling();
  s.finalPolled = ['succeeded', 'failed', 'cancelled'].includes(job.state);
}

// Axes for a canvas: maps data to pixels with margins, draws ticks and labels.
function axes(canvas, xs, ys, xLabel, yLabel, { logX = false, padX: padXs = true } = {}) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 58, R = 12, T = 10, B = 40;
  ctx.clearRect(0, 0, W, H);
  const tx = logX ? Math.log : (v) => v;
  let [x0, x1] = [Math.min(...xs.map(tx)), Math.max(...xs.map(tx))];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const padX = padXs ? (x1 - x0) * 0.05 : 0, padY = (y1 - y0) * 0.06;
  x0 -= padX; x1 += padX; y0 -= padY; y1 += padY;
  const px = (v) => L + ((tx(v) - x0) / (x1 - x0)) * (W - L - R);
  const py = (v) => H - B - ((v - y0) / (y1 - y0)) * (H - T - B);
  ctx.strokeStyle = '#98a2b3'; ctx.fillStyle = '#475467'; ctx.font = '11px system-ui'; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  for (let i = 0; i <= 4; ++i) {
    const xv = logX ? Math.exp(x0 + ((x1 - x0) * i) / 4) : x0 + ((x1 - x0) * i) / 4;
    const yv = y0 + ((y1 - y0) * i) / 4;
    ctx.textAlign = 'center'; ctx.fillText(padXs ? xv.toPrecision(3) : String(Math.round(xv)), px(xv), H - B + 14);
    ctx.textAlign = 'right'; ctx.fillText(yv.toPrecision(3), L - 4, py(yv) + 4);
  }
  ctx.textAlign = 'center'; ctx.fillText(xLabel, (L + W - R) / 2, H - 6);
  ctx.save(); ctx.translate(12, (T + H - B) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yLabel, 0, 0); ctx.restore();
  return { ctx, px, py };
}

function plottedTrials() {
  const objective = jobState.job?.spec?.latency?.objective;
  const out = [];
  for (const t of jobState.trials.values()) {
    const latency = latencyOf(objective, t.metrics);
    if (t.state === 'succeeded' && typeof latency === 'number' && typeof t.metrics.eval_nll === 'number') out.push({ t, x: latency, y: t.metrics.eval_nll });
  }
  return out;
}

function drawPareto() {
  const canvas = $('#pareto');
  const points = plottedTrials();
  canvas.dataset.points = String(points.length);
  canvas.dataset.frontier = [...jobState.frontier].sort((a, b) => a - b).join(',');
  if (!points.length) { canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height); canvas._hit = []; return; }
  const { ctx, px, py } = axes(canvas, points.map((p) => p.x), points.map((p) => p.y),
    `${objectiveName(jobState.job?.spec?.latency?.objective)} (ms)`, 'eval NLL (nats/token)');
  const front = points.filter((p) => jobState.frontier.has(p.t.id)).sort((a, b) => a.x - b.x);
  if (front.length) {  // the frontier as a step line: best NLL reachable at each latency
    ctx.strokeStyle = '#101828'; ctx.lineWidth = 1.5; ctx.beginPath();
    ctx.moveTo(px(front[0].x), py(front[0].y));
    for (let i = 1; i < front.length; ++i) { ctx.lineTo(px(front[i].x), py(front[i - 1].y)); ctx.lineTo(px(front[i].x), py(front[i].y)); }
    ctx.stroke();
  }
  canvas._hit = points.map((p) => ({ ...p, cx: px(p.x), cy: py(p.y) }));
  for (const p of canvas._hit) {
    const onFront = jobState.frontier.has(p.t.id);
    ctx.fillStyle = colourOf(p.t.arch); ctx.beginPath(); ctx.arc(p.cx, p.cy, onFront ? 4.5 : 3, 0, 2 * Math.PI); ctx.fill();
    if (onFront || p.t.id === jobState.selected) { ctx.strokeStyle = p.t.id === jobState.selected ? '#d92d20' : '#101828'; ctx.lineWidth = 1.2; ctx.stroke(); }
  }
}

function nearestPoint(canvas, event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width, y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  let best = null, bestD = 64;
  for (const p of canvas._hit || []) { const d = (p.cx - x) ** 2 + (p.cy - y) ** 2; if (d < bestD) { best = p; bestD = d; } }
  return best;
}
$('#pareto').addEventListener('mousemove', (event) => {
  const p = nearestPoint(event.currentTarget, event), tip = $('#tooltip');
  if (!p) { tip.hidden = true; return; }
  const a = p.t.arch, m = p.t.metrics;
  tip.textContent = `trial ${p.t.ordinal}${jobState.frontier.has(p.t.id) ? ' (frontier)' : ''}\n${a.n_layers} layers ${pattern(a)}, d_model ${a.d_model}` +
    `${a.sliding_window ? `, window ${a.sliding_window}` : ''}\nd_ffn ${a.d_ffn.join(' ')}\neval NLL ${fmt(m.eval_nll)}\nTTFT ${fmt(m.prefill_ms)} ms, decode ${fmt(m.decode_ms_per_token)} ms/token\nparams ${fmt(m.params)}`;
  tip.style.left = `${event.clientX + 14}px`; tip.style.top = `${event.clientY + 10}px`; tip.hidden = false;
});
$('#pareto').addEventListener('mouseleave', () => { $('#tooltip').hidden = true; });
$('#pareto').addEventListener('click', (event) => {
  const p = nearestPoint(event.currentTarget, event);
  jobState.selected = p ? p.t.id : null;
  drawPareto(); renderTrials();
  document.querySelector(`#trials tr[data-trial-id="${jobState.selected}"]`)?.scrollIntoView({ block: 'center' });
});

function drawHypervolume() {
  const canvas = $('#hypervolume'), items = jobState.hv;
  canvas.dataset.points = String(items.length);
  if (!items.length) { canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height); return; }
  const { ctx, px, py } = axes(canvas, items.map((h) => h.evaluations), items.map((h) => h.hypervolume), 'evaluations', 'hypervolume', { padX: false });
  ctx.strokeStyle = '#2e5aac'; ctx.lineWidth = 2; ctx.beginPath();
  items.forEach((h, i) => (i ? ctx.lineTo(px(h.evaluations), py(h.hypervolume)) : ctx.moveTo(px(h.evaluations), py(h.hypervolume))));
  ctx.stroke();
}

function drawLatencyModel(model, job) {
  const canvas = $('#latency-model');
  const decode = job.spec?.latency?.objective === 'decode_ms_per_token';
  const [measured, predicted, label] = decode ? ['decode_ms_per_token', 'predicted_decode_ms_per_token', 'decode ms/token'] : ['ttft_ms', 'predicted_ttft_ms', 'TTFT ms'];
  const pairs = (model.holdout_points || []).filter((p) => p[measured] > 0 && p[predicted] > 0);
  canvas.dataset.points = String(pairs.length);
  const acc = model.accuracy?.[decode ? 'decode' : 'prefill'];
  $('#latency-accuracy').textContent = acc ? `held out: ${acc.n} · R² ${acc.r2.toFixed(3)} · within 10% ${(100 * acc.within_10).toFixed(0)}% · RMSPE ${acc.rmspe_percent.toFixed(1)}% · Kendall τ model ${acc.kendall_tau_model.toFixed(2)}, FLOPs ${acc.kendall_tau_flops.toFixed(2)}, params ${acc.kendall_tau_params.toFixed(2)}` : '';
  if (!pairs.length) return;
  const all = pairs.flatMap((p) => [p[measured], p[predicted]]);
  const lo = Math.min(...all) * 0.85, hi = Math.max(...all) * 1.15;
  const { ctx, px, py } = axes(canvas, [lo, hi], [lo, hi], `measured ${label}`, `predicted ${label}`);
  ctx.fillStyle = 'rgba(46,90,172,0.12)'; ctx.beginPath();  // the band where |predicted/measured - 1| <= 10%
  ctx.moveTo(px(lo), py(lo * 1.1)); ctx.lineTo(px(hi), py(hi * 1.1)); ctx.lineTo(px(hi), py(hi * 0.9)); ctx.lineTo(px(lo), py(lo * 0.9)); ctx.fill();
  ctx.strokeStyle = '#98a2b3'; ctx.beginPath(); ctx.moveTo(px(lo), py(lo)); ctx.lineTo(px(hi), py(hi)); ctx.stroke();
  for (const p of pairs) {
    const inside = Math.abs(p[predicted] / p[measured] - 1) <= 0.1;
    ctx.fillStyle = inside ? '#2e5aac' : '#d92d20'; ctx.beginPath(); ctx.arc(px(p[measured]), py(p[predicted]), 3.5, 0, 2 * Math.PI); ctx.fill();
  }
}

function renderTrials() {
  const s = jobState, column = TRIAL_COLUMNS.find(([key]) => key === s.sort.key);
  const value = column[2], sign = s.sort.desc ? -1 : 1;
  const trials = [...s.trials.values()].sort((a, b) => {
    const va = value(a), vb = value(b);
    if (va === vb) return a.ordinal - b.ordinal;
    if (va === undefined || va === null) return 1;
    if (vb === undefined || vb === null) return -1;
    return (va < vb ? -1 : 1) * sign;
  });
  for (const th of document.querySelectorAll('#trials th')) {
    th.classList.toggle('sorted', th.dataset.key === s.sort.key);
    th.classList.toggle('desc', th.dataset.key === s.sort.key && s.sort.desc);
  }
  const rows = trials.map((t) => {
    const tr = el('tr', { 'data-trial-id': t.id, class: t.id === s.selected ? 'selected' : '' },
      ...TRIAL_COLUMNS.map(([key, , get, shown]) => {
        const v = get(t);
        return el('td', { class: shown === 'int' || shown === 'real' ? 'num' : '' }, key === 'state' && t.error ? `${v}: ${t.error}` : cellText(v, shown));
      }));
    tr.onclick = () => { s.selected = t.id; drawPareto(); renderTrials(); };
    return tr;
  });
  $('#trials tbody').replaceChildren(...rows);
}

route();
