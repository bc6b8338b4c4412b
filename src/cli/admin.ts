// Bootstrap without HTTP: `npm run --silent admin -- create-org --name NAME --admin-email EMAIL`
// prints {"organizationId","apiKey","adminToken"} as one JSON line.
import { embeddedDatabaseUrl } from '../db/defaultUrl';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createDb } from '../db/knex';
import { createOrganization } from '../orgs/organizations';

const usage = 'usage: admin create-org --name NAME --admin-email EMAIL';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
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
    const org = await createOrganization(db, { name: parsed.data.name, adminEmail: parsed.data['admin-email'] });
    process.stdout.write(`${JSON.stringify({ organizationId: org.organizationId, apiKey: org.apiKey, adminToken: org.adminToken })}\n`);
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
