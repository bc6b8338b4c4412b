// The API process of bench/auditExport.ts: the real express app on an ephemeral port, reporting
// its own memory over IPC so the benchmark measures the server alone (not the client).
// The ledger routes never touch Temporal, so the Temporal connection is lazy (never opened).
import { dataConverter } from '../src/payloads/dataConverter';
import { DataKeyStore, MasterKeys } from '../src/payloads/keyStore';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../src/api/app';
import { parseConfig } from '../src/config';
import { createDb } from '../src/db/knex';

const SAMPLE_MS = 20;

async function main(): Promise<void> {
  const config = parseConfig({ ...process.env, PORT: '0', LOG_LEVEL: 'silent' });
  process.env.LOG_LEVEL = 'silent';
  const db = createDb(config.DATABASE_URL);
  const keys = new DataKeyStore(db, MasterKeys.fromConfig(config));
  const temporal = new Client({ connection: Connection.lazy({ address: config.TEMPORAL_ADDRESS }), dataConverter: dataConverter(keys) });
  const server = createApp({ config, db, temporal, keys }).listen(0, '127.0.0.1', () => {
    process.send!({ type: 'listening', port: (server.address() as AddressInfo).port });
  });
  // Between chunks of a busy export the event loop still turns, so the timer keeps sampling.
  const sampler = setInterval(() => {
    if (!process.connected) return;
    const { rss, heapUsed } = process.memoryUsage();
    // With a callback, a send racing the parent's disconnect fails quietly instead of crashing.
    process.send!({ type: 'memory', rss, heapUsed }, undefined, {}, () => undefined);
  }, SAMPLE_MS);
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      const { rss, heapUsed } = process.memoryUsage();
      process.send!({ type: 'gc-done', rss, heapUsed });
    }
  });
  process.on('disconnect', () => {
    clearInterval(sampler);
    server.close();
    void db.destroy().then(() => process.exit(0));
  });
}

main().catch((err) => {
  process.stderr.write(`bench api failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
