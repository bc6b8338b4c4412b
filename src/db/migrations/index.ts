import type { Knex } from 'knex';
import * as m001 from './001_walking_skeleton';
import * as m002 from './002_audit_ledger';
import * as m003 from './003_webhook_delivery_log';
import * as m004 from './004_decisions_and_retention';
import * as m005 from './005_retention_rearm';
import * as m007 from './007_pending_creation_and_reconciler';
import * as m008 from './008_payload_keys';
import * as m008b from './008b_idempotency_sweep';
import * as m010 from './010_ledger_insider';
import * as m010a from './010a_checkpoint_webhooks';
import * as m012 from './012_webhook_secrets_sealed';
import * as m013 from './013_ledger_sequencer';

// An explicit list instead of a directory scan: works the same under tsx, jest and bundlers.
// Append new migrations; never edit one that has landed.
const migrations: Record<string, Knex.Migration> = {
  '001_walking_skeleton': m001,
  '002_audit_ledger': m002,
  '003_webhook_delivery_log': m003,
  '004_decisions_and_retention': m004,
  '005_retention_rearm': m005,
  '007_pending_creation_and_reconciler': m007,
  '008_payload_keys': m008,
  '008b_idempotency_sweep': m008b,
  '010_ledger_insider': m010,
  '010a_checkpoint_webhooks': m010a,
  '012_webhook_secrets_sealed': m012,
  '013_ledger_sequencer': m013,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
};
