// Benchmark: exporting the audit ledger streams in constant memory (SPEC §11: measured by a
// command, not by timed tests).
//
//   npx tsx bench/auditExport.ts [--events 10000,100000] [--format ndjson|csv] [--pause-ms 0] [--keep]
//
// For each size: a fresh organization gets that many events, bulk-inserted with a correct hash
// chain (computed here with the ledger's own auditEventHash/hashedBody); then the API, in a
// child process of its own, exports them over HTTP while it reports its memory every 20 ms.
// Prints one JSON line per size: {events, lines, bytes, seconds, rssStartMb, rssPeakMb, heapPeakMb, ...}.
// --pause-ms N: a slow client that stops reading for N ms after the first chunk; without
// backpressure the server would buffer the rest of the export in memory meanwhile.
// The database is a fresh one (BENCH_DATABASE_URL, default kyc_bench_audit_<pid> on the local
// server), dropped at the end unless --keep.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { hashedBody, type AuditEventRow } from '../src/audit/ledger';
import { auditEventHash, GENESIS_HASH } from '../src/domain/auditChain';
import { createDb, type Db } from '../src/db/knex';
import { dropDatabase, prepareDatabase } from '../src/db/migrate';
import { createOrganization } from '../src/orgs/organizations';
import { MasterKeys } from '../src/payloads/keyStore';

const HMAC_KEY = 'bench-audit-key-0123456789abcdef0123456789abcdef';
// Seals the bench organization's signing secret; its own throwaway database.
const BENCH_MASTER_KEY = 'be'.repeat(32);
const INSERT_BATCH = 2000; // 18 columns a row: well under PostgreSQL's 65535 bind parameters
const MB = 1024 * 1024;

function args() {
  const argv = process.argv.slice(2);
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sizes = (get('events') ?? '10000,100000').split(',').map(Number);
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new Error('--events: comma-separated positive integers');
  const format = get('format') ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'csv') throw new Error('--format: ndjson or csv');
  const pauseMs = Number(get('pause-ms') ?? 0);
  if (!Number.isSafeInteger(pauseMs) || pauseMs < 0) throw new Error('--pause-ms: a non-negative integer');
  return { sizes, format, pauseMs, keep: argv.includes('--keep') };
}

/** `count` events chained from the genesis hash, inserted a batch at a time; the head row updated last. */
async function seedLedger(db: Db, organizationId: string, count: number): Promise<void> {
  const actions = [
    ['session.create', 'creation', 'session'],
    ['analysis.decision', 'decision', 'analysis'],
    ['settings.update', 'modification', 'settings'],
    ['document.read', 'access', 'document'],
    ['session.purge', 'deletion', 'session'],
  ] as const;
  let prevHash = GENESIS_HASH;
  const t0 = Date.now() - count;
  for (let start = 1; start <= count; start += INSERT_BATCH) {
    const batch: Record<string, unknown>[] = [];
    for (let seq = start; seq < start + INSERT_BATCH && seq <= count; seq++) {
      const [action, category, resourceType] = actions[seq % actions.length];
      const row: AuditEventRow = {
        id: crypto.randomUUID(),
        organization_id: organizationId,
        seq,
        occurred_at: new Date(t0 + seq),
        actor_type: 'operator',
        actor_id: '6f1c1a52-2f8e-4f5e-9a57-0f8a4d7e2b11',
        actor_label: 'analyst@example.com',
        action,
        category,
        resource_type: resourceType,
        resource_id: crypto.randomUUID(),
        changes: { before: { status: 'verify' }, after: { status: 'user_approved', note: `bench event ${seq}, "quoted"` } },
        outcome: 'success',
        request_id: crypto.randomUUID(),
        ip: '203.0.113.7',
        user_agent: 'bench/1.0 (audit export)',
        idempotency_key: null,
        prev_hash: prevHash,
        hash: '',
      };
      row.hash = auditEventHash(HMAC_KEY, prevHash, hashedBody(row));
      prevHash = row.hash;
      batch.push({ ...row, changes: JSON.stringify(row.changes) });
    }
    await db('audit_events').insert(batch);
  }
  await db('audit_heads').insert({ organization_id: organizationId, seq: count, hash: prevHash });
}

interface Sample {
  rss: number;
  heapUsed: number;
}

async function startApi(databaseUrl: string): Promise<{ child: ChildProcess; port: number; samples: Sample[] }> {
  const child = fork(path.join(__dirname, 'auditExportApi.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { PAYLOAD_MASTER_KEY: '00'.repeat(32), ...process.env, DATABASE_URL: databaseUrl, AUDIT_HMAC_KEY: HMAC_KEY },
  });
  const samples: Sample[] = [];
  child.on('message', (msg: { type: string } & Sample) => {
    if (msg.type === 'memory') samples.push({ rss: msg.rss, heapUsed: msg.heapUsed });
  });
  const [msg] = (await once(child, 'message')) as [{ type: string; port: number }];
  if (msg.type !== 'listening') throw new Error(`unexpected message from the API: ${JSON.stringify(msg)}`);
  return { child, port: msg.port, samples };
}

/**
 * Linux: the kernel's own record of the process's peak RSS (VmHWM), reset first by writing 5 to
 * clear_refs, so the peak between two timer samples is not missed. null elsewhere.
 */
const peakRss = {
  reset(pid: number): boolean {
    try {
      fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
      return true;
    } catch {
      return false;
    }
  },
  read(pid: number): number | null {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  },
};

async function gcAndMeasure(child: ChildProcess): Promise<Sample> {
  child.send({ type: 'gc' });
  for (;;) {
    const [msg] = (await once(child, 'message')) as [{ type: string } & Sample];
    if (msg.type === 'gc-done') return msg;
  }
}

async function runOnce(databaseUrl: string, db: Db, events: number, format: string, pauseMs: number) {
  const org = await createOrganization(db, new MasterKeys(BENCH_MASTER_KEY), { name: `bench ${events}`, adminEmail: `bench-${events}@example.com` });
  await seedLedger(db, org.organizationId, events);

  const api = await startApi(databaseUrl);
  try {
    const start = await gcAndMeasure(api.child);
    const hwm = peakRss.reset(api.child.pid!);
    api.samples.length = 0;
    const t0 = process.hrtime.bigint();
    const res = await fetch(`http://127.0.0.1:${api.port}/v1/audit-events/export?format=${format}`, {
      headers: { authorization: `Bearer ${org.adminToken}` },
    });
    if (res.status !== 200 || !res.body) throw new Error(`export answered ${res.status}: ${await res.text()}`);
    // Read as it arrives: count bytes and lines, keep nothing.
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (bytes === 0 && pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      bytes += chunk.byteLength;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const kernelPeak = hwm ? peakRss.read(api.child.pid!) : null;
    const during = api.samples.length ? api.samples : [start];
    const expectedLines = events + 1 + (format === 'csv' ? 1 : 0); // + the audit.export event (+ CSV header)
    return {
      events,
      format,
      pauseMs,
      lines,
      complete: lines === expectedLines,
      bytes,
      seconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(events / seconds),
      rssStartMb: Number((start.rss / MB).toFixed(1)),
      rssPeakMb: Number((Math.max(kernelPeak ?? 0, ...during.map((s) => s.rss)) / MB).toFixed(1)),
      rssPeakSource: kernelPeak === null ? 'samples' : 'VmHWM',
      heapStartMb: Number((start.heapUsed / MB).toFixed(1)),
      heapPeakMb: Number((Math.max(...during.map((s) => s.heapUsed)) / MB).toFixed(1)),
      samples: during.length,
    };
  } finally {
    api.child.disconnect();
    await once(api.child, 'exit');
  }
}

async function main(): Promise<void> {
  const { sizes, format, pauseMs, keep } = args();
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/kyc_bench_audit_${process.pid}`;
  await prepareDatabase(databaseUrl);
  const db = createDb(databaseUrl);
  try {
    for (const events of sizes) {
      process.stdout.write(`${JSON.stringify(await runOnce(databaseUrl, db, events, format, pauseMs))}\n`);
    }
  } finally {
    await db.destroy();
    if (!keep && !process.env.BENCH_DATABASE_URL) await dropDatabase(databaseUrl);
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
