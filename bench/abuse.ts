// `npm run bench:abuse`: what unauthenticated uploads cost the API (issue 12). The API runs as
// its own process (src/server.ts); this process is the attacker and the honest client, on
// loopback:
//   - idle: the API's RSS after a warm-up;
//   - 200 concurrent unauthenticated 10 MB document uploads with random link tokens;
//   - meanwhile an authenticated client reading GET /v1/sessions/:id in a loop: its p99;
//   - the API's peak RSS during the flood, against idle.
// Bounded in count and time; prints one JSON object and never fails a build. The readers run
// in a third process (bench/abuseReader.mjs). Rate limits are
// raised for the run (each upload would otherwise be a 429 even sooner): this measures the
// token-first rejection itself. Flags: --uploads N (200), --mb N (10), --readers N (4),
// --legacy-tokens, --default-limits, --cpu-prof DIR.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createDb } from '../src/db/knex';
import globalSetup, { stopTestInfrastructure } from '../test/support/globalSetup';
import { call, newOrganization, TEST_AUDIT_KEY, TEST_PAYLOAD_MASTER_KEY, TEST_SIGNING_KEY } from '../test/support/system';
import { freePort, procStats, startNode, waitFor } from './lib/processes';
import { flag, percentiles } from './lib/stats';

const argv = process.argv.slice(2);
const UPLOADS = Number(flag(argv, 'uploads') ?? 200);
const MB = Number(flag(argv, 'mb') ?? 10);
const READERS = Number(flag(argv, 'readers') ?? 4);
/** --default-limits: keep the shipped rate limits (most uploads then get a 429 even sooner). */
const DEFAULT_LIMITS = argv.includes('--default-limits');
/** --cpu-prof DIR: the API writes a V8 CPU profile there (summarize with bench/profileSummary.ts). */
const CPU_PROF_DIR = flag(argv, 'cpu-prof');
/**
 * Forged tokens have the shape of today's links (65 characters, random where the MAC goes);
 * --legacy-tokens sends the 43 characters of links issued before MACs, which still reach the
 * database lookup while JOURNEY_LEGACY_LINKS is on (docs/security.md, "Link tokens").
 */
const LEGACY_TOKENS = argv.includes('--legacy-tokens');
const forgedToken = () => randomBytes(32).toString('base64url') + (LEGACY_TOKENS ? '' : randomBytes(16).toString('base64url'));
const LOG_DIR = path.resolve('test-results', 'bench-abuse');
const say = (m: string) => process.stderr.write(`[bench:abuse] ${m}\n`);

/** One unauthenticated upload: the whole body is offered; the answer may come before it is sent. */
function attack(baseUrl: string, body: Buffer): Promise<{ status: number | 'error' }> {
  const url = new URL(`${baseUrl}/v1/journey/${forgedToken()}/documents`);
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number | 'error') => {
      if (!settled) {
        settled = true;
        resolve({ status });
      }
    };
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(res.statusCode ?? 'error'));
      },
    );
    req.on('error', () => done('error'));
    req.end(body);
  });
}

/** Bytes through the loopback interface since boot (every process's, CI runs included). */
function loopbackBytes(): number {
  const line = fs.readFileSync('/proc/net/dev', 'utf8').split('\n').find((l) => l.trim().startsWith('lo:'));
  return line ? Number(line.split(':')[1].trim().split(/\s+/)[0]) : NaN;
}

/** Busy and total jiffies of all cores since boot (/proc/stat), to see what the machine was doing. */
function machineCpu(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + fields[4]; // idle + iowait
  return { busy: total - idle, total };
}

async function main(): Promise<void> {
  say('starting a Temporal dev server and a fresh database…');
  await globalSetup();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const api = startNode(
    'api',
    'src/server.ts',
    {
      DATABASE_URL: process.env.DATABASE_URL!,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: 'bench-abuse',
      AUDIT_HMAC_KEY: TEST_AUDIT_KEY,
      AUDIT_SIGNING_KEY: TEST_SIGNING_KEY,
      PAYLOAD_MASTER_KEY: TEST_PAYLOAD_MASTER_KEY,
      PORT: String(port),
      PUBLIC_BASE_URL: baseUrl,
      LOG_LEVEL: 'warn',
      ...(DEFAULT_LIMITS ? {} : { RATE_LIMIT_IP: '1000000/1m', RATE_LIMIT_UNAUTHENTICATED: '1000000/1m' }),
      RATE_LIMIT_PRINCIPAL: '1000000/1m', // the honest reader
    },
    { logFile: path.join(LOG_DIR, 'api.log'), cpuProfDir: CPU_PROF_DIR ? path.resolve(CPU_PROF_DIR) : undefined },
  );
  const db = createDb(process.env.DATABASE_URL!);
  try {
    await waitFor('the API answers /healthz', async () => (await fetch(`${baseUrl}/healthz`)).ok, api);
    const org = await newOrganization(db, 'bench-abuse');
    const created = await call(baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
    if (created.status !== 201) throw new Error(`POST /v1/sessions answered ${created.status}`);
    const sessionPath = `/v1/sessions/${created.body.id}`;
    const read = async () => {
      const t = performance.now();
      const res = await call(baseUrl, 'GET', sessionPath, { token: org.apiKey });
      if (res.status !== 200) throw new Error(`GET ${sessionPath} answered ${res.status}`);
      return performance.now() - t;
    };
    for (let i = 0; i < 200; i += 1) await read(); // warm-up
    const idleLatencies: number[] = [];
    for (let i = 0; i < 200; i += 1) idleLatencies.push(await read());
    const idle = procStats(api.child.pid);
    api.sampler.read(); // reset the peak

    // A valid JSON document body of MB megabytes (base64 content).
    const content = randomBytes(Math.floor((MB * 2 ** 20 * 3) / 4) - 200).toString('base64');
    const body = Buffer.from(JSON.stringify({ type: 'passport', fileName: 'x.jpg', contentType: 'image/jpeg', contentBase64: content }));
    say(`${UPLOADS} concurrent unauthenticated ${(body.length / 2 ** 20).toFixed(1)} MB uploads, ${READERS} authenticated readers meanwhile`);

    // The readers run in a third process (bench/abuseReader.mjs): they measure the API, not
    // this process's event loop busy writing 2 GB.
    const reader = spawn(process.execPath, [path.join(__dirname, 'abuseReader.mjs'), `${baseUrl}${sessionPath}`, org.apiKey, String(READERS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let readerOut = '';
    reader.stdout.on('data', (d) => (readerOut += d));
    const readerDone = new Promise<void>((resolve) => reader.on('exit', () => resolve()));
    for (let i = 0; i < 20; i += 1) await read(); // let the reader get going
    const attackerCpu = process.cpuUsage();
    const machineBefore = machineCpu();
    const loBefore = loopbackBytes();
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: UPLOADS }, () => attack(baseUrl, body)));
    const floodMs = performance.now() - started;
    const attackerCpuUsed = process.cpuUsage(attackerCpu);
    const machineAfter = machineCpu();
    const loAfter = loopbackBytes();
    reader.stdin.end();
    await readerDone;
    const during: number[] = JSON.parse(readerOut || '[]');
    const peak = api.sampler.read();
    const after = procStats(api.child.pid);

    const statuses: Record<string, number> = {};
    for (const r of results) statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
    const report = {
      rateLimits: DEFAULT_LIMITS ? 'shipped defaults' : 'raised for uploads',
      uploads: UPLOADS,
      uploadMb: +(body.length / 2 ** 20).toFixed(1),
      floodSeconds: +(floodMs / 1000).toFixed(1),
      uploadAnswers: statuses,
      apiCpuSecondsDuringFlood: idle && after ? +(after.cpuSeconds - idle.cpuSeconds).toFixed(2) : null,
      attackerCpuSeconds: +((attackerCpuUsed.user + attackerCpuUsed.system) / 1e6).toFixed(2),
      // Every process on the machine (CI runs included): busy core-seconds of the flood's wall time.
      machineBusyCoreSeconds: +((machineAfter.busy - machineBefore.busy) / 100).toFixed(1),
      machineCoreSeconds: +((machineAfter.total - machineBefore.total) / 100).toFixed(1),
      loopbackMbDuringFlood: Math.round((loAfter - loBefore) / 2 ** 20),
      apiRssMb: { idle: idle?.rssMb ?? null, peakDuringFlood: peak?.peakRssMb ?? null, growth: idle && peak ? peak.peakRssMb - idle.rssMb : null },
      getSessionMs: { idle: percentiles(idleLatencies), duringFlood: percentiles(during) },
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await api.stop();
    await db.destroy();
    await stopTestInfrastructure();
  }
}

main().catch((err) => {
  process.stderr.write(`bench:abuse failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
