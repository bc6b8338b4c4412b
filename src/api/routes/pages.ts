import path from 'node:path';
import express, { Router } from 'express';
import type { AppDeps } from '../app';
import { buildOpenApiDocument } from '../openapi/document';

// The pages served by the API: the OpenAPI document and its rendered reference, and the
// back office. All static, same-origin, no inline script or style, nothing from a CDN, so a
// strict Content-Security-Policy holds and they work offline.

export const WEB_ROOT = path.resolve(__dirname, '..', '..', 'web');

/** The policy of every page: scripts, styles and fetches from this origin only. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const pageHeaders = {
  'Content-Security-Policy': PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

export function pageRoutes(deps: AppDeps): Router {
  const r = Router();
  const document = JSON.stringify(
    buildOpenApiDocument({ linkExpiryMin: deps.config.LINK_EXPIRY_MIN, retentionMin: deps.config.DATA_RETENTION_MIN }),
  );

  r.get('/openapi.json', (_req, res) => {
    res.set({ 'Cache-Control': 'no-cache', 'Access-Control-Allow-Origin': '*' }).type('application/json').send(document);
  });
  r.get(['/docs', '/docs/api'], (_req, res) => {
    res.set(pageHeaders).sendFile(path.join(WEB_ROOT, 'apidocs', 'index.html'));
  });
  r.get('/', (_req, res) => {
    res.set(pageHeaders).sendFile(path.join(WEB_ROOT, 'backoffice', 'index.html'));
  });
  // Scripts and styles of the pages (not API routes: no entry in the document).
  r.use('/assets', express.static(WEB_ROOT, { index: false, fallthrough: true, setHeaders: (res) => res.set(pageHeaders) }));
  return r;
}
