import type { AuditEventInput } from './ledger';

/**
 * Who did it, for whom and from where: everything a ledger event needs besides what happened.
 * Routes build it with `auditFrom(req, res)`; domain functions add action, category, resource
 * and changes, and append inside their own transaction.
 */
export type AuditOrigin = Pick<AuditEventInput, 'organizationId' | 'actor' | 'requestId' | 'ip' | 'userAgent'>;
