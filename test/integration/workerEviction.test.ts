import { sessionWorkflowId, stateQuery } from '../../workflows/definitions';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';

// A sticky cache far smaller than the open sessions: every activity, query and link opening
// evicts another session, which replays on its next task. The worker must keep running
// (issue 10: an IllegalStateError on eviction once stopped a worker with a cache of 300).
const CACHE = 5;
const SESSIONS = 60;
let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem({ WORKER_MAX_CACHED_WORKFLOWS: String(CACHE) });
});
afterAll(async () => {
  await sys?.stop();
});

async function inBatches<T>(items: T[], size: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}

test(`${SESSIONS} open sessions through a sticky cache of ${CACHE}: constant evictions, the worker keeps running`, async () => {
  const org = await newOrganization(sys.db);
  const ids: string[] = [];
  const links: string[] = [];
  await inBatches(Array.from({ length: SESSIONS }, (_, i) => i), 10, async () => {
    const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
    expect(created.status).toBe(201);
    ids.push(created.body.id);
    links.push(new URL(created.body.link.url).pathname);
  });

  // Two rounds over every session: each query and update needs its workflow back in a cache
  // that holds a twelfth of them, so each one is replayed after an eviction.
  for (let round = 0; round < 2; round++) {
    await inBatches(ids, 10, async (id) => {
      const state = await sys.client.workflow.getHandle(sessionWorkflowId(id)).query(stateQuery);
      expect(state.status).toBe(round === 0 ? 'created' : 'in_progress');
    });
    await inBatches(links, 10, async (link) => {
      const opened = await call(sys.baseUrl, 'GET', link);
      expect(opened.status).toBe(200);
      expect(opened.body.status).toBe('in_progress');
    });
    expect(sys.worker.getState()).toBe('RUNNING');
  }
  const rows = await sys.db('sessions').whereIn('id', ids).select('status');
  expect(rows).toHaveLength(SESSIONS);
  expect(rows.map((r) => r.status)).toEqual(Array(SESSIONS).fill('in_progress'));
  // stop() awaits worker.run(): a worker that failed rejects it and fails this file.
});
