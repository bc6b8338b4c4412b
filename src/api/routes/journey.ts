import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { AppDeps } from '../app';
import { rateLimiterOf } from '../auth';
import { clientIp } from '../rateLimit';
import { uploadDocumentSchema } from '../schemas';
import { parseOrThrow } from '../validate';
import { assertUploadAllowed, completeJourney, openJourney, uploadDocument } from '../../sessions/sessions';

// The end user's side: the link token is the only credential. Each request draws from the
// strict per-IP bucket first; an upload's body is read only once its token resolved to a
// session that may still take documents, with a limit for this route alone.
export function journeyRoutes(deps: AppDeps): Router {
  const r = Router();
  const limitIp = (req: Request, _res: Response, next: NextFunction) => {
    rateLimiterOf(req)?.take('unauthenticated', clientIp(req));
    next();
  };
  const uploads = { ...deps.sessions, ...uploadLimits(deps) };
  // Documents arrive base64-encoded inside JSON: allow their size plus the encoding overhead.
  const documentBodyLimit = Math.ceil((deps.config.MAX_DOCUMENT_BYTES * 4) / 3) + 64 * 1024;
  const documentJson = express.json({ limit: documentBodyLimit });
  const linkFirst = async (req: Request, res: Response, next: NextFunction) => {
    try {
      await assertUploadAllowed(uploads, req.params.token as string);
    } catch (err) {
      // The body is not wanted: close the connection instead of reading it to the end.
      res.set('Connection', 'close');
      throw err;
    }
    next();
  };

  r.get('/v1/journey/:token', limitIp, async (req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json(await openJourney(deps.sessions, String(req.params.token)));
  });

  r.post('/v1/journey/:token/documents', limitIp, linkFirst, documentJson, async (req, res) => {
    const body = parseOrThrow(uploadDocumentSchema, req.body);
    res.status(201).json(await uploadDocument(uploads, req.params.token as string, body));
  });

  r.post('/v1/journey/:token/complete', limitIp, async (req, res) => {
    res.status(202).json(await completeJourney(deps.sessions, String(req.params.token)));
  });

  return r;
}

const uploadLimits = (deps: AppDeps) => ({
  maxDocumentBytes: deps.config.MAX_DOCUMENT_BYTES,
  maxDocumentsPerSession: deps.config.MAX_DOCUMENTS_PER_SESSION,
  maxSessionBytes: deps.config.MAX_SESSION_DOCUMENT_BYTES,
});
