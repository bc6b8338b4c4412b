// `npm run bench`: the product against bare Temporal, side by side in one run on one server.
//
//   npm run bench                                                   # quick: 200 sessions at 20
//   npm run bench -- --sizes 1000,10000 --concurrency 20,50         # the full set (long)
//   npm run bench -- --sizes 1000 --cpu-prof bench-results/prof     # with V8 CPU profiles
//
// Flags: --sizes, --concurrency (lists), --journeys N (per run, default the size), --ledger-appends N (0 = skip), --ledger-concurrency,
// --rearm-open false (skip the re-arm of all open sessions), --rearm N (also on N back-dated
// sessions of another organization), --cpu-prof DIR, --out FILE,
// --phases (which of bare-starts,bare-journeys,creates,journeys run; default all), --rest-seconds N
// (the worker's memory is read after the creations' first tasks and again after N s at rest;
// default 60), --worker-env 'K=V;K=V' (extra environment for the product's worker only).
//
// The run starts its own Temporal dev server and PostgreSQL database (test/support/globalSetup),
// then the product's worker, the product's API and a bare worker as separate node processes;
// this process is the load generator and the webhook receiver. For each size × concurrency:
//  1. bare starts:   start `bareJourney` workflows (they stay open on a 1-day timer);
//  2. bare journeys: start → signal → activity → HTTP POST received, one per journey;
//  3. product creates: POST /v1/sessions (the sessions stay open on their timers);
//  4. product journeys: create → open link → analysis → complete → session-end webhook
//     received → analyst decision → decision webhook received.
// Then the ledger append rate in one organization and the retention re-arm against a bare
// signal → activity rate. It prints JSON (also written to --out) and never fails on a figure:
// it exits non-zero only if the harness itself breaks. A journey step answered 503 is retried
// after its Retry-After for up to --patience-seconds (300); one that still fails (or another
// status, or no webhook) fails that journey, counted and diagnosed, not the run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { appendAuditEvent, chainPending, LEDGER_SEQUENCER_OPTIONS, startLedgerSequencer, verifyLedger } from '../src/audit/ledger';
import { benchEvent, measureLedgerRate } from './lib/ledgerRate';
import { createDb, type Db } from '../src/db/knex';
import globalSetup, { stopTestInfrastructure, testRunState } from '../test/support/globalSetup';
import { WebhookReceiver, type ReceivedRequest } from '../test/support/receiver';
import { createSessionAt, sessionDeps } from '../test/support/sessions';
import { addOperator, call, newOrganization, TEST_AUDIT_KEY, TEST_PAYLOAD_MASTER_KEY } from '../test/support/system';
import { dataConverter } from '../src/payloads/dataConverter';
import { DataKeyStore, MasterKeys } from '../src/payloads/keyStore';
import { askMemory, freePort, procStats, startNode, waitFor, type NodeProcess, type ProcStats } from './lib/processes';
import { processSmaps } from './lib/memory';
import { flag, numberList, percentiles, perSecond, pool, ratio } from './lib/stats';
import { markdown } from './lib/report';
import { diagnoseWorkflow, workerTaskFigures, workflowBacklog } from './lib/diagnose';
import { sessionWorkflowId, stateQuery } from '../workflows/definitions';

const argv = process.argv.slice(2);
const SIZES = numberList(argv, 'sizes', [200]);
const CONCURRENCY = numberList(argv, 'concurrency', [20]);
/** Journeys per run (bare and product); default: the size. Sessions opened stay the size. */
const JOURNEYS = flag(argv, 'journeys') === undefined ? undefined : numberList(argv, 'journeys', [])[0];
const LEDGER_APPENDS = numberList(argv, 'ledger-appends', [5000])[0];
const LEDGER_CONCURRENCY = numberList(argv, 'ledger-concurrency', [20])[0];
const REARM = numberList(argv, 'rearm', [0])[0];
/** Shorten the retention of every session the runs left open, against a signal to every bare one. */
const REARM_OPEN = flag(argv, 'rearm-open') !== 'false';
/** N more sessions opened straight through the domain function (no HTTP), to measure the worker with many open. */
const OPEN_DIRECT = numberList(argv, 'open-direct', [0])[0];
const CPU_PROF = flag(argv, 'cpu-prof');
const ALL_PHASES = ['bare-starts', 'bare-journeys', 'creates', 'journeys'] as const;
type PhaseName = (typeof ALL_PHASES)[number];
const PHASES = new Set((flag(argv, 'phases') ?? ALL_PHASES.join(',')).split(','));
for (const p of PHASES) if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`--phases takes a list of ${ALL_PHASES.join(',')}, got ${p}`);
const REST_SECONDS = numberList(argv, 'rest-seconds', [60])[0];
/** Extra environment for the product's worker only, e.g. 'MALLOC_ARENA_MAX=2;NODE_OPTIONS=--max-old-space-size=256'. */
const WORKER_ENV = Object.fromEntries(
  (flag(argv, 'worker-env') ?? '')
    .split(';')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const OUT = flag(argv, 'out') ?? path.join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const LOG_DIR = path.resolve('bench-results', 'logs');
const PRODUCT_QUEUE = 'bench-product';
const BARE_QUEUE = 'bench-bare';
const WEBHOOK_TIMEOUT_MS = 600_000;
const MIN_MS = 60_000;

const say = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** Webhooks awaited by key (session id, analysis id, bare journey id), arrivals kept by key. */
class Arrivals {
  private arrived = new Map<string, ReceivedRequest>();
  private waiting = new Map<string, (r: ReceivedRequest) => void>();
  constructor(receiver: WebhookReceiver, private readonly keyOf: (r: ReceivedRequest) => string | null) {
    receiver.listeners.push((r) => {
      const key = this.keyOf(r);
      if (key === null || this.arrived.has(key)) return; // a redelivery: the first arrival counts
      this.arrived.set(key, r);
      this.waiting.get(key)?.(r);
      this.waiting.delete(key);
    });
  }
  wait(key: string, timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<ReceivedRequest> {
    const r = this.arrived.get(key);
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no webhook for ${key} within ${timeoutMs / 1000} s`)), timeoutMs);
      this.waiting.set(key, (req) => {
        clearTimeout(timer);
        resolve(req);
      });
    });
  }
}

/** 503s answered to the load generator (retried, as a customer would, with the same Idempotency-Key). */
const unavailable = { retried: 0 };

/** How long a customer keeps retrying one step answered 503 (--patience-seconds, default 300). */
const PATIENCE_MS = numberList(argv, 'patience-seconds', [300])[0] * 1000;
/** A Retry-After longer than this is shortened to it (the API sends 5). */
const RETRY_AFTER_MAX_S = 30;

/**
 * `call`, retrying a 503 as a patient customer would: after the answer's Retry-After (1 s when
 * it has none), for up to PATIENCE_MS in all. The answer carries how many retries it took and
 * how long. `onRetry(n)` is called before the n-th retry (the journeys diagnose slow steps).
 */
async function callAsCustomer(baseUrl: string, method: string, path: string, opts: Parameters<typeof call>[3] = {}, onRetry?: (retry: number) => Promise<void>) {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    const res = await call(baseUrl, method, path, opts);
    const elapsedMs = Math.round(performance.now() - started);
    if (res.status !== 503 || elapsedMs >= PATIENCE_MS) return Object.assign(res, { retried: attempt - 1, elapsedMs });
    unavailable.retried += 1;
    const retryAfter = Number(res.headers.get('retry-after'));
    const wait = Math.min(RETRY_AFTER_MAX_S, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1);
    await onRetry?.(attempt);
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait * 1000, Math.max(0, PATIENCE_MS - elapsedMs))));
  }
}

/** A journey step that did not get its answer (after its retries) or its webhook: the journey failed there. */
class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly detail: { status?: number; retried?: number; elapsedMs?: number; body?: unknown; error?: string },
  ) {
    super(`${step}: ${detail.status ?? detail.error}`);
  }
}

/** How many 503 retries each call of a step needed: {retries: calls}, and the calls that needed any. */
function retryDistribution(counts: number[]) {
  const histogram: Record<string, number> = {};
  for (const n of counts) histogram[n] = (histogram[n] ?? 0) + 1;
  return { calls: counts.length, retried: counts.filter((n) => n > 0).length, retries: counts.reduce((a, b) => a + b, 0), max: counts.length ? Math.max(...counts) : 0, histogram };
}

function bodyField(field: string) {
  return (r: ReceivedRequest): string | null => {
    try {
      return String((JSON.parse(r.body) as Record<string, unknown>)[field]);
    } catch {
      return null;
    }
  };
}

interface Processes {
  api: NodeProcess;
  worker: NodeProcess;
  bare: NodeProcess;
}

/** CPU seconds each process spent during `phase` and the RSS after it (peak during it). */
let phaseLog: Record<string, unknown>[] = [];
let onPhaseDone: () => void = () => undefined;

async function measured<T>(procs: Processes, phase: () => Promise<T>, label = '') {
  const temporalPid = testRunState().temporal?.pid;
  const before = { api: procStats(procs.api.child.pid), worker: procStats(procs.worker.child.pid), bare: procStats(procs.bare.child.pid), temporal: procStats(temporalPid), loadgen: selfStats() };
  for (const p of Object.values(procs)) p.sampler.read(); // reset peaks
  const started = performance.now();
  const value = await phase();
  const ms = performance.now() - started;
  const after = { api: procs.api.sampler.read(), worker: procs.worker.sampler.read(), bare: procs.bare.sampler.read(), temporal: procStats(temporalPid), loadgen: selfStats() };
  const cpu = (a: ProcStats | null, b: ProcStats | null) => (a && b ? +(b.cpuSeconds - a.cpuSeconds).toFixed(1) : null);
  const processes = {
    cpuSeconds: {
      temporal: cpu(before.temporal, after.temporal),
      api: cpu(before.api, after.api),
      worker: cpu(before.worker, after.worker),
      bareWorker: cpu(before.bare, after.bare),
      loadGenerator: cpu(before.loadgen, after.loadgen),
    },
    rssMb: {
      temporal: after.temporal?.rssMb ?? null,
      api: after.api?.rssMb ?? null,
      apiPeak: after.api?.peakRssMb ?? null,
      worker: after.worker?.rssMb ?? null,
      workerPeak: after.worker?.peakRssMb ?? null,
      bareWorker: after.bare?.rssMb ?? null,
      loadGenerator: after.loadgen.rssMb,
    },
  };
  const retried503 = unavailable.retried;
  unavailable.retried = 0;
  phaseLog.push({ phase: label, seconds: +(ms / 1000).toFixed(1), retried503, processes });
  onPhaseDone();
  return { value, ms, processes: { ...processes, retried503 } };
}

/** `measured`, or nothing when the phase is not among --phases (its figures come out null). */
async function measuredPhase<T>(name: PhaseName, procs: Processes, phase: () => Promise<T>, label: string) {
  if (!PHASES.has(name)) {
    say(`skipping ${label} (--phases)`);
    return { value: undefined, ms: NaN, processes: null };
  }
  return measured(procs, phase, label);
}

/** The worker's own memory breakdown (IPC, src/temporal/workerMemory.ts) and where its RSS is (smaps). */
async function workerMemoryFigures(proc: NodeProcess) {
  return { rssMb: procStats(proc.child.pid)?.rssMb ?? null, process: await askMemory(proc).catch((err: Error) => ({ error: err.message })), smaps: processSmaps(proc.child.pid) };
}

function selfStats(): ProcStats {
  const u = process.cpuUsage();
  return { rssMb: Math.round(process.memoryUsage().rss / 2 ** 20), cpuSeconds: (u.user + u.system) / 1e6 };
}

/** The result so far, rewritten after every phase: a run cut short still leaves its figures. */
function writeResult(output: Record<string, unknown>, cpuProfDir: string | undefined, complete: boolean) {
  const result = {
    benchmark: 'npm run bench',
    date: new Date().toISOString(),
    command: `npm run bench -- ${argv.join(' ')}`.trim(),
    complete,
    machine: machine(),
    ...output,
    cpuProfiles: cpuProfDir ?? null,
    note: 'Temporal dev server (in memory), PostgreSQL, API, worker, bare worker and this load generator share one host; compare the ratios, not the absolute figures',
  };
  fs.mkdirSync(path.dirname(path.resolve(OUT)), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

async function main(): Promise<void> {
  say('starting a Temporal dev server and a fresh database…');
  await globalSetup();
  const temporalAddress = process.env.TEMPORAL_ADDRESS!;
  const databaseUrl = process.env.DATABASE_URL!;
  const receiver = await new WebhookReceiver().start();
  const sessionEnds = new Arrivals(receiver, (r) => (r.path === '/session-end' ? bodyField('sessionId')(r) : null));
  const decisions = new Arrivals(receiver, (r) => (r.path === '/decision' ? bodyField('analysisId')(r) : null));
  const bareArrivals = new Arrivals(receiver, (r) => (r.path === '/bare' ? bodyField('id')(r) : null));

  const apiPort = await freePort();
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  const env = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: PRODUCT_QUEUE,
    BARE_TASK_QUEUE: BARE_QUEUE,
    AUDIT_HMAC_KEY: TEST_AUDIT_KEY,
    PAYLOAD_MASTER_KEY: TEST_PAYLOAD_MASTER_KEY,
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    DATA_RETENTION_MIN: '1m',
    LOG_LEVEL: 'warn',
    // One load generator on one IP is not an abuser: the API's rate limits would measure themselves.
    RATE_LIMIT_IP: 'off',
    RATE_LIMIT_UNAUTHENTICATED: 'off',
    RATE_LIMIT_PRINCIPAL: 'off',
    PORT: String(apiPort),
    PUBLIC_BASE_URL: baseUrl,
  };
  const workerMetricsPort = await freePort();
  const cpuProfDir = CPU_PROF ? path.resolve(CPU_PROF) : undefined;
  const procs: Processes = {
    // MALLOC_ARENA_MAX=2: as the product runs its worker (scripts/start.sh, docker-compose.yml).
    worker: startNode('worker', 'worker.ts', { ...env, MALLOC_ARENA_MAX: '2', TEMPORAL_WORKER_METRICS_ADDRESS: `127.0.0.1:${workerMetricsPort}`, ...WORKER_ENV }, { logFile: path.join(LOG_DIR, 'worker.log'), cpuProfDir, ipc: true }),
    api: startNode('api', 'src/server.ts', env, { logFile: path.join(LOG_DIR, 'api.log'), cpuProfDir }),
    bare: startNode('bare-worker', 'bench/bare/worker.ts', env, { logFile: path.join(LOG_DIR, 'bare-worker.log') }),
  };
  const db = createDb(databaseUrl, { max: Math.max(LEDGER_CONCURRENCY, 10) + 2 });
  const connection = await Connection.connect({ address: temporalAddress });
  // The product's payload codec (bare workflows pass through it unencrypted as well: their
  // worker has no codec, so the bare side starts through a client without one).
  const client = new Client({ connection, namespace: 'default' });
  const keys = new DataKeyStore(db, MasterKeys.fromConfig({ PAYLOAD_MASTER_KEY: TEST_PAYLOAD_MASTER_KEY }));
  const productClient = new Client({ connection, namespace: 'default', dataConverter: dataConverter(keys) });
  const output: Record<string, unknown> = {};
  // Ctrl-C / SIGTERM: stop the children and the dev server, drop the database, keep the figures.
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    say('interrupted: stopping the processes; figures so far are in the output file');
    void Promise.all(Object.values(procs).map((p) => p.stop()))
      .then(() => stopTestInfrastructure())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const hasPoller = (taskQueue: string) => async () => {
      const d = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 1 });
      return d.pollers.length > 0;
    };
    await waitFor('the API answers /healthz', async () => (await fetch(`${baseUrl}/healthz`)).ok, procs.api);
    await waitFor('the worker polls its task queue', hasPoller(PRODUCT_QUEUE), procs.worker);
    await waitFor('the bare worker polls its task queue', hasPoller(BARE_QUEUE), procs.bare);
    say('API, worker and bare worker are up');

    const org = await newOrganization(db, 'bench');
    const analyst = await addOperator(db, org.organizationId, 'analyst');
    const settings = await call(baseUrl, 'PATCH', '/v1/settings', {
      token: org.adminToken,
      body: { sessionEndWebhookUrl: `${receiver.url}/session-end`, decisionWebhookUrl: `${receiver.url}/decision` },
    });
    if (settings.status !== 200) throw new Error(`PATCH /v1/settings answered ${settings.status}`);

    // First, while the machine is otherwise idle for this run: it needs no open sessions.
    if (LEDGER_APPENDS > 0) {
      say(`ledger: ${LEDGER_APPENDS} appends in one organization at ${LEDGER_CONCURRENCY}`);
      output.ledger = await ledgerAppendRate(db, LEDGER_APPENDS, LEDGER_CONCURRENCY);
      writeResult(output, cpuProfDir, false);
    }

    const runs = [];
    const bareOpen: string[] = []; // arrival keys of the bare workflows left waiting on their timer
    let openProductSessions = 0;
    let productJourneys = 0;
    /** How far the product journeys got, over all runs (a failed journey stops at its step). */
    const journeysReached = { created: 0, completed: 0, decided: 0, failed: 0 };
    for (const size of SIZES.filter((n) => n > 0)) {
      for (const concurrency of CONCURRENCY) {
        const tag = `${size}x${concurrency}-${randomUUID().slice(0, 8)}`;
        phaseLog = [];
        // A run cut short keeps the phases it finished (throughput = count / seconds).
        onPhaseDone = () => {
          output.runInProgress = { sessions: size, concurrency, phases: phaseLog };
          writeResult(output, cpuProfDir, false);
        };
        const journeys = Math.min(JOURNEYS ?? size, size);
        const bareUrl = `${receiver.url}/bare`;

        say(`${size} sessions at ${concurrency}: bare starts`);
        const startMs: number[] = [];
        const bareStarts = await measuredPhase('bare-starts', procs, () =>
          pool(size, concurrency, async (i) => {
            const t = performance.now();
            await client.workflow.start('bareJourney', { taskQueue: BARE_QUEUE, workflowId: `bare-open-${tag}-${i}`, args: [{ url: bareUrl, id: `open-${tag}-${i}` }] });
            startMs.push(performance.now() - t);
            bareOpen.push(`open-${tag}-${i}`);
          }),
          'bare starts',
        );
        // As for the product below: the bare journeys must not queue behind the first tasks of
        // the workflows just started, so wait until the last one answers the SDK's built-in query.
        const bareDrainStart = performance.now();
        if (bareStarts.processes) {
          await waitFor('the last bare workflow started to answer a query', async () => {
            await client.workflow.getHandle(`bare-open-${tag}-${size - 1}`).query('__stack_trace');
            return true;
          }, procs.bare, 1_800_000);
          await waitFor('the bare task queue backlog to empty', async () => (await workflowBacklog(client, BARE_QUEUE)).count === 0, procs.bare, 1_800_000);
        }
        const bareFirstTasksDrainedSeconds = +((performance.now() - bareDrainStart) / 1000).toFixed(1);
        say(`${size} sessions at ${concurrency}: bare first workflow tasks drained ${bareFirstTasksDrainedSeconds} s after the last start`);

        say(`${size} sessions at ${concurrency}: bare journeys`);
        const bareJourneyMs: number[] = [];
        const bareJourneys = await measuredPhase('bare-journeys', procs, () =>
          pool(journeys, concurrency, async (i) => {
            const t = performance.now();
            const id = `journey-${tag}-${i}`;
            const handle = await client.workflow.start('bareJourney', { taskQueue: BARE_QUEUE, workflowId: `bare-${id}`, args: [{ url: bareUrl, id }] });
            await handle.signal('go');
            await bareArrivals.wait(id);
            bareJourneyMs.push(performance.now() - t);
          }),
          'bare journeys',
        );

        say(`${size} sessions at ${concurrency}: product creates`);
        const createOnlyMs: number[] = [];
        let lastCreated = '';
        const workerMemory: Record<string, unknown> = { beforeCreates: await workerMemoryFigures(procs.worker) };
        const productCreates = await measuredPhase('creates', procs, () =>
          pool(size, concurrency, async (i) => {
            const t = performance.now();
            const res = await callAsCustomer(baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: `open-${tag}-${i}` }, headers: { 'idempotency-key': `open-${tag}-${i}` } });
            if (res.status !== 201) throw new Error(`POST /v1/sessions answered ${res.status}: ${JSON.stringify(res.body)}`);
            createOnlyMs.push(performance.now() - t);
            lastCreated = res.body.id as string;
          }),
          'product creates',
        );
        if (productCreates.processes) openProductSessions += size;
        // A creation answers once its workflow is started; its first task may still wait on the
        // task queue. Journeys measured on top of that backlog measure the backlog (and their
        // openings wait behind it: run 12's 503s, docs/performance.md run 16), so wait until the
        // last session created answers a query and then until the queue's backlog is empty. The
        // first alone is not enough: the task queue does not serve its tasks in order (it is
        // partitioned, and a new task can be matched to a waiting poller ahead of the backlog);
        // run 16 found 557 first tasks, the oldest 3 minutes old, still queued after it passed.
        const drainStart = performance.now();
        let backlogWhenLastAnswered: Awaited<ReturnType<typeof workflowBacklog>> | null = null;
        if (productCreates.processes) {
          await waitFor('the last created session to answer a query', async () => {
            await productClient.workflow.getHandle(sessionWorkflowId(lastCreated)).query(stateQuery);
            return true;
          }, procs.worker, 1_800_000);
          backlogWhenLastAnswered = await workflowBacklog(client, PRODUCT_QUEUE);
          say(`${size} sessions at ${concurrency}: last created session answered ${((performance.now() - drainStart) / 1000).toFixed(1)} s after the last creation; backlog then ${JSON.stringify(backlogWhenLastAnswered)}`);
          await waitFor('the product task queue backlog to empty', async () => (await workflowBacklog(client, PRODUCT_QUEUE)).count === 0, procs.worker, 1_800_000);
        }
        const firstTasksDrainedSeconds = +((performance.now() - drainStart) / 1000).toFixed(1);
        say(`${size} sessions at ${concurrency}: first workflow tasks drained ${firstTasksDrainedSeconds} s after the last creation`);
        if (productCreates.processes) {
          workerMemory.afterCreates = await workerMemoryFigures(procs.worker);
          say(`${size} sessions at ${concurrency}: worker RSS ${JSON.stringify(workerMemory.afterCreates)}; ${REST_SECONDS} s at rest`);
          await new Promise((resolve) => setTimeout(resolve, REST_SECONDS * 1000));
          workerMemory.atRest = { seconds: REST_SECONDS, ...(await workerMemoryFigures(procs.worker)), stickyCache: await stickyCacheFigures(workerMetricsPort) };
          say(`${size} sessions at ${concurrency}: worker at rest ${JSON.stringify(workerMemory.atRest)}`);
          output.workerMemoryInProgress = workerMemory;
          writeResult(output, cpuProfDir, false);
        }

        say(`${size} sessions at ${concurrency}: product journeys (${openProductSessions} sessions already open)`);
        const steps = { create: [] as number[], openLink: [] as number[], analysis: [] as number[], complete: [] as number[], completionToWebhook: [] as number[], decision: [] as number[], decisionToWebhook: [] as number[], journey: [] as number[] };
        // 503 retries per call of each step, the journeys that failed (a step still 503 after
        // PATIENCE_MS, another status, or no webhook), and how far each journey got: the counts
        // below expect only what the journeys that got that far did.
        const retries: Record<'create' | 'openLink' | 'analysis' | 'complete' | 'decision', number[]> = { create: [], openLink: [], analysis: [], complete: [], decision: [] };
        const failed: Record<string, unknown>[] = [];
        const reached = { created: 0, completed: 0, decided: 0, finished: 0 };
        const slowDiagnoses: Record<string, unknown>[] = [];
        const diagnose = async (sessionId: string | null) => ({
          at: new Date().toISOString(),
          session: sessionId === null ? null : await diagnoseWorkflow(productClient, sessionWorkflowId(sessionId), keys),
          sessionRow: sessionId === null ? null : ((await db('sessions').where({ id: sessionId }).first('status', 'created_at', 'started_at')) ?? null),
          worker: await workerTaskFigures(workerMetricsPort),
          workflowTaskBacklog: await workflowBacklog(client, PRODUCT_QUEUE),
          loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
        });
        const product = await measuredPhase('journeys', procs, () =>
          pool(journeys, concurrency, async (i) => {
            const t0 = performance.now();
            let t = t0;
            let sessionId: string | null = null;
            const lap = (into: number[]) => {
              const now = performance.now();
              into.push(now - t);
              t = now;
            };
            // A step that keeps answering 503: what the session's workflow and the worker look
            // like after its 3rd and 10th retry (at most 30 such snapshots per run).
            const slow = (step: string) => async (retry: number) => {
              if ((retry === 3 || retry === 10) && slowDiagnoses.length < 30) {
                slowDiagnoses.push({ journey: i, step, retry, ...(await diagnose(sessionId)) });
                say(`journey ${i}: ${step} answered 503 ${retry} times; diagnosis ${JSON.stringify(slowDiagnoses[slowDiagnoses.length - 1])}`);
              }
            };
            const answered = <R extends { status: number; retried: number; elapsedMs: number; body: any }>(step: keyof typeof retries, res: R, ok: (r: R) => boolean): R => {
              retries[step].push(res.retried);
              if (!ok(res)) throw new StepFailed(step, { status: res.status, retried: res.retried, elapsedMs: res.elapsedMs, body: res.body });
              return res;
            };
            const webhook = (step: string, arrival: Promise<ReceivedRequest>) => arrival.catch((err: Error) => Promise.reject(new StepFailed(step, { error: err.message })));
            try {
              const created = answered('create', await callAsCustomer(baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: `journey-${tag}-${i}` }, headers: { 'idempotency-key': `journey-${tag}-${i}` } }, slow('create')), (r) => r.status === 201);
              lap(steps.create);
              sessionId = created.body.id as string;
              reached.created += 1;
              const link = new URL(created.body.link.url as string).pathname;
              answered('openLink', await callAsCustomer(baseUrl, 'GET', link, {}, slow('openLink')), (r) => r.status === 200);
              lap(steps.openLink);
              const analysis = answered('analysis', await callAsCustomer(baseUrl, 'POST', `/v1/sessions/${sessionId}/analyses`, { token: org.apiKey, body: { kind: 'id', status: 'ai_approved' } }, slow('analysis')), (r) => r.status === 201);
              lap(steps.analysis);
              // A 503 (the API's update deadline passed under load) whose first call went through:
              // the retry's 409 "already completed" is that same completion, as a customer sees it.
              answered('complete', await callAsCustomer(baseUrl, 'POST', `${link}/complete`, {}, slow('complete')), (r) => r.status === 202 || (r.status === 409 && r.retried > 0 && /already completed/.test(String(r.body?.detail))));
              lap(steps.complete);
              reached.completed += 1;
              const sessionEnd = await webhook('completionToWebhook', sessionEnds.wait(sessionId));
              steps.completionToWebhook.push(sessionEnd.at - (performance.timeOrigin + t));
              t = performance.now();
              // The same key on every retry: a decision whose 503 went through anyway is not recorded twice.
              answered('decision', await callAsCustomer(baseUrl, 'POST', `/v1/analyses/${analysis.body.id}/decision`, { token: analyst.token, body: { newStatus: 'user_rejected' }, headers: { 'idempotency-key': `decision-${tag}-${i}` } }, slow('decision')), (r) => r.status === 200);
              lap(steps.decision);
              reached.decided += 1;
              const decision = await webhook('decisionToWebhook', decisions.wait(analysis.body.id as string));
              steps.decisionToWebhook.push(decision.at - (performance.timeOrigin + t));
              steps.journey.push(performance.now() - t0);
              reached.finished += 1;
            } catch (err) {
              if (!(err instanceof StepFailed)) throw err;
              const failure = { journey: i, sessionId, step: err.step, ...err.detail, diagnosis: await diagnose(sessionId) };
              failed.push(failure);
              say(`journey ${i} FAILED at ${err.step}: ${JSON.stringify(failure)}`);
              output.failedJourneysInProgress = failed;
            }
          }),
          'product journeys',
        );
        delete output.failedJourneysInProgress;
        if (product.processes) {
          productJourneys += journeys;
          journeysReached.created += reached.created;
          journeysReached.completed += reached.completed;
          journeysReached.decided += reached.decided;
          journeysReached.failed += failed.length;
        }

        const bareStartsPerSecond = perSecond(size, bareStarts.ms);
        const bareJourneysPerSecond = perSecond(journeys, bareJourneys.ms);
        const productCreatesPerSecond = perSecond(size, productCreates.ms);
        // Journeys that went through every step, per second of the phase (failed ones: `failedJourneys`).
        const productJourneysPerSecond = perSecond(product.processes ? reached.finished : journeys, product.ms);
        const run = {
          sessions: size,
          journeys,
          concurrency,
          throughput: {
            bareStartsPerSecond,
            bareJourneysPerSecond,
            productCreatesPerSecond,
            productJourneysPerSecond,
            journeysProductOverBare: ratio(productJourneysPerSecond, bareJourneysPerSecond),
            createsProductOverBareStarts: ratio(productCreatesPerSecond, bareStartsPerSecond),
          },
          latencyMs: {
            bareStart: percentiles(startMs),
            bareJourney: percentiles(bareJourneyMs),
            productCreateOnly: percentiles(createOnlyMs),
            ...Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, percentiles(v)])),
          },
          seconds: { bareStarts: +(bareStarts.ms / 1000).toFixed(1), bareJourneys: +(bareJourneys.ms / 1000).toFixed(1), productCreates: +(productCreates.ms / 1000).toFixed(1), productJourneys: +(product.ms / 1000).toFixed(1), firstTasksDrainedAfterCreates: firstTasksDrainedSeconds, backlogWhenLastCreatedAnswered: backlogWhenLastAnswered, bareFirstTasksDrainedAfterStarts: bareFirstTasksDrainedSeconds },
          processes: { bareStarts: bareStarts.processes, bareJourneys: bareJourneys.processes, productCreates: productCreates.processes, productJourneys: product.processes },
          openProductSessionsAfter: openProductSessions + productJourneys,
          // Journeys that went through every step; the others, with the step they failed at and
          // what the session's workflow and the worker looked like then.
          journeysFinished: product.processes ? reached.finished : null,
          failedJourneysByStep: failed.reduce<Record<string, number>>((n, f) => ({ ...n, [f.step as string]: (n[f.step as string] ?? 0) + 1 }), {}),
          failedJourneys: failed,
          retries503: Object.fromEntries(Object.entries(retries).map(([k, v]) => [k, retryDistribution(v)])),
          slowStepDiagnoses: slowDiagnoses,
          workerMemory,
        };
        delete output.workerMemoryInProgress;
        runs.push(run);
        output.runs = runs;
        delete output.runInProgress;
        writeResult(output, cpuProfDir, false);
        say(`${size}@${concurrency}: product ${productJourneysPerSecond}/s vs bare ${bareJourneysPerSecond}/s (x${run.throughput.journeysProductOverBare}); creates ${productCreatesPerSecond}/s vs starts ${bareStartsPerSecond}/s (x${run.throughput.createsProductOverBareStarts})`);
      }
    }
    output.runs = runs;

    if (OPEN_DIRECT > 0) {
      say(`opening ${OPEN_DIRECT} more sessions through the domain function at 50`);
      const deps = sessionDeps(db, productClient, PRODUCT_QUEUE, baseUrl);
      const opened = await measured(procs, () => pool(OPEN_DIRECT, 50, () => createSessionAt(deps, org.organizationId, {})), 'open direct');
      openProductSessions += OPEN_DIRECT;
      // Let the first workflow tasks of the last ones finish, then read the worker at rest.
      await new Promise((resolve) => setTimeout(resolve, 15_000));
      output.openDirect = {
        sessions: OPEN_DIRECT,
        seconds: +(opened.ms / 1000).toFixed(1),
        perSecond: perSecond(OPEN_DIRECT, opened.ms),
        processes: opened.processes,
        workerAtRest: { openSessionWorkflows: openProductSessions + productJourneys, rssMb: procStats(procs.worker.child.pid)?.rssMb ?? null, stickyCache: await stickyCacheFigures(workerMetricsPort) },
      };
      writeResult(output, cpuProfDir, false);
    }
    say('counting: sessions, webhooks, ledger');
    output.noLoss = await noLossCounts(db, org.organizationId, receiver, { openSessions: openProductSessions, journeys: productJourneys, ...journeysReached });
    output.workerAfterAllRuns = {
      openSessionWorkflows: openProductSessions + productJourneys,
      ...(await workerMemoryFigures(procs.worker)),
      stickyCache: await stickyCacheFigures(workerMetricsPort),
    };

    output.postgresTables = await tableScans(db);
    writeResult(output, cpuProfDir, false);
    if (REARM_OPEN) {
      say(`retention re-arm of every open session (${openProductSessions + productJourneys}) against a signal to every open bare workflow (${bareOpen.length})`);
      output.retentionRearmOfOpenSessions = await rearmOpenSessions(db, client, baseUrl, org, bareArrivals, bareOpen, CONCURRENCY[0]);
    }
    if (REARM > 0) {
      say(`retention re-arm on ${REARM} open sessions, against bare signal → activity`);
      output.retentionRearm = await retentionRearm(db, client, productClient, baseUrl, receiver.url, bareArrivals, REARM, CONCURRENCY[0]);
    }
  } finally {
    say('stopping');
    await Promise.all(Object.values(procs).map((p) => p.stop()));
    await connection.close();
    await db.destroy();
    await receiver.stop();
    await stopTestInfrastructure();
  }
  const result = writeResult(output, cpuProfDir, true);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`\n${markdown(result)}\n\n`);
  say(`written to ${OUT} (tables again: npx tsx bench/lib/report.ts ${OUT})`);
}

/**
 * `expected.journeys` journeys were started; `created`, `completed`, `decided` of them got past
 * that step (fewer when journeys failed, see the runs' `failedJourneys`). Sessions and their
 * creation events are expected for the journeys that created one, session-end webhooks for
 * those completed, decisions and their webhooks for those decided. A failed step may still
 * have taken effect after its last 503 (an update applied past the API's deadline): that shows
 * as more present than expected, never hidden.
 */
async function noLossCounts(db: Db, organizationId: string, receiver: WebhookReceiver, expected: { openSessions: number; journeys: number; created: number; completed: number; decided: number; failed: number }) {
  // The receiver answers before the attempt is recorded: let the delivery log settle first.
  // A delivery of a session whose workflow is stuck (failed journeys) never settles: counted
  // as still pending after 300 s instead of aborting the count.
  const settled = await waitFor('every delivery settled', async () => {
    const r = await db('webhook_deliveries').where({ organization_id: organizationId, status: 'pending' }).count('* as n').first();
    return Number(r?.n) === 0;
  }, undefined, 300_000).then(() => true, () => false);
  const grouped = async (table: string, column: string) =>
    Object.fromEntries((await db(table).where({ organization_id: organizationId }).select(column).count('* as n').groupBy(column)).map((r) => [r[column], Number(r.n)]));
  const distinctIds = (p: string) => new Set(receiver.forPath(p).map((r) => r.headers['webhook-id'])).size;
  // Chain first (verifyLedger does), then count chained events only: present means in the chain.
  const ledger = await verifyLedger(db, TEST_AUDIT_KEY, organizationId);
  const events = await db('audit_events')
    .where({ organization_id: organizationId })
    .whereNotNull('seq')
    .select('action')
    .count('* as n')
    .countDistinct({ resources: 'resource_id' })
    .groupBy('action');
  const present = Object.fromEntries(events.map((e) => [e.action, Number(e.n)]));
  const sessions = expected.openSessions + expected.created;
  // One event per session created and per analyst decision (a session's analyses are
  // reported by the customer's server and recorded with the session, not audited one by one).
  const expectedEvents: Record<string, number> = {
    'session.create': sessions,
    'analysis.decision': expected.decided,
  };
  const failedJourneys = expected.failed;
  return {
    journeys: { started: expected.journeys, created: expected.created, completed: expected.completed, decided: expected.decided, failed: failedJourneys },
    expectedNote:
      failedJourneys > 0
        ? `${failedJourneys} journeys failed (see failedJourneys): expected counts cover only the steps the journeys got through (sessions ${expected.created} of ${expected.journeys} created, ${expected.completed} completed, ${expected.decided} decided)`
        : 'every journey went through every step',
    deliveriesSettled: settled,
    sessionsByStatus: await grouped('sessions', 'status'),
    deliveriesByStatus: await grouped('webhook_deliveries', 'status'),
    webhooks: {
      sessionEnd: { expected: expected.completed, received: receiver.forPath('/session-end').length, distinctIds: distinctIds('/session-end') },
      decision: { expected: expected.decided, received: receiver.forPath('/decision').length, distinctIds: distinctIds('/decision') },
    },
    ledger: {
      expected: expectedEvents,
      present,
      missing: Object.entries(expectedEvents).reduce((n, [action, want]) => n + Math.max(0, want - (present[action] ?? 0)), 0),
      // An action recorded twice for one resource (these three happen once per resource).
      duplicated: events.filter((e) => e.action in expectedEvents).reduce((n, e) => n + Number(e.n) - Number(e.resources), 0),
      chainValid: ledger.valid,
      checked: ledger.checked,
    },
  };
}

/** Sequential vs index scans per table of the run's database: a hot query without its index shows here. */
async function tableScans(db: Db) {
  const rows = await db('pg_stat_user_tables')
    .select('relname', 'seq_scan', 'seq_tup_read', 'idx_scan', 'n_live_tup')
    .orderBy('seq_tup_read', 'desc')
    .limit(12);
  return rows.map((r) => ({ table: r.relname, seqScans: Number(r.seq_scan), rowsReadBySeqScans: Number(r.seq_tup_read), indexScans: Number(r.idx_scan ?? 0), rows: Number(r.n_live_tup) }));
}

/** The worker's sticky cache counters from its Prometheus endpoint (see worker.ts). */
async function stickyCacheFigures(port: number) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sum = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(name) && !l.startsWith('#'))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const hits = sum('temporal_sticky_cache_hit');
    const misses = sum('temporal_sticky_cache_miss');
    return { hits, misses, hitRate: hits + misses > 0 ? +(hits / (hits + misses)).toFixed(3) : null, cachedWorkflows: sum('temporal_sticky_cache_size'), forcedEvictions: sum('temporal_sticky_cache_total_forced_eviction') };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * Appends straight through the ledger module, `concurrency` at once, one organization, with this
 * process's background sequencer chaining them (as the API and worker do): committed rate, time
 * until all are chained, counts and verification (bench/lib/ledgerRate.ts; alone and A/B against
 * a baseline: bench/ledgerRate.ts).
 */
async function ledgerAppendRate(db: Db, count: number, concurrency: number) {
  const org = await newOrganization(db, 'bench-ledger');
  const sequencer = startLedgerSequencer(db, TEST_AUDIT_KEY, LEDGER_SEQUENCER_OPTIONS);
  return measureLedgerRate(db, {
    append: (d, organizationId, i) => appendAuditEvent(d, TEST_AUDIT_KEY, benchEvent(organizationId, i)),
    settle: async (d, organizationId) => {
      await sequencer.idle();
      await chainPending(d, TEST_AUDIT_KEY, organizationId);
    },
    verify: (d, organizationId) => verifyLedger(d, TEST_AUDIT_KEY, organizationId),
  }, org.organizationId, count, concurrency);
}

/**
 * Shortens the bench organization's retention to 1 minute: every session the runs left open
 * that is older than that is overdue at once. Time until all of those are purged, against the
 * time for one signal to each open bare workflow to reach its activity's POST.
 */
async function rearmOpenSessions(db: Db, client: Client, baseUrl: string, org: { organizationId: string; adminToken: string }, bareArrivals: Arrivals, bareOpen: string[], concurrency: number) {
  const patchedAt = new Date();
  const overdue = () => db('sessions').where({ organization_id: org.organizationId }).where('created_at', '<', new Date(patchedAt.getTime() - MIN_MS));
  const [{ n: overdueCount }] = await overdue().clone().count('* as n');
  const started = performance.now();
  const res = await call(baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention: '1m' } });
  if (res.status !== 200) throw new Error(`PATCH dataRetention answered ${res.status}: ${JSON.stringify(res.body)}`);
  const patchMs = performance.now() - started;
  let firstPurgeMs: number | null = null;
  await waitFor('every overdue session purged', async () => {
    const [{ n }] = await overdue().clone().whereNot({ status: 'purged' }).count('* as n');
    if (firstPurgeMs === null && Number(n) < Number(overdueCount)) firstPurgeMs = performance.now() - started;
    return Number(n) === 0;
  }, undefined, 3_600_000);
  const allPurgedMs = performance.now() - started;
  const [{ n: purgeEvents }] = await db('audit_events').where({ organization_id: org.organizationId, action: 'session.purge' }).count('* as n');
  const ledger = await verifyLedger(db, TEST_AUDIT_KEY, org.organizationId);

  const bareStarted = performance.now();
  await pool(bareOpen.length, concurrency, async (i) => {
    await client.workflow.getHandle(`bare-${bareOpen[i]}`).signal('go');
  });
  await Promise.all(bareOpen.map((key) => bareArrivals.wait(key)));
  const bareMs = performance.now() - bareStarted;
  const purgesPerSecond = perSecond(Number(overdueCount), allPurgedMs);
  const bareSignalToActivityPerSecond = perSecond(bareOpen.length, bareMs);
  return {
    overdueSessions: Number(overdueCount),
    patchMs: Math.round(patchMs),
    firstPurgeSeconds: firstPurgeMs === null ? null : +((firstPurgeMs as number) / 1000).toFixed(1),
    allPurgedSeconds: +(allPurgedMs / 1000).toFixed(1),
    purgesPerSecond,
    bareWorkflowsSignalled: bareOpen.length,
    bareSignalToActivitySeconds: +(bareMs / 1000).toFixed(1),
    bareSignalToActivityPerSecond,
    productOverBare: ratio(purgesPerSecond, bareSignalToActivityPerSecond),
    purgeEvents: Number(purgeEvents),
    chainValid: ledger.valid,
  };
}

/**
 * N sessions created 10 minutes ago with 1d retention, then PATCH to 5m: time until all are
 * purged. The bare counterpart: N open bare workflows, one signal each, until every activity's
 * POST arrived.
 */
async function retentionRearm(db: Db, client: Client, productClient: Client, baseUrl: string, receiverUrl: string, bareArrivals: Arrivals, count: number, concurrency: number) {
  const org = await newOrganization(db, 'bench-rearm');
  const patch = async (dataRetention: string) => {
    const res = await call(baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { dataRetention } });
    if (res.status !== 200) throw new Error(`PATCH dataRetention answered ${res.status}: ${JSON.stringify(res.body)}`);
  };
  await patch('1d');
  const deps = sessionDeps(db, productClient, PRODUCT_QUEUE, baseUrl);
  const tenMinutesAgo = new Date(Date.now() - 10 * MIN_MS);
  await pool(count, concurrency, () => createSessionAt(deps, org.organizationId, {}, tenMinutesAgo));
  const purged = async () => Number((await db('sessions').where({ organization_id: org.organizationId, status: 'purged' }).count('* as n'))[0].n);
  const started = performance.now();
  await patch('5m');
  const patchMs = performance.now() - started;
  await waitFor('every overdue session purged', async () => (await purged()) === count, undefined, 3_600_000);
  const allPurgedMs = performance.now() - started;
  const [{ n: purgeEvents }] = await db('audit_events').where({ organization_id: org.organizationId, action: 'session.purge' }).count('* as n');
  const ledger = await verifyLedger(db, TEST_AUDIT_KEY, org.organizationId);

  const tag = randomUUID().slice(0, 8);
  const handles = await pool(count, concurrency, (i) =>
    client.workflow.start('bareJourney', { taskQueue: BARE_QUEUE, workflowId: `bare-rearm-${tag}-${i}`, args: [{ url: `${receiverUrl}/bare`, id: `rearm-${tag}-${i}` }] }),
  );
  const bareStarted = performance.now();
  await pool(count, concurrency, (i) => handles[i].signal('go'));
  await Promise.all(handles.map((_, i) => bareArrivals.wait(`rearm-${tag}-${i}`)));
  const bareMs = performance.now() - bareStarted;
  return {
    sessions: count,
    patchMs: Math.round(patchMs),
    allPurgedSeconds: +(allPurgedMs / 1000).toFixed(1),
    purgesPerSecond: perSecond(count, allPurgedMs),
    bareSignalToActivityPerSecond: perSecond(count, bareMs),
    productOverBare: ratio(perSecond(count, allPurgedMs), perSecond(count, bareMs)),
    purged: await purged(),
    purgeEvents: Number(purgeEvents),
    chainValid: ledger.valid,
  };
}

function machine() {
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), loadAverage: os.loadavg().map((l) => +l.toFixed(2)), node: process.version };
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
