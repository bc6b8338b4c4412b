import { Router } from 'express';
import type { AppDeps } from '../app';
import { uploadDocumentSchema } from '../schemas';
import { parseOrThrow } from '../validate';
import { completeJourney, openJourney, uploadDocument } from '../../sessions/sessions';

// The end user's side: the link token is the only credential.
export function journeyRoutes(deps: AppDeps): Router {
  const r = Router();

  r.get('/v1/journey/:token', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json(await openJourney(deps.sessions, req.params.token));
  });

  r.post('/v1/journey/:token/documents', async (req, res) => {
    const body = parseOrThrow(uploadDocumentSchema, req.body);
    res.status(201).json(
      await uploadDocument({ ...deps.sessions, maxDocumentBytes: deps.config.MAX_DOCUMENT_BYTES }, req.params.token, body),
    );
  });

  r.post('/v1/journey/:token/complete', async (req, res) => {
    res.status(202).json(await completeJourney(deps.sessions, req.params.token));
  });

  return r;
}
