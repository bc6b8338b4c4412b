import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { buildOpenApiDocument } from '../../src/api/openapi/document';

// Checks real responses against the OpenAPI document (/openapi.json): `call()` runs every
// response of the integration tests through here, so a route answering something its schema
// does not allow fails the test that saw it.

type Json = Record<string, any>;

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  responses: Json;
}

let compiled: { operations: Operation[]; ajv: Ajv2020; cache: Map<object, ValidateFunction> } | undefined;

function load() {
  if (compiled) return compiled;
  const doc = buildOpenApiDocument() as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', ...doc }, 'openapi.json');
  const operations: Operation[] = [];
  for (const [template, ops] of Object.entries(doc.paths as Json)) {
    const regex = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const [method, op] of Object.entries(ops as Json)) operations.push({ method: method.toUpperCase(), template, regex, responses: op.responses });
  }
  // Literal paths first: /v1/audit-events/verify before /v1/audit-events/{id}.
  operations.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  compiled = { operations, ajv, cache: new Map() };
  return compiled;
}

/** The problems of one response, or [] when it matches the document (or has no operation in it). */
export function responseProblems(method: string, url: string, status: number, contentType: string | null, body: unknown): string[] {
  const { operations, ajv, cache } = load();
  const path = new URL(url, 'http://x').pathname;
  const op = operations.find((o) => o.method === method.toUpperCase() && o.regex.test(path));
  if (!op) return []; // unknown route or method: a 404/405 outside the document
  const where = `${method} ${op.template} → ${status}`;
  const spec = op.responses[String(status)] ?? op.responses.default;
  if (!spec) return [`${where}: status ${status} is not documented`];
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const content = spec.content as Json | undefined;
  if (!content) return status === 204 || body === null || body === '' ? [] : [`${where}: a body where none is documented`];
  const entry = content[media] ?? content['*/*'];
  if (!entry) return [`${where}: content type ${media || '(none)'} is not one of ${Object.keys(content).join(', ')}`];
  if (!entry.schema || !(media.endsWith('json'))) return [];
  let validate = cache.get(entry.schema);
  if (!validate) {
    validate = ajv.compile(entry.schema.$ref ? { $ref: `openapi.json${entry.schema.$ref}` } : entry.schema);
    cache.set(entry.schema, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map((e) => `${where}: ${e.instancePath || '(body)'} ${e.message} ${JSON.stringify(e.params)}`);
}

/** Throws when the response does not match the document. */
export function assertMatchesDocument(method: string, url: string, res: { status: number; headers: Headers; body: unknown }): void {
  if (res.status >= 500 && res.status !== 503) return; // a bug: the test's own status assertion names it better
  const problems = responseProblems(method, url, res.status, res.headers.get('content-type'), res.body);
  if (problems.length) {
    const err = new Error(`response does not match the OpenAPI document:\n  ${problems.slice(0, 5).join('\n  ')}\n  body: ${JSON.stringify(res.body).slice(0, 500)}`);
    Error.captureStackTrace?.(err, assertMatchesDocument);
    throw err;
  }
}
