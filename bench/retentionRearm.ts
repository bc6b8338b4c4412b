// Benchmark of the retention re-arm (docs/settings.md): how long a change of dataRetention takes
// to reach every open workflow of one organization, at tens of thousands of sessions.
//
//   npx tsx bench/retentionRearm.ts [--sessions 10000] [--width 50]
//
// Starts its own Temporal dev server and PostgreSQL database (as the tests do), runs the API
// and one worker in this process, then for two organizations of N sessions each:
//  - postpone: all created now with 1d, PATCH to 2d; until every workflow shows the new PurgeAt;
//  - purge:    all created 10 minutes ago with 1d, PATCH to 5m; until every one is purged.
// Prints one JSON object: timings, throughput, memory, and the counts that prove nothing was lost.
import { verifyLedger } from '../src/audit/ledger';
import { retentionRearmWorkflowId, type RetentionRearmResult } from '../workflows/definitions';
import globalSetup, { stopTestInfrastructure } from '../test/support/globalSetup';
import { createSessionAt, sessionDeps } from '../test/support/sessions';
import { call, newOrganization, startSystem, type TestSystem } from '../test/support/system';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SESSIONS = arg('sessions', 10_000);
const WIDTH = arg('width', 50);
const MIN_MS = 60_000;

async function createMany(sys: TestSystem, organizationId: string, createdAt: () => Date): Promise<number> {
  const deps = sessionDeps(sys.db, sys.client, sys.config.TEMPORAL_TASK_QUEUE, sys.baseUrl);
  const started = Date.now();
  for (let i = 0; i < SESSIONS; i += WIDTH) {
    await Promise.all(Array.from({ length: Math.min(WIDTH, SESSIONS - i) }, () => createSessionAt(deps, organizationId, {}, createdAt())));
  }
  return Date.now() - started;
}

async function patchRetention(sys: TestSystem, org: { organizationId: string; adminToken: string }, dataRetention: string) {
  const started = Date.now();
  const res = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention } });
  if (res.status !== 200) throw new Error(`PATCH answered ${res.status}: ${JSON.stringify(res.body)}`);
  const patchMs = Date.now() - started;
  const row = await sys.db('settings').where({ organization_id: org.organizationId }).first('retention_revision');
  return { started, patchMs, revision: Number(row.retention_revision) };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function postpone(sys: TestSystem) {
  const org = await newOrganization(sys.db, 'bench-postpone');
  await patchRetention(sys, org, '1d');
  const createMs = await createMany(sys, org.organizationId, () => new Date());
  const { started, patchMs, revision } = await patchRetention(sys, org, '2d');
  const rearm: RetentionRearmResult = await sys.client.workflow.getHandle(retentionRearmWorkflowId(org.organizationId, revision)).result();
  const signalledMs = Date.now() - started;
  // Every workflow has upserted its new PurgeAt (all of them now lie beyond any 1d deadline).
  const beyond = new Date(Date.now() + 25 * 60 * MIN_MS).toISOString();
  const query = `OrganizationId="${org.organizationId}" AND WorkflowType="journeySession" AND PurgeAt > "${beyond}"`;
  await until(async () => (await sys.client.workflow.count(query)).count === SESSIONS, 600_000);
  const allUpsertedMs = Date.now() - started;
  const [{ n }] = await sys.db('sessions').where({ organization_id: org.organizationId }).whereRaw("purge_at = created_at + interval '2 days'").count('* as n');
  return { createMs, patchMs, signalledMs, allUpsertedMs, signalled: rearm.signalled, missing: rearm.missing, rowsRescheduled: Number(n) };
}

async function purge(sys: TestSystem) {
  const org = await newOrganization(sys.db, 'bench-purge');
  await patchRetention(sys, org, '1d');
  const tenMinutesAgo = new Date(Date.now() - 10 * MIN_MS);
  const createMs = await createMany(sys, org.organizationId, () => tenMinutesAgo);
  const { started, patchMs, revision } = await patchRetention(sys, org, '5m');
  const purgedCount = async () =>
    Number((await sys.db('sessions').where({ organization_id: org.organizationId, status: 'purged' }).count('* as n'))[0].n);
  let firstPurgeMs: number | null = null;
  await until(async () => {
    const n = await purgedCount();
    if (n > 0 && firstPurgeMs === null) firstPurgeMs = Date.now() - started;
    return n === SESSIONS;
  }, 1_800_000);
  const allPurgedMs = Date.now() - started;
  const rearm: RetentionRearmResult = await sys.client.workflow.getHandle(retentionRearmWorkflowId(org.organizationId, revision)).result();
  const [{ n: events }] = await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'session.purge' }).count('* as n');
  const ledger = await verifyLedger(sys.db, sys.config.AUDIT_HMAC_KEY, org.organizationId);
  const [{ n: personal }] = await sys.db('entities').where({ organization_id: org.organizationId }).whereNotNull('personal_data').count('* as n');
  return {
    createMs,
    patchMs,
    firstPurgeMs,
    allPurgedMs,
    purgesPerSecond: Math.round((SESSIONS / allPurgedMs) * 1000),
    signalled: rearm.signalled,
    missing: rearm.missing,
    purged: await purgedCount(),
    purgeEvents: Number(events),
    ledgerValid: ledger.valid,
    entitiesWithPersonalData: Number(personal),
  };
}

async function main(): Promise<void> {
  await globalSetup();
  let sys: TestSystem | undefined;
  try {
    sys = await startSystem({ DATA_RETENTION_MIN: '1m' });
    const result = {
      benchmark: 'retention re-arm',
      sessionsPerOrganization: SESSIONS,
      creationWidth: WIDTH,
      postpone: await postpone(sys),
      purge: await purge(sys),
      rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
      heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await sys?.stop();
    await stopTestInfrastructure();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
