import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { appendAuditEvent, chainPending, startLedgerSequencer, type AppendedAuditEvent, type AuditEventInput, type AuditEventRow } from '../../src/audit/ledger';
import { createDb } from '../../src/db/knex';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';

// The audit ledger against the real PostgreSQL and API: the database refuses changes (but the
// one chaining of an unchained event), appends never wait on an organization-wide lock, the
// sequencer chains committed events gap-free and once, verification finds tampering, and
// exports are streamed, audited and verifiable with the standalone script.
let sys: TestSystem;
let tmp: string;

beforeAll(async () => {
  sys = await startSystem();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-ledger-'));
});
afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await sys?.stop();
});

type Org = Awaited<ReturnType<typeof newOrganization>>;

function appendOnly(db: Parameters<typeof appendAuditEvent>[0], org: Org, extra: Partial<AuditEventInput> = {}): Promise<AppendedAuditEvent> {
  return appendAuditEvent(db, sys.config.AUDIT_HMAC_KEY, {
    organizationId: org.organizationId,
    actor: { type: 'system', id: 'test-suite', label: null },
    action: 'test.event',
    category: 'modification',
    resource: { type: 'thing', id: 'thing-1' },
    ...extra,
  });
}

/** Appends (committed on its own), then chains the organization: the event as chained. */
async function append(db: Parameters<typeof appendAuditEvent>[0], org: Org, extra: Partial<AuditEventInput> = {}): Promise<AuditEventRow> {
  const event = await appendOnly(db, org, extra);
  await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
  return sys.db('audit_events').where({ id: event.id }).first();
}

const unchainedCount = async (org: Org): Promise<number> =>
  Number((await sys.db('audit_events').where({ organization_id: org.organizationId }).whereNull('seq').count('* as n').first())!.n);

async function headSeq(org: Org): Promise<number> {
  const head = await sys.db('audit_heads').where({ organization_id: org.organizationId }).first();
  return head ? Number(head.seq) : 0;
}

const verify = async (org: Org) => {
  const res = await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: org.adminToken });
  expect(res.status).toBe(200);
  return res.body;
};

/** A superuser connection to the test database, as someone bypassing the application would use. */
async function superuser(): Promise<Client> {
  const url = new URL(process.env.TEST_DATABASE_ADMIN_URL!);
  url.pathname = new URL(process.env.DATABASE_URL!).pathname;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

/** Runs `sql` on audit_events with its row trigger disabled, re-enabled (ALWAYS) in the same transaction. */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  const client = await superuser();
  try {
    await client.query('BEGIN');
    await client.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    const res = await client.query(sql, params);
    expect(res.rowCount).toBe(1);
    await client.query('ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update_delete');
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    await client.end();
  }
}

async function exportText(org: Org, query: string, token = org.adminToken) {
  const res = await fetch(`${sys.baseUrl}/v1/audit-events/export?${query}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** RFC 4180 parser for the test (independent of the exporter's code). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}

function runVerifier(file: string, key = sys.config.AUDIT_HMAC_KEY): Promise<{ code: number; report: any }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.resolve('scripts/verify-audit-export.mjs'), file],
      { env: { PATH: process.env.PATH, AUDIT_HMAC_KEY: key } },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        try {
          resolve({ code: err ? (err.code as number) : 0, report: JSON.parse(stdout) });
        } catch {
          reject(new Error(`verifier printed no JSON: ${stdout} ${stderr}`));
        }
      },
    );
  });
}

describe('the database refuses changes to the ledger', () => {
  test('UPDATE, DELETE and TRUNCATE on audit_events fail on the application connection', async () => {
    const org = await newOrganization(sys.db);
    const event = await append(sys.db, org);
    await expect(sys.db('audit_events').where({ id: event.id }).update({ action: 'forged' })).rejects.toThrow(
      /audit_events is append-only: UPDATE refused/,
    );
    await expect(sys.db('audit_events').where({ id: event.id }).delete()).rejects.toThrow(/append-only: DELETE refused/);
    await expect(sys.db.raw('TRUNCATE audit_events')).rejects.toThrow(/append-only: TRUNCATE refused/);
    // Replica mode skips ordinary triggers, not ENABLE ALWAYS ones.
    await expect(
      sys.db.transaction(async (trx) => {
        await trx.raw('SET LOCAL session_replication_role = replica');
        await trx('audit_events').where({ id: event.id }).update({ action: 'forged' });
      }),
    ).rejects.toThrow(/UPDATE refused/);
    const row = await sys.db('audit_events').where({ id: event.id }).first();
    expect(row).toMatchObject({ action: 'test.event', hash: event.hash });
  });
});

describe('appends', () => {
  test('50 concurrent appends in one organization get seq 1..50 exactly once chained, and the chain verifies', async () => {
    const org = await newOrganization(sys.db);
    const start = await headSeq(org);
    const appended = await Promise.all(
      Array.from({ length: 50 }, (_, i) => appendOnly(sys.db, org, { resource: { type: 'thing', id: `t${i}` } })),
    );
    await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
    const rows: AuditEventRow[] = await sys.db('audit_events').whereIn('id', appended.map((e) => e.id));
    const expected = Array.from({ length: 50 }, (_, i) => start + i + 1);
    expect(rows.map((r) => Number(r.seq)).sort((a, b) => a - b)).toEqual(expected);
    const stored = await sys.db('audit_events').where({ organization_id: org.organizationId }).orderBy('seq').pluck('seq');
    expect(stored.map(Number)).toEqual([...Array(start).keys()].map((i) => i + 1).concat(expected));

    const last = rows.find((r) => Number(r.seq) === start + 50)!;
    expect(await verify(org)).toMatchObject({ valid: true, checked: start + 50, headSeq: start + 50, headHash: last.hash });

    // The list pages by seq, newest first, without gaps or repeats.
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res: any = await call(sys.baseUrl, 'GET', `/v1/audit-events?limit=20${cursor ? `&cursor=${cursor}` : ''}`, { token: org.adminToken });
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(20);
      seen.push(...res.body.data.map((e: any) => e.seq));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...expected].reverse().concat([...Array(start).keys()].map((i) => start - i)));
  });

  test("a caller's open transaction blocks neither its organization's other appends nor the sequencer; its event is chained after its commit", async () => {
    const org1 = await newOrganization(sys.db, 'One');
    const org2 = await newOrganization(sys.db, 'Two');
    await append(sys.db, org1); // head rows exist
    await append(sys.db, org2);

    const trxA = await sys.db.transaction();
    try {
      const a = await appendOnly(trxA, org1);
      expect([a.seq, a.hash]).toEqual([null, null]);
      const pidA = (await trxA.raw('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const blockedBy = async (pid: number) =>
        Number((await sys.db.raw('SELECT count(*) AS n FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))', [pid])).rows[0].n);

      // Organization 1 (A's own) and organization 2 append on other connections and commit while A
      // is open; had they queued behind A, PostgreSQL would report them blocked by A's backend.
      for (const org of [org1, org2]) {
        let settled = false;
        const p = appendOnly(sys.db, org).finally(() => {
          settled = true;
        });
        while (!settled) {
          expect(await blockedBy(pidA)).toBe(0);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await p;
      }
      // The sequencer runs while A is open (here, and the API's background one after the commit
      // above): it chains what is committed (seq 2) and does not wait for A.
      await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org1.organizationId);
      expect(await headSeq(org1)).toBe(2);
      expect(await unchainedCount(org1)).toBe(0); // A's event is not committed: not visible
      const stateA = (await sys.db.raw('SELECT state FROM pg_stat_activity WHERE pid = ?', [pidA])).rows[0].state;
      expect(stateA).toBe('idle in transaction');

      await trxA.commit();
      await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org1.organizationId);
      const aRow = await sys.db('audit_events').where({ id: a.id }).first();
      const two = await sys.db('audit_events').where({ organization_id: org1.organizationId, seq: 2 }).first();
      expect(Number(aRow.seq)).toBe(3);
      expect(aRow.prev_hash).toBe(two.hash);
    } finally {
      if (!trxA.isCompleted()) await trxA.rollback();
    }
    expect(await verify(org1)).toMatchObject({ valid: true, checked: 3 });
    expect(await verify(org2)).toMatchObject({ valid: true, checked: 2 });
  });

  test('the background sequencer chains after the commit; an event whose process died before chaining is chained by the next sweep', async () => {
    const org = await newOrganization(sys.db);
    const sequencer = startLedgerSequencer(sys.db, sys.config.AUDIT_HMAC_KEY); // the API's, started by createApp
    // Woken by the commit of a transaction (through its outermost transaction).
    const inTrx = await sys.db.transaction(async (trx) => appendOnly(trx, org));
    await sequencer.idle();
    expect(Number((await sys.db('audit_events').where({ id: inTrx.id }).first()).seq)).toBe(1);

    // "Another process" (its own pool, no sequencer) commits an event and dies before chaining it.
    const other = createDb(process.env.DATABASE_URL!, { max: 1 });
    let orphan: AppendedAuditEvent;
    try {
      orphan = await appendOnly(other, org);
    } finally {
      await other.destroy();
    }
    await sequencer.sweep();
    await sequencer.idle();
    expect(Number((await sys.db('audit_events').where({ id: orphan.id }).first()).seq)).toBe(2);
    expect(await unchainedCount(org)).toBe(0);
    expect(await verify(org)).toMatchObject({ valid: true, checked: 2 });
  });

  test('a retried append (same idempotency key) before and after chaining returns the one event', async () => {
    const org = await newOrganization(sys.db);
    const first = await appendOnly(sys.db, org, { idempotencyKey: 'activity-1' });
    const retry = await appendOnly(sys.db, org, { idempotencyKey: 'activity-1' });
    expect(retry.id).toBe(first.id);
    await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
    const late = await appendOnly(sys.db, org, { idempotencyKey: 'activity-1' });
    expect([late.id, Number(late.seq)]).toEqual([first.id, 1]);
    expect(await sys.db('audit_events').where({ organization_id: org.organizationId }).count('* as n').first()).toEqual({ n: '1' });
  });

  test('readers (list, one event, verify, export) chain first and never show an unchained event', async () => {
    const org = await newOrganization(sys.db);
    // Appended on a pool without a sequencer: nothing chains it but the readers.
    const other = createDb(process.env.DATABASE_URL!, { max: 1 });
    let ev: AppendedAuditEvent;
    try {
      ev = await appendOnly(other, org);
    } finally {
      await other.destroy();
    }
    const one = await call(sys.baseUrl, 'GET', `/v1/audit-events/${ev.id}`, { token: org.adminToken });
    expect(one.body).toMatchObject({ id: ev.id, seq: 1 });
    expect(await unchainedCount(org)).toBe(0);
  });
});

describe('the one update the ledger allows: chaining an unchained event, once', () => {
  const hex = (c: string) => c.repeat(64);

  test('re-chaining a chained event is refused', async () => {
    const org = await newOrganization(sys.db);
    const event = await append(sys.db, org);
    await expect(sys.db('audit_events').where({ id: event.id }).update({ hash: hex('a') })).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(sys.db('audit_events').where({ id: event.id }).update({ seq: 99, prev_hash: hex('b'), hash: hex('c') })).rejects.toThrow(/append-only: UPDATE refused/);
    // Back to unchained is refused too.
    await expect(sys.db.raw('UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = ?', [event.id])).rejects.toThrow(/append-only: UPDATE refused/);
    expect(await sys.db('audit_events').where({ id: event.id }).first()).toMatchObject({ seq: event.seq, hash: event.hash });
  });

  test('an unchained event: any other column, a half chaining or a malformed hash is refused; so is DELETE', async () => {
    const org = await newOrganization(sys.db);
    await append(sys.db, org); // seq 1: the head row exists
    // Every process's sequencer (other test files share the database) waits on this lock, so
    // the event below stays unchained while the test tries to change it.
    const holder = await sys.db.transaction();
    let ev: AppendedAuditEvent;
    try {
      await holder('audit_heads').where({ organization_id: org.organizationId }).forUpdate().first();
      ev = await appendOnly(sys.db, org);
      const attempts: [string, (string | number)[]][] = [
        ['UPDATE audit_events SET action = ? WHERE id = ?', ['forged', ev.id]],
        ['UPDATE audit_events SET seq = 2, prev_hash = ?, hash = ?, action = ? WHERE id = ?', [hex('0'), hex('1'), 'forged', ev.id]],
        ['UPDATE audit_events SET seq = 2, prev_hash = ?, hash = ?, append_order = 0 WHERE id = ?', [hex('0'), hex('1'), ev.id]],
        ['UPDATE audit_events SET seq = 2, prev_hash = ?, hash = ?, occurred_at = now() WHERE id = ?', [hex('0'), hex('1'), ev.id]],
        ['UPDATE audit_events SET seq = 0, prev_hash = ?, hash = ? WHERE id = ?', [hex('0'), hex('1'), ev.id]],
        ['UPDATE audit_events SET seq = 2, prev_hash = ?, hash = ? WHERE id = ?', [hex('0'), 'not-a-hash', ev.id]],
        ['DELETE FROM audit_events WHERE id = ?', [ev.id]],
      ];
      for (const [sql, params] of attempts) await expect(sys.db.raw(sql, params)).rejects.toThrow(/append-only: (UPDATE|DELETE) refused/);
      // A half chaining breaks the all-or-none constraint.
      await expect(sys.db.raw('UPDATE audit_events SET seq = 2 WHERE id = ?', [ev.id])).rejects.toThrow(/audit_events_chained_together|append-only/);
      expect(await sys.db('audit_events').where({ id: ev.id }).first()).toMatchObject({ action: 'test.event', seq: null, hash: null });
    } finally {
      await holder.commit();
    }
    // The sequencer's chaining is the one update that passes.
    await chainPending(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
    expect(await sys.db('audit_events').where({ id: ev.id }).first()).toMatchObject({ action: 'test.event', seq: '2' });
    expect(await verify(org)).toMatchObject({ valid: true, checked: 2 });
  });
});

describe('verification', () => {
  test('a row changed with the trigger disabled is reported as the first invalid seq', async () => {
    const org = await newOrganization(sys.db);
    const start = await headSeq(org);
    const rows: AuditEventRow[] = [];
    for (let i = 0; i < 5; i++) rows.push(await append(sys.db, org, { resource: { type: 'thing', id: `t${i}` } }));
    expect(await verify(org)).toMatchObject({ valid: true, checked: start + 5 });

    const victim = rows[2];
    await tamper(`UPDATE audit_events SET action = 'nothing.happened' WHERE id = $1`, [victim.id]);
    const trigger = await sys.db('pg_trigger').where({ tgname: 'audit_events_no_update_delete' }).first('tgenabled');
    expect(trigger.tgenabled).toBe('A'); // back to ENABLE ALWAYS

    expect(await verify(org)).toMatchObject({
      valid: false,
      checked: Number(victim.seq) - 1,
      headSeq: Number(victim.seq) - 1,
      headHash: rows[1].hash,
      firstInvalidSeq: Number(victim.seq),
    });
  });

  test('deleting the newest event (trigger disabled) is reported against the recorded head', async () => {
    const org = await newOrganization(sys.db);
    const rows: AuditEventRow[] = [];
    for (let i = 0; i < 3; i++) rows.push(await append(sys.db, org));
    await tamper('DELETE FROM audit_events WHERE id = $1', [rows[2].id]);
    expect(await verify(org)).toMatchObject({ valid: false, headSeq: Number(rows[1].seq), firstInvalidSeq: Number(rows[2].seq) });
  });
});

describe('ledger routes', () => {
  test('admins and auditors read; analysts and API keys get 403; nothing changes an event (405)', async () => {
    const org = await newOrganization(sys.db);
    const event = await append(sys.db, org);
    const auditor = (await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, body: { email: 'aud@example.com', role: 'auditor' } })).body;
    const analyst = (await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, body: { email: 'ana@example.com', role: 'analyst' } })).body;
    const reads = ['/v1/audit-events', '/v1/audit-events/verify', `/v1/audit-events/${event.id}`, '/v1/audit-events/export?format=ndjson'];

    for (const token of [org.adminToken, auditor.token]) {
      for (const p of reads) expect([p, (await call(sys.baseUrl, 'GET', p, { token })).status]).toEqual([p, 200]);
    }
    const one = await call(sys.baseUrl, 'GET', `/v1/audit-events/${event.id}`, { token: auditor.token });
    expect(one.body).toMatchObject({ id: event.id, seq: Number(event.seq), hash: event.hash, action: 'test.event' });
    expect((await call(sys.baseUrl, 'POST', '/v1/operators', { token: auditor.token, body: { email: 'x@example.com', role: 'admin' } })).status).toBe(403);
    for (const token of [analyst.token, org.apiKey]) {
      for (const p of reads) {
        const res = await call(sys.baseUrl, 'GET', p, { token });
        expect([p, res.status, res.body.type]).toEqual([p, 403, '/problems/forbidden']);
      }
    }
    for (const p of ['/v1/audit-events', '/v1/audit-events/verify', `/v1/audit-events/${event.id}`, '/v1/audit-events/export']) {
      for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
        const res = await call(sys.baseUrl, method, p, { token: org.adminToken, body: { action: 'forged' } });
        expect([method, p, res.status, res.headers.get('allow')]).toEqual([method, p, 405, 'GET']);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
    }
    expect(await sys.db('audit_events').where({ id: event.id }).first('action')).toEqual({ action: 'test.event' });

    // A disabled auditor is refused at once.
    expect((await call(sys.baseUrl, 'PATCH', `/v1/operators/${auditor.id}`, { token: org.adminToken, body: { disabled: true } })).status).toBe(200);
    expect((await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: auditor.token })).status).toBe(401);

    // Another organization's event is not found.
    const other = await newOrganization(sys.db, 'Other');
    expect((await call(sys.baseUrl, 'GET', `/v1/audit-events/${event.id}`, { token: other.adminToken })).status).toBe(404);
    expect((await call(sys.baseUrl, 'GET', '/v1/audit-events?limit=200', { token: other.adminToken })).body.data.map((e: any) => e.id)).not.toContain(event.id);
  });

  test('filters select by actor, action, category, resource and time; bad filters are 400s naming the parameter', async () => {
    const org = await newOrganization(sys.db);
    const e1 = await append(sys.db, org, { actor: { type: 'operator', id: 'op-1', label: 'a@example.com' }, action: 'settings.update', category: 'modification', resource: { type: 'settings', id: org.organizationId } });
    const e2 = await append(sys.db, org, { actor: { type: 'api_key', id: 'key-1' }, action: 'session.create', category: 'creation', resource: { type: 'session', id: 's-1' } });
    const e3 = await append(sys.db, org, { actor: { type: 'system', id: 'retention' }, action: 'session.purge', category: 'deletion', resource: { type: 'session', id: 's-1' } });
    const ids = async (query: string) => {
      const res = await call(sys.baseUrl, 'GET', `/v1/audit-events?${query}`, { token: org.adminToken });
      expect([query, res.status]).toEqual([query, 200]);
      return res.body.data.map((e: any) => e.id);
    };
    expect(await ids('actorType=api_key')).toEqual([e2.id]);
    expect(await ids('actorType=operator&actorId=op-1')).toEqual([e1.id]);
    expect(await ids('action=session.purge')).toEqual([e3.id]);
    expect(await ids('category=creation')).toEqual([e2.id]);
    expect(await ids('resourceType=session&resourceId=s-1')).toEqual([e3.id, e2.id]);
    const t2 = e2.occurred_at.toISOString();
    const t3 = e3.occurred_at.toISOString();
    expect(await ids(`from=${encodeURIComponent(t2)}&to=${encodeURIComponent(t3)}`)).toEqual(e2.occurred_at < e3.occurred_at ? [e2.id] : []);
    expect(await ids(`from=${encodeURIComponent(t3)}&resourceType=session`)).toEqual([e3.id]);
    expect(await ids(`to=${encodeURIComponent(e1.occurred_at.toISOString())}`)).toEqual(
      (await sys.db('audit_events').where({ organization_id: org.organizationId }).andWhere('occurred_at', '<', e1.occurred_at).orderBy('seq', 'desc').pluck('id')),
    );

    for (const [query, param] of [
      ['category=purge', 'query.category'],
      ['actorType=robot', 'query.actorType'],
      ['from=yesterday', 'query.from'],
      ['from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z', 'query.from'],
      ['limit=201', 'query.limit'],
      ['limit=0', 'query.limit'],
      ['cursor=bm90LWEtY3Vyc29y', 'query.cursor'],
      ['hash=abc', 'query.hash'],
      ['action=a&action=b', 'query.action'],
    ]) {
      const res = await call(sys.baseUrl, 'GET', `/v1/audit-events?${query}`, { token: org.adminToken });
      expect([query, res.status, res.body.errors?.map((e: any) => e.path)]).toEqual([query, 400, [param]]);
    }
    for (const [query, param] of [
      ['', 'query.format'],
      ['format=xml', 'query.format'],
      ['format=csv&limit=5', 'query.limit'],
    ]) {
      const res = await call(sys.baseUrl, 'GET', `/v1/audit-events/export?${query}`, { token: org.adminToken });
      expect([query, res.status, res.body.errors?.map((e: any) => e.path)]).toEqual([query, 400, [param]]);
    }
    // Refused exports are not recorded.
    expect(await ids('action=audit.export')).toEqual([]);
  });
});

describe('export', () => {
  const CSV_HEADER = 'organizationId,id,seq,occurredAt,actorType,actorId,actorLabel,action,category,resourceType,resourceId,changes,outcome,requestId,ip,userAgent,prevHash,hash';
  const awkward = 'Smith, "Jo"\nsecond line';

  async function smallLedger() {
    const org = await newOrganization(sys.db);
    await append(sys.db, org, { actor: { type: 'operator', id: org.adminId, label: awkward }, changes: { before: { note: 'a,b' }, after: { note: 'say "hi"\r\n' } }, userAgent: 'curl/8' });
    await append(sys.db, org, { action: 'session.purge', category: 'deletion', resource: { type: 'session', id: 's-9' } });
    await append(sys.db, org, { action: 'settings.update' });
    return org;
  }

  test('CSV: header, RFC 4180 quoting, changes as JSON in one column, the export itself recorded first', async () => {
    const org = await smallLedger();
    const res = await exportText(org, 'format=csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-events-\d+\.csv"$/);
    expect(res.text.startsWith(`${CSV_HEADER}\r\n`)).toBe(true);
    expect(res.text).toContain(',"Smith, ""Jo""\nsecond line",');

    const [header, ...rows] = parseCsv(res.text);
    expect(header.join(',')).toBe(CSV_HEADER);
    const listed = (await call(sys.baseUrl, 'GET', '/v1/audit-events?limit=200', { token: org.adminToken })).body.data.reverse();
    expect(rows).toHaveLength(listed.length);
    expect(listed.map((e: any) => e.action)).toEqual(['test.event', 'session.purge', 'settings.update', 'audit.export']);
    rows.forEach((row, i) => {
      const e = listed[i];
      const n = (v: string | null) => v ?? '';
      expect(row).toEqual([
        org.organizationId, e.id, String(e.seq), e.occurredAt, e.actor.type, e.actor.id, n(e.actor.label), e.action, e.category,
        e.resource.type, e.resource.id, e.changes === null ? '' : expect.any(String), e.outcome, n(e.requestId), n(e.ip), n(e.userAgent), e.prevHash, e.hash,
      ]);
      if (e.changes !== null) expect(JSON.parse(row[11])).toEqual(e.changes);
    });
    expect(rows[0][6]).toBe(awkward);
    expect(JSON.parse(rows[0][11])).toEqual({ before: { note: 'a,b' }, after: { note: 'say "hi"\r\n' } });

    const exportEvent = listed[3];
    expect(exportEvent).toMatchObject({
      action: 'audit.export',
      category: 'access',
      actor: { type: 'operator', id: org.adminId },
      resource: { type: 'audit_ledger', id: org.organizationId },
      changes: { format: 'csv', filters: {} },
    });
    expect(res.headers.get('x-audit-export-seq')).toBe(String(exportEvent.seq));
  });

  test('NDJSON: one event per line, exactly the API view plus the organization; filters apply and are recorded', async () => {
    const org = await smallLedger();
    const res = await exportText(org, 'format=ndjson');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.text.endsWith('\n')).toBe(true);
    const lines = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    const listed = (await call(sys.baseUrl, 'GET', '/v1/audit-events?limit=200', { token: org.adminToken })).body.data.reverse();
    expect(lines).toEqual(listed.map((e: any) => ({ organizationId: org.organizationId, ...e })));
    expect(lines[0].actor.label).toBe(awkward);

    const filtered = await exportText(org, 'format=ndjson&resourceType=session&category=deletion');
    const filteredLines = filtered.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(filteredLines.map((e) => [e.action, e.resource.id])).toEqual([['session.purge', 's-9']]);
    const [latest] = (await call(sys.baseUrl, 'GET', '/v1/audit-events?limit=1&action=audit.export', { token: org.adminToken })).body.data;
    expect(latest.changes).toEqual({ format: 'ndjson', filters: { resourceType: 'session', category: 'deletion' } });
    expect(filtered.headers.get('x-audit-export-seq')).toBe(String(latest.seq));
  });

  test('the standalone script verifies an export: valid as exported, invalid once edited or with another key', async () => {
    const org = await smallLedger();
    const res = await exportText(org, 'format=ndjson');
    const file = path.join(tmp, `${org.organizationId}.ndjson`);
    fs.writeFileSync(file, res.text);

    const head = await verify(org);
    const ok = await runVerifier(file);
    expect(ok).toMatchObject({
      code: 0,
      report: { valid: true, checked: head.checked, firstSeq: 1, lastSeq: head.headSeq, lastHash: head.headHash, complete: true },
    });

    const lines = res.text.trimEnd().split('\n');
    const edited = JSON.parse(lines[1]);
    edited.resource.id = 's-10';
    fs.writeFileSync(`${file}.edited`, [lines[0], JSON.stringify(edited), ...lines.slice(2)].join('\n') + '\n');
    const bad = await runVerifier(`${file}.edited`);
    expect(bad.code).toBe(1);
    expect(bad.report).toMatchObject({ valid: false, checked: 1, firstInvalidSeq: edited.seq, reason: 'hash mismatch' });

    fs.writeFileSync(`${file}.dropped`, [lines[0], ...lines.slice(2)].join('\n') + '\n');
    expect((await runVerifier(`${file}.dropped`)).report).toMatchObject({ valid: true, complete: false });

    const wrongKey = await runVerifier(file, 'another-key-0123456789abcdef0123456789abcdef');
    expect(wrongKey.report).toMatchObject({ valid: false, checked: 0, firstInvalidSeq: 1 });
  });

  test('an export of a tampered ledger fails the standalone script at the tampered seq', async () => {
    const org = await smallLedger();
    const [target] = await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'session.purge' });
    await tamper(`UPDATE audit_events SET resource_id = 's-other' WHERE id = $1`, [target.id]);
    const res = await exportText(org, 'format=ndjson');
    const file = path.join(tmp, `${org.organizationId}-tampered.ndjson`);
    fs.writeFileSync(file, res.text);
    const out = await runVerifier(file);
    expect(out.code).toBe(1);
    expect(out.report).toMatchObject({ valid: false, firstInvalidSeq: Number(target.seq) });
    expect(await verify(org)).toMatchObject({ valid: false, firstInvalidSeq: Number(target.seq) });
  });
});
