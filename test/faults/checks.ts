// What a compliance user checks after an incident, per scenario (one organization each):
// sessions in their correct final state, every owed webhook received (signed, one webhook-id
// per event), no duplicated ledger event, the hash chain valid (by the API and by the
// standalone verifier script), every overdue record purged and none of its personal markers
// left in a pg_dump, nor in clear in Temporal's SQLite file.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { Webhook } from 'standardwebhooks';
import type { ApiClient } from './client';
import { ROOT } from './env/temporal';
import type { Org, SessionRecord } from './journeys';
import type { ReceivedLine } from './receiver';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

// ---- webhooks ----------------------------------------------------------------------------

export function readReceived(file: string): ReceivedLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ReceivedLine);
}

function signedBy(secret: string, line: ReceivedLine): boolean {
  // The public library's own signer, at the attempt's timestamp (verify() would also judge
  // the timestamp's age against now, which says nothing about the signature here).
  const expected = new Webhook(secret).sign(line.webhookId, new Date(Number(line.webhookTimestamp) * 1000), line.body);
  return line.webhookSignature.split(' ').includes(expected);
}

export interface WebhookReport {
  expected: number;
  received: number;
  distinctIds: number;
  /** Events that arrived under more than one webhook-id: a second delivery of one event. */
  duplicateEvents: number;
  /** Requests beyond the first 2xx of a webhook-id (at-least-once: allowed, reported). */
  repeats: number;
  missing: string[];
  wrongPayload: string[];
  badSignatures: number;
  unexpected: string[];
}

export function webhookReport(org: Org, records: SessionRecord[], lines: ReceivedLine[]): WebhookReport {
  const mine = lines.filter((l) => l.path.startsWith(`/${org.scenario}/`));
  const expected = new Map<string, Record<string, unknown>>();
  for (const r of records) for (const [k, v] of r.expectedEvents()) expected.set(k, v);

  const idsByEvent = new Map<string, Set<string>>();
  const okByEvent = new Map<string, ReceivedLine>();
  const okCountById = new Map<string, number>();
  let badSignatures = 0;
  for (const l of mine) {
    if (!signedBy(org.secret, l)) {
      badSignatures += 1;
      continue;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(l.body);
    } catch {
      badSignatures += 1;
      continue;
    }
    const key = l.path.endsWith('/decision') ? `decision:${String(body.analysisId)}` : `session_end:${String(body.sessionId)}`;
    idsByEvent.set(key, (idsByEvent.get(key) ?? new Set()).add(l.webhookId));
    if (l.answered >= 200 && l.answered < 300) {
      okByEvent.set(key, l);
      okCountById.set(l.webhookId, (okCountById.get(l.webhookId) ?? 0) + 1);
    }
  }
  const missing: string[] = [];
  const wrongPayload: string[] = [];
  for (const [key, want] of expected) {
    const got = okByEvent.get(key);
    if (!got) {
      missing.push(key);
      continue;
    }
    const body = JSON.parse(got.body) as Record<string, unknown>;
    for (const [field, value] of Object.entries(want)) {
      if (body[field] !== value) wrongPayload.push(`${key}: ${field} ${JSON.stringify(body[field])} ≠ ${JSON.stringify(value)}`);
    }
  }
  return {
    expected: expected.size,
    received: [...expected.keys()].filter((k) => okByEvent.has(k)).length,
    distinctIds: new Set(mine.map((l) => l.webhookId)).size,
    duplicateEvents: [...idsByEvent.values()].filter((ids) => ids.size > 1).length,
    repeats: [...okCountById.values()].reduce((sum, n) => sum + n - 1, 0),
    missing,
    wrongPayload,
    badSignatures,
    unexpected: [...idsByEvent.keys()].filter((k) => !expected.has(k)),
  };
}

// ---- sessions ----------------------------------------------------------------------------

interface SessionRow {
  id: string;
  status: string;
  verdict: string | null;
  completed_at: Date | null;
  expired_at: Date | null;
  purged_at: Date | null;
  purge_at: Date | null;
}

export async function sessionRows(db: Pool, organizationId: string): Promise<Map<string, SessionRow>> {
  const { rows } = await db.query<SessionRow>(
    'SELECT id, status, verdict, completed_at, expired_at, purged_at, purge_at FROM sessions WHERE organization_id = $1',
    [organizationId],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Where the scenario's recovery stands: what is still not as the acknowledged requests say. */
export function recoveryGaps(records: SessionRecord[], rows: Map<string, SessionRow>, now = Date.now()): string[] {
  const gaps: string[] = [];
  for (const r of records) {
    if (!r.id) continue;
    const row = rows.get(r.id);
    if (!row) {
      gaps.push(`${r.id}: acknowledged (201) but no row`);
      continue;
    }
    if (r.controls.includes('cancel') && row.status !== 'purged') gaps.push(`${r.id}: cancelled, still ${row.status}`);
    if (r.completion === 'acked') {
      if (row.status !== 'completed' && row.status !== 'purged') gaps.push(`${r.id}: completion acknowledged, status ${row.status}`);
      else if (!r.acceptableVerdicts().includes(row.verdict)) gaps.push(`${r.id}: verdict ${row.verdict}, expected ${r.expectedVerdict}`);
    } else if (r.plan.kind === 'expire' && r.controls.length === 0 && r.linkExpiresAt && now > r.linkExpiresAt.getTime() + 1000) {
      if (row.status !== 'expired' && row.status !== 'purged') gaps.push(`${r.id}: link expired at ${r.linkExpiresAt.toISOString()}, status ${row.status}`);
    }
  }
  return gaps;
}

/** After retention: every session is a tombstone that still says what happened to it. */
export function finalStateGaps(records: SessionRecord[], rows: Map<string, SessionRow>): string[] {
  const gaps: string[] = [];
  for (const r of records) {
    if (!r.id) continue;
    const row = rows.get(r.id);
    if (!row) {
      gaps.push(`${r.id}: no row`);
      continue;
    }
    if (row.status !== 'purged') gaps.push(`${r.id}: ${row.status}, expected purged`);
    if (r.completion === 'acked') {
      if (!row.completed_at) gaps.push(`${r.id}: completion acknowledged, completedAt null`);
      if (!r.acceptableVerdicts().includes(row.verdict)) gaps.push(`${r.id}: verdict ${row.verdict}, expected ${r.expectedVerdict}`);
    } else if (row.completed_at) {
      gaps.push(`${r.id}: completed although its completion was ${r.completion}`);
    }
    if (r.plan.kind === 'expire' && r.controls.length === 0 && !row.expired_at) gaps.push(`${r.id}: link expiry not recorded`);
  }
  return gaps;
}

export async function overdueNotPurged(db: Pool, organizationId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM sessions WHERE organization_id = $1 AND purge_at <= now() AND status <> 'purged')
          + (SELECT count(*) FROM analyses WHERE organization_id = $1 AND session_id IS NULL AND purge_at <= now() AND status <> 'purged') AS n`,
    [organizationId],
  );
  return Number(rows[0].n);
}

// ---- ledger ------------------------------------------------------------------------------

export interface LedgerReport {
  expected: number;
  present: number;
  duplicates: string[];
  missing: string[];
  /** Refused messages recorded with outcome failure (malformed signals). */
  failures: number;
  exhausted: number;
}

/**
 * Events in the chain only (seq set): run it after chainValid, whose API verify chains every
 * committed event first, so an event committed but never chained counts as missing.
 */
export async function ledgerReport(db: Pool, org: Org, records: SessionRecord[]): Promise<LedgerReport> {
  const { rows } = await db.query<{ action: string; resource_id: string; outcome: string; request_id: string | null; n: string }>(
    `SELECT action, resource_id, outcome, request_id, count(*) AS n FROM audit_events WHERE organization_id = $1 AND seq IS NOT NULL
      GROUP BY action, resource_id, outcome, request_id`,
    [org.organizationId],
  );
  // Lifecycle facts happen once per resource; a decision once per request (a client's retry
  // is a new request and may be recorded again; an activity's retry is the same request).
  const facts = new Map<string, number>();
  const perRequest = new Map<string, number>();
  let failures = 0;
  let exhausted = 0;
  for (const r of rows) {
    const n = Number(r.n);
    if (r.outcome === 'failure') failures += n;
    if (r.action === 'webhook_delivery.exhausted') exhausted += n;
    const fact = `${r.action}:${r.resource_id}:${r.outcome}`;
    facts.set(fact, (facts.get(fact) ?? 0) + n);
    if (r.request_id !== null) perRequest.set(`${fact}:${r.request_id}`, n);
  }
  const lifecycle = /^session\.(create|expire|purge):/;
  const duplicates = [
    ...[...facts].filter(([k, n]) => lifecycle.test(k) && n > 1),
    ...[...perRequest].filter(([k, n]) => !lifecycle.test(k) && n > 1),
  ].map(([k, n]) => `${k} ×${n}`);
  const expected: string[] = [];
  for (const r of records) {
    if (!r.id) continue;
    expected.push(`session.create:${r.id}:success`, `session.purge:${r.id}:success`);
    if (r.plan.kind === 'expire' && r.controls.length === 0 && r.completion !== 'acked') expected.push(`session.expire:${r.id}:success`);
    if (r.decision?.acked) expected.push(`analysis.decision:${r.decision.analysisId}:success`);
  }
  const missing = expected.filter((k) => !facts.has(k));
  return { expected: expected.length, present: expected.length - missing.length, duplicates, missing, failures, exhausted };
}

export async function chainValid(api: ApiClient, org: Org, auditKey: string, folder: string): Promise<{ ok: boolean; detail: string }> {
  const verify = await api.call('GET', '/v1/audit-events/verify', { token: org.adminToken });
  const exported = await api.once('GET', '/v1/audit-events/export?format=ndjson', { token: org.adminToken, attemptTimeoutMs: 120_000 });
  const file = path.join(folder, `audit-${org.scenario}.ndjson`);
  fs.writeFileSync(file, exported?.status === 200 ? String(exported.body ?? '') : '');
  const script = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'scripts', 'verify-audit-export.mjs'), file], { env: { ...process.env, AUDIT_HMAC_KEY: auditKey } }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout.trim() }),
    );
  });
  let report: { valid?: boolean; complete?: boolean; checked?: number } = {};
  try {
    report = JSON.parse(script.out);
  } catch {
    // reported below
  }
  const apiOk = verify.status === 200 && verify.body.valid === true;
  const scriptOk = script.code === 0 && report.valid === true && report.complete === true;
  return {
    ok: apiOk && scriptOk,
    detail: `API verify ${verify.status === 200 ? `valid=${verify.body.valid} checked=${verify.body.checked}` : verify.status}; export verifier ${script.out || `exit ${script.code}`}`,
  };
}

// ---- personal markers in storage -----------------------------------------------------------

const MARKER = /FLTMK[0-9A-F]{16}-[A-Z]+/g;
const HEX_PREFIX = Buffer.from('FLTMK').toString('hex');

export interface MarkerHit {
  /** The session's marker (FLTMK + 16 hex digits). */
  marker: string;
  /** Which personal value it was: CORR, JOURNEY, FIRST, LAST, FILE, BYTES, RESULT, COMMENT. */
  field: string;
  where: string;
}

function splitMarker(text: string): { marker: string; field: string } {
  return { marker: text.slice(0, 21), field: text.slice(22) };
}

/** Markers found in a pg_dump, with their table (bytea columns print as hex). */
export function markersInDump(dump: string): MarkerHit[] {
  const hits: MarkerHit[] = [];
  let table = '(schema)';
  for (const line of dump.split('\n')) {
    const copy = /^COPY (\S+) /.exec(line);
    if (copy) table = copy[1];
    for (const m of line.match(MARKER) ?? []) hits.push({ ...splitMarker(m), where: table });
    for (let i = line.indexOf(HEX_PREFIX); i >= 0; i = line.indexOf(HEX_PREFIX, i + 1)) {
      const decoded = Buffer.from(line.slice(i, i + 80).replace(/[^0-9a-f].*$/, ''), 'hex').toString('latin1');
      const m = decoded.match(MARKER);
      if (m) hits.push({ ...splitMarker(m[0]), where: table });
    }
  }
  return hits;
}

/** Markers in clear anywhere in Temporal's persistence (SQLite file and its WAL). */
export function markersInFiles(files: string[]): MarkerHit[] {
  const hits: MarkerHit[] = [];
  const needle = Buffer.from('FLTMK');
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    const buf = fs.readFileSync(f);
    for (let i = buf.indexOf(needle); i >= 0; i = buf.indexOf(needle, i + 1)) {
      const m = buf.subarray(i, i + 40).toString('latin1').match(MARKER);
      if (m && m.index === 0) hits.push({ ...splitMarker(m[0]), where: path.basename(f) });
    }
  }
  return hits;
}

/** "3 session(s): CORR in public.webhook_deliveries (3)" */
export function describeHits(hits: MarkerHit[]): string {
  const sessions = new Set(hits.map((h) => h.marker)).size;
  const groups = new Map<string, Set<string>>();
  for (const h of hits) {
    const k = `${h.field} in ${h.where}`;
    groups.set(k, (groups.get(k) ?? new Set()).add(h.marker));
  }
  return `${sessions} session(s)${groups.size ? ': ' : ''}${[...groups].map(([k, m]) => `${k} (${m.size})`).join(', ')}`;
}
