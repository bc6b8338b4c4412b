import { z } from 'zod';
import { paginationQuery } from './schemas';

// Request schemas of the operator, API-key and audit-ledger routes (kept beside schemas.ts so
// the branches touching it do not collide). `.strict()`: an unknown field is a 400 naming it.

const operatorRole = z.enum(['admin', 'analyst', 'auditor']);

export const createOperatorSchema = z
  .object({
    email: z.email({ message: 'must be an email address' }).max(254).transform((v) => v.toLowerCase()),
    role: operatorRole,
  })
  .strict();

export const updateOperatorSchema = z
  .object({ role: operatorRole.optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((v) => v.role !== undefined || v.disabled !== undefined, { message: 'give at least one of role, disabled' });

export const createApiKeySchema = z.object({ label: z.string().trim().min(1).max(100) }).strict();

export const listQuery = paginationQuery.strict();

const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 instant, e.g. 2025-01-31T12:00:00Z' });

/** The filters shared by the ledger's list and export. `from` is inclusive, `to` exclusive. */
const auditFilterShape = {
  actorType: z.enum(['operator', 'api_key', 'system', 'end_user']).optional(),
  actorId: z.string().min(1).max(200).optional(),
  action: z.string().min(1).max(100).optional(),
  category: z.enum(['creation', 'modification', 'deletion', 'decision', 'access']).optional(),
  resourceType: z.string().min(1).max(100).optional(),
  resourceId: z.string().min(1).max(200).optional(),
  from: instant.optional(),
  to: instant.optional(),
};

const fromNotAfterTo = (v: { from?: string; to?: string }) => !(v.from && v.to && Date.parse(v.from) > Date.parse(v.to));
const fromToIssue = { message: 'must not be later than to', path: ['from'] };

export const listAuditEventsQuery = paginationQuery.extend(auditFilterShape).strict().refine(fromNotAfterTo, fromToIssue);

export const exportAuditEventsQuery = z
  .object({ format: z.enum(['csv', 'ndjson']), ...auditFilterShape })
  .strict()
  .refine(fromNotAfterTo, fromToIssue);
