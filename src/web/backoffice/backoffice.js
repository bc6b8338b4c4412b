// The back office: vanilla JS over the REST API. The operator token lives in sessionStorage
// (this tab only) and travels in the Authorization header, never in a URL. What a role may not
// do is not shown: admins edit settings and redeliver, analysts decide, auditors read.
'use strict';

const TOKEN_KEY = 'kyc.operatorToken';
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const state = { me: null, settings: null, historyCursor: null, deliveriesCursor: null, reviewCursor: null, pendingPatch: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

// ---- API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders, Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (res.status === 401 && path !== '/v1/me') signOut('Your session ended: sign in again.');
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
};

const fmtTime = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

// ---- durations: "1d12h30m" <-> days / hours / minutes inputs --------------------------

function splitDuration(value) {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(value || '') || [];
  return { d: m[1] || '', h: m[2] || '', m: m[3] || '' };
}
function readDuration(prefix) {
  const part = (unit) => $(`#${prefix}-${unit}`).value.trim();
  const [d, h, m] = ['d', 'h', 'm'].map(part);
  // Sent as typed (zeros dropped): the API canonicalises and says what is wrong, next to the field.
  let out = '';
  if (d && Number(d) !== 0) out += `${d}d`;
  if (h && Number(h) !== 0) out += `${h}h`;
  if (m && Number(m) !== 0) out += `${m}m`;
  for (const v of [d, h, m]) if (v && !/^\d+$/.test(v)) return v; // let the API name the bad value
  return out || '0m';
}
function writeDuration(prefix, value) {
  const parts = splitDuration(value);
  for (const unit of ['d', 'h', 'm']) $(`#${prefix}-${unit}`).value = parts[unit];
}
const durationMinutes = (v) => {
  const p = splitDuration(v);
  return Number(p.d || 0) * 1440 + Number(p.h || 0) * 60 + Number(p.m || 0);
};
const describeDuration = (v) => {
  if (v === null) return 'indefinitely';
  const p = splitDuration(v);
  const parts = [];
  if (p.d) parts.push(`${p.d} day${p.d === '1' ? '' : 's'}`);
  if (p.h) parts.push(`${p.h} hour${p.h === '1' ? '' : 's'}`);
  if (p.m) parts.push(`${p.m} minute${p.m === '1' ? '' : 's'}`);
  return parts.join(' ') || v;
};

// ---- sign-in, roles, tabs -----------------------------------------------------------------

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    state.me = await api('GET', '/v1/me');
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw err;
  }
  $('#whoami').textContent = `${state.me.email} (${state.me.role})`;
  $('#sign-out').hidden = false;
  $('#sign-in').hidden = true;
  $('#app').hidden = false;
  const role = state.me.role;
  document.body.dataset.role = role;
  // What a role may not do is not offered (the API would answer 403).
  for (const node of $$('.admin-only')) node.hidden = role !== 'admin';
  for (const input of $$('#settings-form input')) input.disabled = role !== 'admin';
  $('#tab-history').hidden = role === 'analyst';
  $('#tab-deliveries').hidden = role === 'analyst';
  selectTab('tab-settings');
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  $('#app').hidden = true;
  $('#sign-in').hidden = false;
  $('#sign-out').hidden = true;
  $('#whoami').textContent = '';
  $('#token').value = '';
  $('#token-error').textContent = message || '';
}

const loaders = { 'tab-settings': loadSettings, 'tab-history': loadHistory, 'tab-review': loadReview, 'tab-deliveries': loadDeliveries };

function selectTab(id) {
  for (const tab of $$('[role=tab]')) {
    const on = tab.id === id;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#${tab.getAttribute('aria-controls')}`).hidden = !on;
  }
  loaders[id]?.().catch(showUnexpected);
}

function showUnexpected(err) {
  console.error(err);
  const panel = $$('[role=tabpanel]').find((p) => !p.hidden);
  const target = panel && $('.field-error', panel);
  if (target) target.textContent = err.message;
}

// ---- Advanced settings ------------------------------------------------------------------

function clearFieldErrors() {
  for (const node of $$('#settings-form .field-error')) node.textContent = '';
  for (const node of $$('#settings-form [aria-invalid]')) node.removeAttribute('aria-invalid');
}

function showFieldErrors(err) {
  const errors = err.problem?.errors || [];
  let placed = false;
  for (const { path, message } of errors) {
    const field = path.split('.')[0];
    const target = $(`#${field}-error`);
    if (!target) continue;
    target.textContent = message;
    ($(`#${field}`) || $(`#${field}-group`))?.setAttribute('aria-invalid', 'true');
    placed = true;
  }
  if (!placed) $('#settings-error').textContent = err.message;
}

function fillSettings(s) {
  state.settings = s;
  $('#sessionEndWebhookUrl').value = s.sessionEndWebhookUrl || '';
  $('#decisionWebhookUrl').value = s.decisionWebhookUrl || '';
  $('#retention-indefinite').checked = s.dataRetention === null;
  writeDuration('dataRetention', s.dataRetention);
  writeDuration('sessionLinkExpiry', s.sessionLinkExpiry);
  syncRetentionInputs();
  describeChanges();
  $('#panel-settings').dataset.loaded = 'true';
}

async function loadSettings() {
  fillSettings(await api('GET', '/v1/settings'));
}

function syncRetentionInputs() {
  const indefinite = $('#retention-indefinite').checked;
  for (const input of $$('#retention-inputs input')) input.disabled = indefinite || state.me?.role !== 'admin';
}

/** The fields that differ from the saved settings. */
function settingsPatch() {
  const s = state.settings;
  const patch = {};
  const url = (id) => $(`#${id}`).value.trim() || null;
  for (const id of ['sessionEndWebhookUrl', 'decisionWebhookUrl']) if (url(id) !== s[id]) patch[id] = url(id);
  const retention = $('#retention-indefinite').checked ? null : readDuration('dataRetention');
  if (retention !== s.dataRetention) patch.dataRetention = retention;
  const expiry = readDuration('sessionLinkExpiry');
  if (expiry !== s.sessionLinkExpiry && durationMinutes(expiry) !== durationMinutes(s.sessionLinkExpiry)) patch.sessionLinkExpiry = expiry;
  if (patch.dataRetention && s.dataRetention && durationMinutes(patch.dataRetention) === durationMinutes(s.dataRetention)) delete patch.dataRetention;
  return patch;
}

/** Says what saving would do, before it is saved. */
function describeChanges() {
  const box = $('#change-summary');
  if (!state.settings || state.me?.role !== 'admin') return void (box.hidden = true);
  const patch = settingsPatch();
  const lines = [];
  if ('sessionEndWebhookUrl' in patch) lines.push(patch.sessionEndWebhookUrl ? `Session-end webhooks will go to ${patch.sessionEndWebhookUrl}, pending retries included.` : 'Session-end webhooks will be recorded as skipped (no URL).');
  if ('decisionWebhookUrl' in patch) lines.push(patch.decisionWebhookUrl ? `Decision webhooks will go to ${patch.decisionWebhookUrl}, pending retries included.` : 'Decision webhooks will be recorded as skipped (no URL).');
  if ('dataRetention' in patch) lines.push(`Data will be kept ${describeDuration(patch.dataRetention)} after creation; every session and standalone analysis not yet purged is re-armed.`);
  if ('sessionLinkExpiry' in patch) lines.push(`Links of new sessions will be valid ${describeDuration(patch.sessionLinkExpiry)}; existing links keep their expiry.`);
  box.replaceChildren(...lines.map((l) => el('p', {}, l)));
  box.hidden = lines.length === 0;
}

function resetConfirm() {
  state.pendingPatch = null;
  $('#retention-preview').hidden = true;
  $('#confirm-save').hidden = true;
  $('#cancel-save').hidden = true;
  $('#save-settings').hidden = false;
}

async function saveSettings(patch) {
  clearFieldErrors();
  $('#settings-status').textContent = '';
  try {
    const saved = await api('PATCH', '/v1/settings', patch);
    resetConfirm();
    fillSettings(saved);
    $('#settings-status').textContent = 'Settings saved.';
  } catch (err) {
    resetConfirm();
    if (err instanceof ApiError) showFieldErrors(err);
    else throw err;
  }
}

async function onSaveSettings(event) {
  event.preventDefault();
  clearFieldErrors();
  $('#settings-status').textContent = '';
  const patch = settingsPatch();
  if (Object.keys(patch).length === 0) {
    $('#settings-status').textContent = 'Nothing to save.';
    return;
  }
  const before = state.settings.dataRetention;
  const shorter = 'dataRetention' in patch && patch.dataRetention !== null && (before === null || durationMinutes(patch.dataRetention) < durationMinutes(before));
  if (!shorter) return saveSettings(patch);
  // A shorter retention deletes data: show what it would purge first, then ask to confirm.
  let preview;
  try {
    preview = await api('GET', `/v1/settings/retention-preview${query({ dataRetention: patch.dataRetention })}`);
  } catch (err) {
    if (err instanceof ApiError) return showFieldErrors(err);
    throw err;
  }
  const s = preview.sessions;
  const a = preview.analyses;
  const soon = (f) => f.scheduled.reduce((n, d) => n + d.count, 0);
  const box = $('#retention-preview');
  box.replaceChildren(
    el('p', {}, el('strong', {}, `Shorter retention (${describeDuration(patch.dataRetention)} instead of ${describeDuration(before)}).`)),
    el('p', {}, `Purged within a minute of saving: ${s.purgeNow} session(s) and ${a.purgeNow} standalone analysis(es).`),
    el('p', {}, `Purged over the next ${preview.horizonDays} days: ${soon(s)} session(s) and ${soon(a)} analysis(es); later: ${s.later + a.later}.`),
    el('p', {}, 'Purged data cannot be recovered.'),
  );
  box.hidden = false;
  state.pendingPatch = patch;
  $('#save-settings').hidden = true;
  $('#confirm-save').hidden = false;
  $('#cancel-save').hidden = false;
  $('#confirm-save').focus();
}

async function sendTest(endpoint) {
  const out = $(`#test-${endpoint}`);
  out.textContent = 'Sending…';
  try {
    const a = await api('POST', '/v1/settings/webhooks/test', { endpoint });
    const parts = [`Attempt: ${a.outcome}`];
    if (a.statusCode !== null) parts.push(`HTTP ${a.statusCode}`);
    if (a.durationMs !== null) parts.push(`${a.durationMs} ms`);
    if (a.url) parts.push(`to ${a.url}`);
    if (a.error) parts.push(`error: ${a.error}`);
    out.textContent = parts.join(' · ');
    out.className = `attempt ${a.outcome === 'succeeded' ? 'status' : 'field-error'}`;
  } catch (err) {
    out.textContent = err.message;
    out.className = 'attempt field-error';
  }
}

async function revealSecret() {
  const { secret } = await api('GET', '/v1/settings/webhook-secret');
  $('#secret-value').textContent = secret;
  $('#secret-status').textContent = 'Shown here only; this read is recorded in the action history.';
}

async function rotateSecret() {
  const r = await api('POST', '/v1/settings/webhook-secret/rotate');
  $('#secret-value').textContent = r.secret;
  $('#secret-status').textContent = r.previousSecretExpiresAt
    ? `New secret in use. The previous one keeps signing until ${fmtTime(r.previousSecretExpiresAt)}.`
    : 'New secret in use.';
}

// ---- Operator action history ----------------------------------------------------------------

function historyFilters() {
  const form = $('#history-filters');
  const f = Object.fromEntries(new FormData(form).entries());
  for (const k of ['from', 'to']) if (f[k]) f[k] = new Date(f[k]).toISOString();
  return f;
}

async function loadHistory(cursor = null) {
  $('#history-error').textContent = '';
  verifyChain().catch(showUnexpected);
  let page;
  try {
    page = await api('GET', `/v1/audit-events${query({ ...historyFilters(), limit: 25, cursor })}`);
  } catch (err) {
    const errors = err.problem?.errors;
    $('#history-error').textContent = errors?.length ? errors.map((e) => `${e.path.replace(/^query\./, '')}: ${e.message}`).join('; ') : err.message;
    return;
  }
  state.historyCursor = page.nextCursor;
  $('#history-next').disabled = !page.nextCursor;
  const rows = page.data.map((e) =>
    el(
      'tr',
      {},
      el('td', {}, String(e.seq)),
      el('td', {}, fmtTime(e.occurredAt)),
      el('td', {}, e.actor.label || e.actor.id, el('br'), el('span', { class: 'muted' }, e.actor.type)),
      el('td', {}, el('code', {}, e.action)),
      el('td', {}, e.category),
      el('td', {}, e.resource.type, el('br'), el('code', { class: 'muted' }, e.resource.id || '')),
      el('td', {}, e.outcome),
      el('td', {}, e.changes ? el('code', {}, JSON.stringify(e.changes)) : '—'),
    ),
  );
  $('#history-table tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '8' }, 'No action matches these filters.'))]));
}

async function verifyChain() {
  const v = await api('GET', '/v1/audit-events/verify');
  const box = $('#chain-status');
  if (v.valid) {
    box.textContent = `Chain verified: ${v.checked} event(s), head #${v.headSeq ?? 0}. No event was changed or removed.`;
    box.className = 'notice good';
  } else {
    box.textContent = `Chain BROKEN at event #${v.firstInvalidSeq}: ${v.checked} event(s) verified before it. Report this to your security team.`;
    box.className = 'notice bad';
  }
}

async function exportHistory(format) {
  const f = historyFilters();
  const res = await fetch(`/v1/audit-events/export${query({ ...f, format })}`, {
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ''}` },
    credentials: 'omit',
  });
  if (!res.ok) {
    const problem = await res.json().catch(() => null);
    $('#history-error').textContent = problem?.detail || `export failed: HTTP ${res.status}`;
    return;
  }
  const blob = await res.blob();
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] || `audit-events.${format}`;
  const link = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// ---- Review queue ---------------------------------------------------------------------------

async function loadReview(cursor = null) {
  const page = await api('GET', `/v1/analyses${query({ status: 'verify', limit: 25, cursor })}`);
  const list = $('#review-list');
  if (!cursor) list.replaceChildren();
  for (const a of page.data) {
    list.append(
      el('li', {}, el('button', { type: 'button', 'data-analysis-id': a.id, onclick: () => showAnalysis(a.id) },
        el('strong', {}, a.kind), ` · ${fmtTime(a.createdAt)}`, el('br'),
        el('span', { class: 'muted' }, a.sessionId ? `session ${a.sessionId.slice(0, 8)}…` : 'standalone', a.correlationId ? ` · ${a.correlationId}` : ''),
      )),
    );
  }
  state.reviewCursor = page.nextCursor;
  $('#review-more').hidden = !page.nextCursor;
  $('#review-empty').hidden = list.children.length > 0;
}

async function showAnalysis(id) {
  for (const b of $$('#review-list button')) b.setAttribute('aria-current', String(b.dataset.analysisId === id));
  const detail = $('#review-detail');
  const analysis = await api('GET', `/v1/analyses/${id}`);
  const session = analysis.sessionId ? await api('GET', `/v1/sessions/${analysis.sessionId}`) : null;
  const canDecide = state.me.role === 'admin' || state.me.role === 'analyst';
  const facts = (pairs) => el('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v ?? '—')]));
  const parts = [
    el('h3', {}, `Analysis ${analysis.kind}`),
    facts([
      ['Analysis', el('code', {}, analysis.id)],
      ['Status', analysis.status],
      ['Entity', el('code', {}, analysis.entityId)],
      ['Correlation id', analysis.correlationId],
      ['Created', fmtTime(analysis.createdAt)],
    ]),
    el('h4', {}, 'AI result'),
    el('pre', {}, JSON.stringify(analysis.result, null, 2) || 'none'),
  ];
  if (session) {
    parts.push(
      el('h3', {}, 'Session'),
      facts([
        ['Session', el('code', {}, session.id)],
        ['Status', session.status],
        ['Verdict', session.verdict],
        ['Journey', session.journeyId],
        ['Created', fmtTime(session.createdAt)],
        ['Completed', fmtTime(session.completedAt)],
        ['Link expires', fmtTime(session.link.expiresAt)],
        ['Analyses', session.analyses.map((x) => `${x.kind}: ${x.status}`).join(', ')],
      ]),
    );
  }
  if (canDecide && analysis.status === 'verify') {
    // One key per form: clicking again after an error (a 503 whose decision went through
    // anyway) retries the same decision instead of recording a second one.
    const form = el(
      'form',
      { id: 'decision-form', novalidate: true, 'data-idempotency-key': randomKey() },
      el('label', { for: 'decision-comment' }, 'Comment (recorded with the decision)'),
      el('textarea', { id: 'decision-comment', rows: '3', maxlength: '5000' }),
      el('p', { id: 'decision-error', class: 'field-error', role: 'alert' }),
      el('div', { class: 'row' },
        el('button', { type: 'button', id: 'approve', onclick: () => decide(analysis.id, 'user_approved') }, 'Approve'),
        el('button', { type: 'button', id: 'reject', class: 'danger', onclick: () => decide(analysis.id, 'user_rejected') }, 'Reject'),
      ),
      el('p', { id: 'decision-status', class: 'status', role: 'status' }),
    );
    parts.push(el('h3', {}, 'Decision'), form);
  }
  detail.replaceChildren(...parts);
}

// getRandomValues, not randomUUID: the latter exists only in secure contexts.
const randomKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

async function decide(analysisId, newStatus) {
  const comment = $('#decision-comment').value.trim();
  $('#decision-error').textContent = '';
  for (const b of $$('#decision-form button')) b.disabled = true;
  try {
    const d = await api('POST', `/v1/analyses/${analysisId}/decision`, { newStatus, ...(comment ? { comment } : {}) }, { 'Idempotency-Key': $('#decision-form').dataset.idempotencyKey });
    $('#decision-status').textContent = `Decision recorded: ${d.newStatus} at ${fmtTime(d.decidedAt)}. The decision webhook is on its way.`;
    await loadReview();
  } catch (err) {
    $('#decision-error').textContent = err.problem?.errors?.map((e) => `${e.path}: ${e.message}`).join('; ') || err.message;
    for (const b of $$('#decision-form button')) b.disabled = false;
  }
}

// ---- Webhook deliveries ---------------------------------------------------------------------

async function loadDeliveries(cursor = null) {
  $('#deliveries-error').textContent = '';
  const f = Object.fromEntries(new FormData($('#delivery-filters')).entries());
  const page = await api('GET', `/v1/webhook-deliveries${query({ ...f, limit: 20, cursor })}`);
  state.deliveriesCursor = page.nextCursor;
  $('#deliveries-next').disabled = !page.nextCursor;
  const items = page.data.map((d) => {
    const attempts = el('table', {},
      el('thead', {}, el('tr', {}, ['Series', 'Attempt', 'When (UTC)', 'Outcome', 'HTTP', 'Duration', 'Error'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, d.attempts.map((a) => el('tr', {},
        el('td', {}, String(a.series)), el('td', {}, String(a.attemptNo)), el('td', {}, fmtTime(a.attemptedAt)), el('td', {}, a.outcome),
        el('td', {}, a.statusCode ?? '—'), el('td', {}, a.durationMs === null ? '—' : `${a.durationMs} ms`), el('td', {}, a.error ?? ''),
      ))),
    );
    const redeliver = state.me.role === 'admin' && d.status !== 'pending'
      ? el('button', { type: 'button', class: 'secondary', 'data-redeliver': d.id, onclick: () => redeliverDelivery(d.id) }, 'Redeliver')
      : null;
    return el('article', { class: 'delivery', 'data-delivery-id': d.id },
      el('h4', {}, `${d.event.replace('_', ' ')} `, el('span', { class: `badge ${d.status}` }, d.status), ` · ${fmtTime(d.createdAt)}`),
      el('p', { class: 'muted' }, `webhook-id ${d.webhookId} · ${d.attemptCount} attempt(s)`, d.nextAttemptAt ? ` · next at ${fmtTime(d.nextAttemptAt)}` : ''),
      el('details', {}, el('summary', {}, `Attempts (${d.attempts.length}) and payload`), attempts, el('pre', {}, JSON.stringify(d.payload, null, 2))),
      redeliver,
    );
  });
  $('#deliveries-list').replaceChildren(...(items.length ? items : [el('p', { class: 'muted' }, 'No delivery matches these filters.')]));
}

async function redeliverDelivery(id) {
  try {
    await api('POST', `/v1/webhook-deliveries/${id}/redeliver`);
    await loadDeliveries();
  } catch (err) {
    $('#deliveries-error').textContent = err.message;
  }
}

// ---- wiring -------------------------------------------------------------------------------------

function wire() {
  $('#sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('#token-error').textContent = '';
    const token = $('#token').value.trim();
    if (!token) return void ($('#token-error').textContent = 'Enter your operator token.');
    try {
      await signIn(token);
    } catch (err) {
      $('#token-error').textContent = err.status === 401 ? 'This token is unknown, revoked or disabled.' : err.status === 403 ? 'Sign in with an operator token (API keys are for servers).' : err.message;
    }
  });
  $('#sign-out').addEventListener('click', () => signOut());

  const tabs = $$('[role=tab]');
  for (const tab of tabs) {
    tab.addEventListener('click', () => selectTab(tab.id));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const visible = tabs.filter((t) => !t.hidden);
      const next = visible[(visible.indexOf(tab) + (e.key === 'ArrowRight' ? 1 : visible.length - 1)) % visible.length];
      next.focus();
      selectTab(next.id);
    });
  }

  $('#settings-form').addEventListener('submit', (e) => onSaveSettings(e).catch(showUnexpected));
  $('#settings-form').addEventListener('input', () => {
    syncRetentionInputs();
    describeChanges();
  });
  $('#confirm-save').addEventListener('click', () => saveSettings(state.pendingPatch).catch(showUnexpected));
  $('#cancel-save').addEventListener('click', resetConfirm);
  for (const b of $$('[data-test-endpoint]')) b.addEventListener('click', () => sendTest(b.dataset.testEndpoint));
  $('#reveal-secret').addEventListener('click', () => revealSecret().catch(showUnexpected));
  $('#rotate-secret').addEventListener('click', () => rotateSecret().catch(showUnexpected));

  $('#history-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    loadHistory().catch(showUnexpected);
  });
  $('#history-first').addEventListener('click', () => loadHistory().catch(showUnexpected));
  $('#history-next').addEventListener('click', () => loadHistory(state.historyCursor).catch(showUnexpected));
  $('#export-csv').addEventListener('click', () => exportHistory('csv').catch(showUnexpected));
  $('#export-ndjson').addEventListener('click', () => exportHistory('ndjson').catch(showUnexpected));

  $('#review-more').addEventListener('click', () => loadReview(state.reviewCursor).catch(showUnexpected));

  $('#delivery-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    loadDeliveries().catch(showUnexpected);
  });
  $('#deliveries-first').addEventListener('click', () => loadDeliveries().catch(showUnexpected));
  $('#deliveries-next').addEventListener('click', () => loadDeliveries(state.deliveriesCursor).catch(showUnexpected));

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved).catch(() => signOut());
}

wire();
