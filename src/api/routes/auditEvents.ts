import { Router } from 'express';
import { csvHeader, csvLine, ndjsonLine } from '../../audit/exportFormat';
import {
  auditEventBatches,
  getAuditEvent,
  listAuditEvents,
  recordAuditExport,
  verifyOrganizationLedger,
} from '../../audit/queries';
import { log } from '../../log';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { limitPerOrganization, principalOf, requireAuth } from '../auth';
import { exportAuditEventsQuery, listAuditEventsQuery } from '../ledgerSchemas';
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
    res.json(await listAuditEvents(deps.db, principalOf(res).organizationId, q));
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
    res.json(await getAuditEvent(deps.db, principalOf(res).organizationId, id));
  });

  return r;
}
