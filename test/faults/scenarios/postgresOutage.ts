// (4) PostgreSQL (the suite's private cluster) is stopped for 20 s under load: the API answers
// 503 while it is away, activities retry, and once it is back every acknowledged request
// holds and no workflow is left without its record.
import { pool } from '../client';
import { journeyPlans, runJourney } from '../journeys';
import { sleep, until, type Scenario } from '../scenario';

const OUTAGE_MS = 20_000;

export const postgresOutage: Scenario = {
  name: 'postgres-outage',
  title: 'PostgreSQL stopped for 20 s under load',
  async run(s) {
    const { sys } = s.ctx;
    const sessions = s.sessions(journeyPlans(60, { expireEvery: 10, decideEvery: 5 }));
    let finished = 0;
    const load = pool(sessions, 8, async (x) => {
      await runJourney(s.api, s.org, x);
      finished += 1;
    });
    await until(() => finished >= 15);
    const statsBefore = s.api.stats.attempts;
    await sys.postgres.stop('fast');
    const stoppedAt = Date.now();
    s.log(`PostgreSQL stopped with ${finished} of ${sessions.length} journeys done`);
    const probes: string[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS - 2000) {
      const r = await s.api.once('GET', '/v1/sessions?limit=1', { token: s.org.apiKey, attemptTimeoutMs: 30_000 });
      probes.push(String(r?.status ?? 'no answer'));
      await sleep(2000);
    }
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    await sys.postgres.start();
    s.log(`PostgreSQL started again (${s.api.stats.attempts - statsBefore} requests during the outage)`);
    s.extraChecks.push({
      name: 'API answers 503 while PostgreSQL is down',
      ok: probes.length > 0 && probes.every((p) => p === '503'),
      detail: `GET /v1/sessions during the outage: ${probes.join(', ')}`,
    });
    await load;
    s.log(`journeys driven (${s.api.stats.summary()})`);
    await s.awaitRecovery();
    const orphans = await orphanWorkflows(s);
    s.extraChecks.push({
      name: 'no session workflow without its session row',
      ok: orphans.length === 0,
      detail: orphans.length ? `${orphans.length} orphan workflow(s), e.g. ${orphans.slice(0, 3).join(', ')}` : 'none',
    });
  },
};

/** Session workflows of the organization (Temporal visibility) whose session row does not exist. */
async function orphanWorkflows(s: Parameters<Scenario['run']>[0]): Promise<string[]> {
  const { sys, db } = s.ctx;
  const out = await sys.temporal.cli([
    'workflow', 'list', '--query', `WorkflowType='journeySession' AND OrganizationId='${s.org.organizationId}'`, '-o', 'json', '--limit', '10000',
  ]);
  if (!out.ok) throw new Error(`temporal workflow list failed: ${out.stderr}`);
  const ids = parseWorkflowList(out.stdout).map((w) => w.replace(/^session-/, ''));
  const { rows } = await db.query<{ id: string }>('SELECT id FROM sessions WHERE organization_id = $1', [s.org.organizationId]);
  const known = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !known.has(id)).map((id) => `session-${id}`);
}

export function parseWorkflowList(stdout: string): string[] {
  const text = stdout.trim();
  if (!text) return [];
  // `-o json` prints an array (or one object per line in some versions).
  const items: unknown[] = text.startsWith('[') ? JSON.parse(text) : text.split('\n').map((l) => JSON.parse(l));
  return items.map((w) => (w as { execution?: { workflowId?: string } }).execution?.workflowId).filter((x): x is string => !!x);
}
