import { Router } from 'express';
import { csvHeader, csvLine, ndjsonLine } from '../../audit/exportFormat';
import {
  auditEventBatches,
  getAuditEvent,
  listAuditEvents,
  recordAuditExport,
  verifyOrganizationLedger,
} from '../../audit/queries';
import { listCheckpoints, listPublicKeys, registerSigningKey, takeCheckpoint } from '../../audit/checkpoints';
import { log } from '../../log';
import { clientIp } from '../rateLimit';
import { rateLimiterOf } from '../auth';

import { problems } from '../problem';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { limitPerOrganization, principalOf, requireAuth } from '../auth';
import { exportAuditEventsQuery, listAuditEventsQuery, listQuery } from '../ledgerSchemas';
import { idParam } from '../schemas';
import { ChunkedWriter, ClientGone } from '../streaming';
import { parseOrThrow } from '../validate';

// The operator action history, read-only (SPEC §8): admins and auditors. Only GET routes
// exist, so any other method on these paths is a 405.

export function auditEventRoutes(deps: AppDeps): Router {
  const r = Router();
  const readers = requireAuth(deps.db, { roles: ['admin', 'auditor'] });
  const key = deps.config.AUDIT_HMAC_KEY;

  r.get('/v1/audit-events', readers, async (req, res) => {
    const q = parseOrThrow(listAuditEventsQuery, req.query, 'query');
    res.json(await listAuditEvents(deps.db, key, principalOf(res).organizationId, q));
  });

  // Public: whoever holds a checkpoint (the customer's webhook receiver, an external auditor)
  // checks its signature with these keys, the retired ones included.
  r.get('/v1/audit-events/public-key', async (req, res) => {
    rateLimiterOf(req)?.take('unauthenticated', clientIp(req));
    if (deps.signingKey) await registerSigningKey(deps.db, deps.signingKey);
    res.set('Cache-Control', 'public, max-age=300');
    res.json(await listPublicKeys(deps.db, deps.signingKey));
  });

  r.get('/v1/audit-events/checkpoints', readers, async (req, res) => {
    const q = parseOrThrow(listQuery, req.query, 'query');
    res.json(await listCheckpoints(deps.db, principalOf(res).organizationId, q));
  });

  // On demand (admins): sign the current head now; 200 with the newest one if it already covers the head.
  r.post('/v1/audit-events/checkpoints', requireAuth(deps.db, { roles: ['admin'] }), async (_req, res) => {
    if (!deps.signingKey) throw problems.unavailable('checkpoints are off: AUDIT_SIGNING_KEY is not configured');
    const taken = await takeCheckpoint(checkpointDeps(deps), principalOf(res).organizationId);
    if (!taken) throw problems.conflict('the ledger has no event to checkpoint yet');
    res.status(taken.created ? 201 : 200).json(taken.checkpoint);
  });

  r.get('/v1/audit-events/verify', readers, limitPerOrganization('verify'), async (_req, res) => {
    res.json(await verifyOrganizationLedger(deps.db, key, principalOf(res).organizationId));
  });

  r.get('/v1/audit-events/export', readers, async (req, res) => {
    const { format, ...filters } = parseOrThrow(exportAuditEventsQuery, req.query, 'query');
    const { organizationId } = principalOf(res);
    // Recorded (and committed) before the first byte: an export that fails midway is still on record.
    const exportEvent = await recordAuditExport(deps.db, key, auditFrom(req, res), format, filters);
    const throughSeq = Number(exportEvent.seq);
    res.status(200).set({
      'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': `attachment; filename="audit-events-${throughSeq}.${format}"`,
      'Cache-Control': 'no-store',
      'X-Audit-Export-Seq': String(throughSeq),
    });
    const out = new ChunkedWriter(res);
    try {
      if (format === 'csv') await out.push(csvHeader());
      const line = format === 'csv' ? csvLine : ndjsonLine;
      for await (const rows of auditEventBatches(deps.db, organizationId, filters, throughSeq)) {
        for (const row of rows) await out.push(line(row));
      }
      await out.flush();
      res.end();
    } catch (err) {
      // Headers are gone: the only honest signal left is an aborted (incomplete) transfer.
      if (!(err instanceof ClientGone)) {
        log.error('audit export failed', { requestId: res.locals.requestId, error: String((err as Error)?.message ?? err) });
      }
      res.destroy();
    }
  });

  r.get('/v1/audit-events/:id', readers, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.json(await getAuditEvent(deps.db, key, principalOf(res).organizationId, id));
  });

  return r;
}

export function checkpointDeps(deps: Pick<AppDeps, 'db' | 'temporal' | 'config' | 'signingKey'>) {
  if (!deps.signingKey) throw new Error('no signing key');
  return {
    db: deps.db,
    key: deps.signingKey,
    hmacKey: deps.config.AUDIT_HMAC_KEY,
    temporal: deps.temporal,
    taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
    retryDelaysSeconds: deps.config.WEBHOOK_RETRY_DELAYS_SECONDS,
  };
}
