import { Router } from 'express';
import type { AppDeps } from '../app';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { auditFrom } from '../auditContext';
import { idParam } from '../schemas';
import { parseOrThrow } from '../validate';
import { getDocument, readDocumentContent } from '../../documents/documents';

/** RFC 8187 ext-value: everything outside attr-char percent-encoded. */
const rfc8187 = (value: string): string =>
  encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

// Documents captured by journeys: metadata, and content whose every read is audited.
export function documentRoutes(deps: AppDeps): Router {
  const r = Router();
  const readers = requireAuth(deps.db, { apiKey: true, roles: ANY_OPERATOR });
  // Identity documents themselves: the people who decide on them, not auditors of the ledger.
  const contentReaders = requireAuth(deps.db, { apiKey: true, roles: ['admin', 'analyst'] });

  r.get('/v1/documents/:id', readers, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    res.set('Cache-Control', 'no-store');
    res.json(await getDocument(deps.db, principalOf(res).organizationId, id));
  });

  r.get('/v1/documents/:id/content', contentReaders, async (req, res) => {
    const { id } = parseOrThrow(idParam, req.params, 'params');
    const doc = await readDocumentContent(deps.db, deps.config.AUDIT_HMAC_KEY, auditFrom(req, res), id);
    res.set({
      'Content-Type': doc.contentType,
      'Content-Disposition': `attachment; filename*=UTF-8''${rfc8187(doc.fileName)}`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    });
    res.send(doc.content);
  });

  return r;
}
