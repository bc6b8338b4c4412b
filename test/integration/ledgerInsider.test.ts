import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { appendAuditEvent } from '../../src/audit/ledger';
import { takeDueCheckpoints } from '../../src/audit/checkpoints';
import { grantAppRole } from '../../src/db/appRole';
import { createDb } from '../../src/db/knex';
import { loadSigningKey } from '../../src/domain/ledgerCheckpoint';
import { WebhookReceiver } from '../support/receiver';
import { verifyWithStandardWebhooks } from '../support/webhooks';
import { call, newOrganization, newSigningKey, startSystem, TEST_SIGNING_KEY, TestSystem } from '../support/system';

// The ledger against an insider (issue 12): the application's database role can only read and
// append the ledger; signed checkpoints let anyone holding the public key find a cut tail.
let sys: TestSystem;
let receiver: WebhookReceiver;
let tmp: string;
const role = `kyc_app_test_${randomBytes(6).toString('hex')}`;

function roleUrl(): string {
  const url = new URL(process.env.DATABASE_URL!);
  url.username = role;
  url.password = '';
  return url.toString();
}

async function superuser(): Promise<Client> {
  const url = new URL(process.env.TEST_DATABASE_ADMIN_URL!);
  url.pathname = new URL(process.env.DATABASE_URL!).pathname;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

beforeAll(async () => {
  // Roles are cluster-wide: a unique name, dropped in afterAll.
  const su = await superuser();
  try {
    await su.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
  } finally {
    await su.end();
  }
  const owner = createDb(process.env.DATABASE_URL!, { max: 1 });
  try {
    await grantAppRole(owner, role);
  } finally {
    await owner.destroy();
  }
  // The whole system (API and worker) on the application's role.
  sys = await startSystem({ DATABASE_URL: roleUrl() });
  receiver = await new WebhookReceiver().start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-insider-'));
});

afterAll(async () => {
  await sys?.stop();
  await receiver?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  const su = await superuser();
  try {
    await su.query(`DROP OWNED BY ${role}`);
    await su.query(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await su.end();
  }
});

type Org = Awaited<ReturnType<typeof newOrganization>>;

async function appendEvents(org: Org, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    await appendAuditEvent(sys.db, sys.config.AUDIT_HMAC_KEY, {
      organizationId: org.organizationId,
      actor: { type: 'system', id: 'test' },
      action: 'test.event',
      category: 'modification',
      resource: { type: 'thing', id: `t${i}` },
    });
  }
}

function runVerifier(args: string[], env: Record<string, string> = {}): Promise<{ code: number; report: any }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.resolve('scripts/verify-audit-export.mjs'), ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      try {
        resolve({ code: err ? (err.code as number) : 0, report: JSON.parse(stdout) });
      } catch {
        reject(new Error(`verifier printed no JSON: ${stdout} ${stderr}`));
      }
    });
  });
}

async function exportTo(org: Org, name: string): Promise<string> {
  const res = await fetch(`${sys.baseUrl}/v1/audit-events/export?format=ndjson`, { headers: { authorization: `Bearer ${org.adminToken}` } });
  expect(res.status).toBe(200);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, await res.text());
  return file;
}

const refusedByPrivilege = /permission denied/;

test('the application role cannot UPDATE, DELETE or TRUNCATE the ledger, nor disable its triggers: privileges refuse it', async () => {
  const org = await newOrganization(sys.db);
  // The app works on this role: a session through the API appends its events.
  expect((await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} })).status).toBe(201);
  expect((await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken })).status).toBe(201);
  const [{ current_user: who }] = (await sys.db.raw('select current_user')).rows;
  expect(who).toBe(role);

  for (const table of ['audit_events', 'audit_checkpoints', 'audit_signing_keys']) {
    await expect(sys.db.raw(`UPDATE ${table} SET ${table === 'audit_signing_keys' ? 'public_key' : 'organization_id'} = ${table === 'audit_signing_keys' ? "'x'" : 'organization_id'}`)).rejects.toThrow(refusedByPrivilege);
    await expect(sys.db.raw(`DELETE FROM ${table}`)).rejects.toThrow(refusedByPrivilege);
    await expect(sys.db.raw(`TRUNCATE ${table}`)).rejects.toThrow(refusedByPrivilege);
  }
  // Migration 013's one exception: UPDATE on the three chaining columns only (column privilege),
  // and only to chain an unchained event once (trigger).
  await expect(sys.db.raw(`UPDATE audit_events SET action = 'forged' WHERE organization_id = ?`, [org.organizationId])).rejects.toThrow(refusedByPrivilege);
  await expect(sys.db.raw(`UPDATE audit_events SET append_order = 0 WHERE organization_id = ?`, [org.organizationId])).rejects.toThrow(refusedByPrivilege);
  await expect(sys.db.raw(`UPDATE audit_events SET hash = repeat('a', 64) WHERE organization_id = ? AND seq = 1`, [org.organizationId])).rejects.toThrow(/append-only: UPDATE refused/);
  await expect(sys.db.raw(`UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL WHERE organization_id = ?`, [org.organizationId])).rejects.toThrow(/append-only: UPDATE refused/);
  await expect(sys.db.raw('DELETE FROM audit_heads')).rejects.toThrow(refusedByPrivilege);
  await expect(sys.db.raw('TRUNCATE audit_heads')).rejects.toThrow(refusedByPrivilege);
  // audit_heads moves forward on each append; its trigger refuses a rewind.
  await expect(sys.db('audit_heads').where({ organization_id: org.organizationId }).update({ seq: 1 })).rejects.toThrow(/only moves forward/);
  await expect(sys.db.raw('ALTER TABLE audit_events DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
  await expect(sys.db.raw('ALTER TABLE audit_heads DISABLE TRIGGER ALL')).rejects.toThrow(/must be owner/);
});

test('an event the application role inserts already chained at the next seq: verify reports it as the first invalid one, no read fails', async () => {
  const org = await newOrganization(sys.db);
  await appendEvents(org, 3);
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: org.adminToken })).body).toMatchObject({ valid: true, checked: 3 });
  // The role may INSERT: a row at seq 4, linked to seq 3, with a hash made up without the key.
  const third = await sys.db('audit_events').where({ organization_id: org.organizationId, seq: 3 }).first('hash');
  await sys.db('audit_events').insert({
    id: randomUUID(),
    organization_id: org.organizationId,
    seq: 4,
    occurred_at: new Date(),
    actor_type: 'system',
    actor_id: 'insider',
    action: 'forged.event',
    category: 'modification',
    resource_type: 'thing',
    resource_id: 'forged',
    outcome: 'success',
    prev_hash: third.hash,
    hash: 'a'.repeat(64),
  });
  // An honest event after it cannot be chained at seq 4 (the sequencer's batch rolls back).
  await appendEvents(org, 1);

  const verified = await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: org.adminToken });
  expect(verified.status).toBe(200);
  expect(verified.body).toMatchObject({ valid: false, firstInvalidSeq: 4 });
  const listed = await call(sys.baseUrl, 'GET', '/v1/audit-events', { token: org.adminToken });
  expect(listed.status).toBe(200);
  expect(listed.body.data.map((e: { seq: number }) => e.seq)).toEqual([4, 3, 2, 1]);
});

test('checkpoints are signed with Ed25519, listed, served with the public key, and sent as signed audit.checkpoint webhooks', async () => {
  const org = await newOrganization(sys.db);
  await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { decisionWebhookUrl: `${receiver.url}/cp-${org.organizationId}` } });
  await appendEvents(org, 3);
  const taken = await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken });
  expect(taken.status).toBe(201);
  const head = await sys.db('audit_heads').where({ organization_id: org.organizationId }).first();
  expect(taken.body).toMatchObject({ organizationId: org.organizationId, seq: Number(head.seq), hash: head.hash, prevCheckpointHash: '0'.repeat(64), keyId: loadSigningKey(TEST_SIGNING_KEY).keyId });
  // Nothing new since: the same checkpoint, not a second one.
  const again = await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken });
  expect([again.status, again.body.id]).toEqual([200, taken.body.id]);

  const keys = await call(sys.baseUrl, 'GET', '/v1/audit-events/public-key');
  expect(keys.status).toBe(200);
  expect(keys.body).toMatchObject({ algorithm: 'Ed25519', currentKeyId: taken.body.keyId });
  expect(keys.body.keys).toContainEqual(expect.objectContaining({ keyId: taken.body.keyId, publicKey: expect.stringContaining('BEGIN PUBLIC KEY'), current: true }));
  const list = await call(sys.baseUrl, 'GET', '/v1/audit-events/checkpoints', { token: org.adminToken });
  expect(list.body.data).toEqual([taken.body]);

  const [request] = await receiver.waitForPath(`/cp-${org.organizationId}`);
  const secret = (await call(sys.baseUrl, 'GET', '/v1/settings/webhook-secret', { token: org.adminToken })).body.secret;
  const { id: _id, ...payload } = taken.body;
  expect(verifyWithStandardWebhooks(secret, request)).toEqual({ type: 'audit.checkpoint', ...payload });

  // Only admins take one; auditors read them.
  const auditor = (await call(sys.baseUrl, 'POST', '/v1/operators', { token: org.adminToken, body: { email: `a-${org.organizationId}@example.com`, role: 'auditor' } })).body;
  expect((await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: auditor.token })).status).toBe(403);
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events/checkpoints', { token: auditor.token })).status).toBe(200);
});

test('checkpoints are taken every N events or M minutes', async () => {
  const org = await newOrganization(sys.db);
  const deps = { db: sys.db, key: loadSigningKey(TEST_SIGNING_KEY), hmacKey: sys.config.AUDIT_HMAC_KEY };
  const mine = () => sys.db('audit_checkpoints').where({ organization_id: org.organizationId }).orderBy('seq');
  await appendEvents(org, 4);
  await takeDueCheckpoints(deps, 5, 60 * 24 * 365);
  // None was taken yet for a fresh organization with fewer than N events... unless M minutes passed
  // since its (absent) last checkpoint: a first checkpoint is due at once.
  expect((await mine()).map((c) => Number(c.seq))).toEqual([4]);
  await appendEvents(org, 4);
  await takeDueCheckpoints(deps, 5, 60 * 24 * 365);
  expect((await mine()).map((c) => Number(c.seq))).toEqual([4]);
  await appendEvents(org, 1);
  await takeDueCheckpoints(deps, 5, 60 * 24 * 365);
  expect((await mine()).map((c) => Number(c.seq))).toEqual([4, 9]);
  // The time rule: back-dating is impossible (append-only), so M = 1 minute with a checkpoint
  // signed now is not due; the rule itself is the SQL in takeDueCheckpoints. (Only this
  // organization's checkpoints are compared: other test files' organizations share the database.)
  await appendEvents(org, 1);
  await takeDueCheckpoints(deps, 5, 1);
  expect((await mine()).map((c) => Number(c.seq))).toEqual([4, 9]);
});

test('black box: triggers disabled by a superuser, newest events deleted, every head rewound: verify and the public-key verifier both report it', async () => {
  const org = await newOrganization(sys.db);
  await appendEvents(org, 12);
  const cp = await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken });
  expect(cp.status).toBe(201);
  expect(cp.body.seq).toBe(12);
  // What the customer holds: the checkpoints (webhooks or this list) and the public keys.
  const checkpointsFile = path.join(tmp, `${org.organizationId}-checkpoints.json`);
  fs.writeFileSync(checkpointsFile, JSON.stringify((await call(sys.baseUrl, 'GET', '/v1/audit-events/checkpoints', { token: org.adminToken })).body));
  const keysFile = path.join(tmp, 'keys.json');
  fs.writeFileSync(keysFile, JSON.stringify((await call(sys.baseUrl, 'GET', '/v1/audit-events/public-key')).body));
  expect((await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: org.adminToken })).body).toMatchObject({ valid: true, checked: 12 });

  const su = await superuser();
  try {
    await su.query('BEGIN');
    await su.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    await su.query('ALTER TABLE audit_heads DISABLE TRIGGER audit_heads_forward');
    await su.query('DELETE FROM audit_events WHERE organization_id = $1 AND seq > 10', [org.organizationId]);
    const ten = await su.query('SELECT hash FROM audit_events WHERE organization_id = $1 AND seq = 10', [org.organizationId]);
    const rewound = await su.query('UPDATE audit_heads SET seq = 10, hash = $2 WHERE organization_id = $1', [org.organizationId, ten.rows[0].hash]);
    expect(rewound.rowCount).toBe(1);
    await su.query('ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update_delete');
    await su.query('ALTER TABLE audit_heads ENABLE ALWAYS TRIGGER audit_heads_forward');
    await su.query('COMMIT');
  } finally {
    await su.end();
  }

  const verified = await call(sys.baseUrl, 'GET', '/v1/audit-events/verify', { token: org.adminToken });
  expect(verified.body).toMatchObject({ valid: false, checked: 10, firstInvalidSeq: 11 });
  expect(verified.body.checkpoints.problems).toEqual([expect.objectContaining({ kind: 'missing_events', seq: 12 })]);

  // The export appends its own audit.export event at seq 11: the tail still does not match seq 12's signed hash.
  const exported = await exportTo(org, `${org.organizationId}-cut.ndjson`);
  const standalone = await runVerifier(['--public-keys', keysFile, '--checkpoints', checkpointsFile, exported]);
  expect(standalone.code).toBe(1);
  expect(standalone.report).toMatchObject({ valid: false, hmacChecked: false, checkpoints: { valid: false } });
  expect(standalone.report.checkpoints.problems.map((p: { kind: string; seq: number }) => [p.kind, p.seq])).toEqual([['missing_events', 12]]);
});

test('the standalone verifier, with only the public key, passes an intact export and reports a forked checkpoint chain', async () => {
  const org = await newOrganization(sys.db);
  await appendEvents(org, 3);
  const first = (await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken })).body;
  await appendEvents(org, 2);
  const second = (await call(sys.baseUrl, 'POST', '/v1/audit-events/checkpoints', { token: org.adminToken })).body;
  expect(second.prevCheckpointHash).toBe(first.checkpointHash);
  const keysFile = path.join(tmp, `${org.organizationId}-keys.json`);
  fs.writeFileSync(keysFile, JSON.stringify((await call(sys.baseUrl, 'GET', '/v1/audit-events/public-key')).body));
  const exported = await exportTo(org, `${org.organizationId}.ndjson`);

  const cps = path.join(tmp, `${org.organizationId}-cps.ndjson`);
  fs.writeFileSync(cps, [first, second].map((c) => JSON.stringify(c)).join('\n'));
  const intact = await runVerifier(['--public-keys', keysFile, '--checkpoints', cps, exported]);
  expect(intact).toMatchObject({ code: 0, report: { valid: true, checkpoints: { valid: true, checked: 2, latestSeq: 5 } } });

  // A rival successor of the first checkpoint, signed with the real key (say, by a restored backup).
  const { signCheckpoint } = await import('../../src/domain/ledgerCheckpoint');
  const rival = signCheckpoint(loadSigningKey(TEST_SIGNING_KEY), { organizationId: org.organizationId, seq: 4, hash: 'f'.repeat(64), signedAt: new Date().toISOString(), prevCheckpointHash: first.checkpointHash });
  fs.writeFileSync(cps, [first, second, rival].map((c) => JSON.stringify(c)).join('\n'));
  const forked = await runVerifier(['--public-keys', keysFile, '--checkpoints', cps, exported]);
  expect(forked.code).toBe(1);
  expect(forked.report.checkpoints.problems.map((p: { kind: string }) => p.kind)).toContain('forked_chain');

  // A key that is not listed vouches for nothing.
  const stranger = signCheckpoint(loadSigningKey(newSigningKey()), { organizationId: org.organizationId, seq: 5, hash: second.hash, signedAt: second.signedAt, prevCheckpointHash: first.checkpointHash });
  fs.writeFileSync(cps, [first, stranger].map((c) => JSON.stringify(c)).join('\n'));
  expect((await runVerifier(['--public-keys', keysFile, '--checkpoints', cps, exported])).report.checkpoints.problems[0].kind).toBe('unknown_key');
});
