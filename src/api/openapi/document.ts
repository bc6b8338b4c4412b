import { z } from 'zod';
import { problemResponse } from './responses';
import { apiRoutes, type RegistryBounds, type RouteSpec } from './routes';

// OpenAPI 3.1 from the route registry. Request schemas are converted as their *input* (what a
// client sends: a duration before canonicalisation, a limit before its default); response
// schemas as their output, inlined (only Problem is a shared component).

type JsonSchema = Record<string, unknown>;

/** Error statuses any route may answer, besides those of its own. */
const COMMON_ERRORS: Record<number, string> = {
  400: 'malformed JSON or invalid input; `errors[].path` names each field',
  401: 'missing, unknown, revoked or disabled credential',
  403: 'the credential may not do this',
  404: 'unknown resource, or one of another organization',
  429: 'rate limited (see Retry-After)',
  503: 'PostgreSQL or Temporal unavailable',
};
const BODY_ERRORS: Record<number, string> = { 413: 'body too large', 415: 'send Content-Type: application/json' };
const STATE_ERRORS: Record<number, string> = {
  409: 'state conflict, or an Idempotency-Key request still running',
  410: 'gone: expired link, or purged',
  422: 'Idempotency-Key reused with another body',
};

export const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');

export function buildOpenApiDocument(bounds?: RegistryBounds): JsonSchema {
  const routes = apiRoutes(bounds);
  const convert = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema =>
    stripSchemaKey(
      z.toJSONSchema(schema, {
        io,
        unrepresentable: 'any',
        target: 'draft-2020-12',
        reused: 'inline',
        cycles: 'throw',
        // zod's email check is its pattern, which the document carries; JSON Schema's "email"
        // format is another (stricter) definition, so it is left out rather than contradicted.
        override: (ctx) => {
          const json = ctx.jsonSchema as JsonSchema;
          if (json.format === 'email' && json.pattern) delete json.format;
        },
      }) as JsonSchema,
    );

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route, convert);
  }
  const components = { Problem: convert(problemResponse, 'output') };

  return {
    openapi: '3.1.0',
    info: {
      title: 'KYC journeys API',
      version: '1',
      description:
        'Journey sessions as durable Temporal workflows: link expiry, data retention, signed webhooks, analyst decisions and a tamper-evident operator action history. Errors are RFC 9457 `application/problem+json`. Generated from the zod schemas the routes parse with (src/api/openapi/).',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API key (kyc_sk_…) or an operator token (kyc_op_…)' },
      },
    },
  };
}

function operation(route: RouteSpec, convert: (s: z.ZodType, io: 'input' | 'output') => JsonSchema): JsonSchema {
  const parameters: JsonSchema[] = [];
  if (route.params) {
    const json = convert(route.params, 'input') as { properties?: Record<string, JsonSchema> };
    for (const [name, schema] of Object.entries(json.properties ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: withoutDescription(schema), description: schema.description });
    }
  }
  if (route.query) {
    const json = convert(route.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(json.properties ?? {})) {
      parameters.push({ name, in: 'query', required: (json.required ?? []).includes(name), schema: withoutDescription(schema), ...(schema.description ? { description: schema.description } : {}) });
    }
  }
  if (route.idempotencyKey) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'same key + same body within 24 h: the first response again (Idempotent-Replayed: true)',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
    });
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const content: Record<string, JsonSchema> = {};
    if (spec.schema === problemResponse) content['application/problem+json'] = { schema: { $ref: '#/components/schemas/Problem' } };
    else if (spec.schema) content['application/json'] = { schema: convert(spec.schema, 'output') };
    for (const [type, media] of Object.entries(spec.content ?? {})) content[type] = media.schema ? { schema: convert(media.schema, 'output') } : {};
    responses[status] = { description: spec.description, ...(Object.keys(content).length ? { content } : {}) };
  }
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  const isPublic = route.callers.includes('public') || route.callers.includes('end user');
  const errors: Record<number, string> = { ...COMMON_ERRORS, 405: 'another method on this path' };
  if (isPublic) {
    delete errors[401];
    delete errors[403];
  }
  if (route.body || route.method === 'post' || route.method === 'patch') Object.assign(errors, BODY_ERRORS);
  if (route.path.startsWith('/v1/')) Object.assign(errors, STATE_ERRORS);
  else if (route.path !== '/readyz') delete errors[503];
  for (const [status, description] of Object.entries(errors)) responses[status] ??= problem(description);

  return {
    operationId: `${route.method}${route.path.replace(/[:/.-](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/\W/g, '') || 'Root'}`,
    tags: [route.tag],
    summary: route.summary,
    description: [route.description, `Who: ${route.callers.join(', ')}.`].filter(Boolean).join('\n\n'),
    ...(isPublic ? { security: [] } : { security: [{ bearer: [] }] }),
    ...(parameters.length ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: route.bodyRequired ?? false, content: { 'application/json': { schema: convert(route.body, 'input') } } } }
      : {}),
    responses,
  };
}

function stripSchemaKey(json: JsonSchema): JsonSchema {
  const { $schema: _s, ...rest } = json;
  return rest;
}

function withoutDescription(schema: JsonSchema): JsonSchema {
  const { description: _d, ...rest } = schema;
  return rest;
}
