// Bootstrap without HTTP: `npm run --silent admin -- create-org --name NAME --admin-email EMAIL`
// prints {"organizationId","apiKey","adminToken"} as one JSON line.
import { embeddedDatabaseUrl } from '../db/defaultUrl';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfigOrExit } from '../config';
import { createDb } from '../db/knex';
import { correlationIdHash } from '../domain/correlationIdHash';
import { DataKeyStore, MasterKeys } from '../payloads/keyStore';
import { createOrganization } from '../orgs/organizations';
import { rewrapWebhookSecrets } from '../settings/settings';
import fs from 'node:fs';
import path from 'node:path';

const usage = [
  'usage: admin create-org --name NAME --admin-email EMAIL',
  '       admin correlation-id-hash --org ORGANIZATION_ID --value CORRELATION_ID   (the CorrelationId search attribute to filter on)',
  '       admin rewrap-data-keys   (after a master key rotation: PAYLOAD_MASTER_KEY new, PAYLOAD_MASTER_KEY_PREVIOUS old)',
].join('\n');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'correlation-id-hash') return correlationIdHashCommand(rest);
  if (command === 'rewrap-data-keys') return rewrapDataKeys();
  if (command !== 'create-org') {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: { name: { type: 'string' }, 'admin-email': { type: 'string' } } });
  const parsed = z
    .object({ name: z.string().trim().min(1).max(200), 'admin-email': z.email() })
    .safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`${parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; ')}\n${usage}\n`);
    return 2;
  }
  const db = createDb(process.env.DATABASE_URL || embeddedDatabaseUrl(), { max: 1 });
  try {
    const org = await createOrganization(db, localMasterKeys(), { name: parsed.data.name, adminEmail: parsed.data['admin-email'] });
    process.stdout.write(`${JSON.stringify({ organizationId: org.organizationId, apiKey: org.apiKey, adminToken: org.adminToken })}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}

function correlationIdHashCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: { org: { type: 'string' }, value: { type: 'string' } } });
  const key = process.env.AUDIT_HMAC_KEY;
  if (!values.org || !values.value || !key) {
    process.stderr.write(`--org and --value are required, and AUDIT_HMAC_KEY in the environment\n${usage}\n`);
    return 2;
  }
  process.stdout.write(`${correlationIdHash(key, values.org, values.value)}\n`);
  return 0;
}

/**
 * The master key that seals the new organization's signing secret: PAYLOAD_MASTER_KEY, else
 * the local one `npm start` generated in DATA_DIR (the README's second shell has no env).
 */
function localMasterKeys(): MasterKeys {
  const fromEnv = process.env.PAYLOAD_MASTER_KEY;
  const file = path.join(process.env.DATA_DIR || '.data', 'payload-master.key');
  const hex = fromEnv || (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '');
  if (!hex) throw new Error(`PAYLOAD_MASTER_KEY is not set and ${file} does not exist: the signing secret cannot be sealed`);
  return new MasterKeys(hex);
}

async function rewrapDataKeys(): Promise<number> {
  const config = loadConfigOrExit();
  const db = createDb(config.DATABASE_URL, { max: 1 });
  try {
    const master = MasterKeys.fromConfig(config);
    const rewrapped = await new DataKeyStore(db, master).rewrapAll();
    // The webhook signing secrets are sealed under the same master key.
    const rewrappedWebhookSecrets = await rewrapWebhookSecrets(db, master);
    process.stdout.write(`${JSON.stringify({ rewrapped, rewrappedWebhookSecrets })}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`admin failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
