// The ledger phase of the benchmark alone (bench/run.ts's ledgerAppendRate), quickly: appends
// straight through the ledger module in one organization, `--concurrency` at a time, on a fresh
// database of its own. Reports appends/s committed, the time until all are chained, latency
// p50/p99, chain valid, missing and duplicated.
//
//   npx tsx bench/ledgerRate.ts --appends 5000 --concurrency 20 --rounds 3
//   npx tsx bench/ledgerRate.ts --appends 5000 --rounds 3 --baseline /work/main/src/audit/ledger.ts
//
// --baseline names the ledger.ts of the previous design (chaining inside the caller's
// transaction, any checkout's src/audit/ledger.ts): it runs on a second fresh database with
// the schema before migration 013, and the rounds alternate baseline / this code, so both are
// measured in the same minutes. Needs PostgreSQL (TEST_DATABASE_ADMIN_URL, default
// postgres://postgres@127.0.0.1:5432/postgres). Prints figures; never fails on them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { Client } from 'pg';
import { chainPending, LEDGER_SEQUENCER_OPTIONS, startLedgerSequencer, stopLedgerSequencer, verifyLedger, appendAuditEvent } from '../src/audit/ledger';
import { createDb, type Db } from '../src/db/knex';
import { migrationSource } from '../src/db/migrations';
import { newOrganization, TEST_AUDIT_KEY } from '../test/support/system';
import { benchEvent, measureLedgerRate, type LedgerRate, type LedgerUnderTest } from './lib/ledgerRate';
import { flag, numberList } from './lib/stats';

const argv = process.argv.slice(2);
const APPENDS = numberList(argv, 'appends', [5000])[0];
const CONCURRENCY = numberList(argv, 'concurrency', [20])[0];
const ROUNDS = numberList(argv, 'rounds', [1])[0];
const BASELINE = flag(argv, 'baseline');
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const OUT = flag(argv, 'out') ?? path.join('bench-results', `ledger-rate-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);

async function freshDatabase(name: string, source: Knex.MigrationSource<string>): Promise<{ db: Db; drop: () => Promise<void> }> {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { max: CONCURRENCY + 4 });
  await db.migrate.latest({ migrationSource: source });
  return {
    db,
    drop: async () => {
      await stopLedgerSequencer(db);
      await db.destroy();
      const a = new Client({ connectionString: ADMIN_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

/** The schema before migration 013 (the baseline's): the same list without the sequencer's migration. */
const before013: Knex.MigrationSource<string> = {
  ...migrationSource,
  getMigrations: async (loadExtensions) => (await migrationSource.getMigrations(loadExtensions)).filter((m) => m < '013'),
};

/** This code: appends commit unchained; the process's background sequencer chains them. */
function sequenced(db: Db): LedgerUnderTest {
  const sequencer = startLedgerSequencer(db, TEST_AUDIT_KEY, LEDGER_SEQUENCER_OPTIONS);
  return {
    append: (d, org, i) => appendAuditEvent(d, TEST_AUDIT_KEY, benchEvent(org, i)),
    settle: async (d, org) => {
      await sequencer.idle();
      await chainPending(d, TEST_AUDIT_KEY, org); // normally 0: the sequencer was woken by the last commit
    },
    verify: (d, org) => verifyLedger(d, TEST_AUDIT_KEY, org),
  };
}

interface OldLedgerModule {
  appendAuditEvent(db: Knex, key: string, input: ReturnType<typeof benchEvent>): Promise<unknown>;
  verifyLedger(db: Knex, key: string, org: string): Promise<{ valid: boolean; checked: number }>;
}

function baseline(mod: OldLedgerModule): LedgerUnderTest {
  return {
    append: (d, org, i) => mod.appendAuditEvent(d, TEST_AUDIT_KEY, benchEvent(org, i)),
    settle: async () => undefined, // each append chained in its own transaction
    verify: (d, org) => mod.verifyLedger(d, TEST_AUDIT_KEY, org),
  };
}

const line = (label: string, r: LedgerRate) =>
  `${label.padEnd(9)} ${String(r.appendsPerSecond).padStart(8)}/s committed  all chained ${String(r.allChainedMs).padStart(6)} ms (${r.chainedPerSecond}/s)  ` +
  `p50 ${r.latencyMs.p50} ms p99 ${r.latencyMs.p99} ms  valid ${r.chainValid} (${r.chainChecked})  missing ${r.missing} duplicated ${r.duplicated} unchained ${r.unchained}`;

async function main(): Promise<void> {
  const stamp = `${Date.now()}_${process.pid}`;
  const mine = await freshDatabase(`kyc_bench_ledger_${stamp}`, migrationSource);
  const old = BASELINE ? await freshDatabase(`kyc_bench_ledger_base_${stamp}`, before013) : undefined;
  const oldLedger = BASELINE ? baseline((await import(path.resolve(BASELINE))) as OldLedgerModule) : undefined;
  const results: { round: number; code: string; result: LedgerRate }[] = [];
  const startedAt = new Date().toISOString();
  console.log(`ledger rate: ${APPENDS} appends x ${ROUNDS} round(s), concurrency ${CONCURRENCY}, ${startedAt}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  try {
    const ledger = sequenced(mine.db);
    for (let round = 1; round <= ROUNDS; round++) {
      const runs: [string, Db, LedgerUnderTest][] = [];
      if (old && oldLedger) runs.push(['baseline', old.db, oldLedger]);
      runs.push(['sequencer', mine.db, ledger]);
      // Alternate which goes first, so neither always runs on the warmer machine.
      if (round % 2 === 0) runs.reverse();
      for (const [code, db, l] of runs) {
        const org = await newOrganization(db, `bench-ledger-${round}`);
        const result = await measureLedgerRate(db, l, org.organizationId, APPENDS, CONCURRENCY);
        results.push({ round, code, result });
        console.log(`round ${round} ${line(code, result)}`);
      }
    }
  } finally {
    await mine.drop();
    await old?.drop();
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), loadavg: os.loadavg(), appends: APPENDS, concurrency: CONCURRENCY, baseline: BASELINE ?? null, results }, null, 2));
  console.log(`written to ${OUT}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
