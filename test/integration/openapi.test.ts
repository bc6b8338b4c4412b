import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import { buildOpenApiDocument, openApiPath } from '../../src/api/openapi/document';
import { responseProblems } from '../support/openapiCheck';
import { call, newOrganization, startSystem, testConfig, type TestSystem } from '../support/system';

// The OpenAPI document is complete (every route of the express app, nothing more), valid
// OpenAPI 3.1, served at /openapi.json with its rendered reference, and the response check
// every integration test runs through `call()` really refuses a response off the schema.

let sys: TestSystem;
beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

/** METHOD /path pairs of the app's route layers (405 catch-alls excluded). */
function expressRoutes(app: Express): string[] {
  const found = new Set<string>();
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
        if (methods.length > 8) continue; // app.all(): the 405 answer of a known path
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const m of methods) for (const p of paths) found.add(`${m.toUpperCase()} ${openApiPath(p)}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as any).router.stack);
  return [...found].sort();
}

function documentRoutes(doc: any): string[] {
  return Object.entries(doc.paths as Record<string, object>)
    .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
}

test('every route of the express app is in the document, and nothing else', () => {
  const app = createApp({ config: testConfig(), db: sys.db, temporal: sys.client, keys: sys.keys });
  const inApp = expressRoutes(app);
  const inDoc = documentRoutes(buildOpenApiDocument());
  expect(inApp.length).toBeGreaterThan(30);
  expect(inApp.filter((r) => !inDoc.includes(r))).toEqual([]); // routes missing from the document
  expect(inDoc.filter((r) => !inApp.includes(r))).toEqual([]); // documented routes that do not exist
});

test('the document served at /openapi.json is valid OpenAPI 3.1', async () => {
  const res = await call(sys.baseUrl, 'GET', '/openapi.json');
  expect(res.status).toBe(200);
  expect(res.body.openapi).toBe('3.1.0');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-')), 'openapi.json');
  fs.writeFileSync(file, JSON.stringify(res.body));
  const cli = path.resolve(__dirname, '../../node_modules/@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
  const out = await new Promise<string>((resolve) => execFile(process.execPath, [cli, file], (_err, stdout, stderr) => resolve(stdout + stderr)));
  expect(JSON.parse(out)).toEqual({ valid: true });
  // Bounds come from the configuration: the document says what this server accepts.
  expect(res.body.paths['/v1/settings'].patch.description).toContain(sys.config.DATA_RETENTION_MIN);
});

test('the reference page renders offline: same-origin script, strict CSP, no CDN', async () => {
  const page = await fetch(`${sys.baseUrl}/docs/api`);
  expect(page.status).toBe(200);
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe-inline');
  const html = await page.text();
  expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline script
  expect(html).not.toMatch(/https?:\/\//);
  for (const asset of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const res = await fetch(`${sys.baseUrl}${asset[1]}`);
    expect([asset[1], res.status]).toEqual([asset[1], 200]);
  }
});

test('the response check refuses a body off the schema, an undocumented status and a wrong content type', async () => {
  const org = await newOrganization(sys.db);
  const settings = await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken });
  expect(responseProblems('GET', '/v1/settings', 200, 'application/json', settings.body)).toEqual([]);
  expect(responseProblems('GET', '/v1/settings', 200, 'application/json', { ...settings.body, sessionLinkExpiry: 5 })).not.toEqual([]);
  expect(responseProblems('GET', '/v1/settings', 200, 'application/json', { sessionEndWebhookUrl: null })).not.toEqual([]);
  expect(responseProblems('GET', '/v1/settings', 201, 'application/json', settings.body)).not.toEqual([]);
  expect(responseProblems('GET', '/v1/settings', 200, 'text/html', '<p>')).not.toEqual([]);
  expect(responseProblems('GET', '/v1/sessions/0b9c6f38-5d0c-4d55-9a36-0e1f1c7a2f10', 404, 'application/problem+json', { title: 'x' })).not.toEqual([]);
});
