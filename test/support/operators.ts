import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/knex';
import { hashToken, newToken } from '../../src/orgs/credentials';
import type { OperatorRole } from '../../src/orgs/organizations';

/** Another operator of the organization, straight in the table (tests of role checks). */
export async function addOperator(db: Db, organizationId: string, role: OperatorRole): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  const token = newToken('operator');
  await db('operators').insert({ id, organization_id: organizationId, email: `${role}-${id}@example.com`, role, token_hash: hashToken(token) });
  return { id, token };
}
