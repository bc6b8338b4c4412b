import { randomUUID } from 'node:crypto';
import { describePermanentFailure, isOutage } from '../domain/failures';
import express, { type ErrorRequestHandler, type Express, type Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { setStartDeadline } from '../temporal/deadlines';
import type { Db } from '../db/knex';
import { ConcurrencyGate } from '../domain/concurrencyGate';
import { checkLinkToken, linkTokenPolicy, type LinkTokenPolicy } from '../domain/linkToken';
import { loadSigningKey, type SigningKey } from '../domain/ledgerCheckpoint';
import { DataKeyStore, MasterKeys } from '../payloads/keyStore';
import { log } from '../log';
import type { AnalysisDeps } from '../analyses/analyses';
import type { SessionDeps } from '../sessions/sessions';
import { observeHttp } from './metrics';
import { HttpProblem, problems } from './problem';
import { clientIp, RateLimiter } from './rateLimit';
import { analysisRoutes } from './routes/analyses';
import { auditEventRoutes } from './routes/auditEvents';
import { codecRoutes } from './routes/codec';
import { documentRoutes } from './routes/documents';
import { healthRoutes, metricsRouter } from './routes/health';
import { journeyRoutes } from './routes/journey';
import { operatorRoutes } from './routes/operators';
import { meRoutes } from './routes/me';
import { pageRoutes } from './routes/pages';
import { sessionRoutes } from './routes/sessions';
import { settingsRoutes } from './routes/settings';
import { webhookRoutes } from './routes/webhooks';
import { LEDGER_SEQUENCER_OPTIONS, startLedgerSequencer } from '../audit/ledger';

export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  keys: DataKeyStore;
  sessions: SessionDeps;
  analyses: AnalysisDeps;
  /** Signs ledger checkpoints; absent when AUDIT_SIGNING_KEY is not configured. */
  signingKey?: SigningKey;
}

const DEFAULT_BODY_LIMIT = '100kb';

export function createApp(input: { config: Config; db: Db; temporal: Client; keys?: DataKeyStore }): Express {
  const linkTokens = linkTokenPolicy(
    input.config.JOURNEY_LINK_KEY ?? input.config.AUDIT_HMAC_KEY,
    input.config.JOURNEY_LINK_KEY_PREVIOUS,
    input.config.JOURNEY_LEGACY_LINKS,
  );
  // Chains this process's appends after their commit (and, every few seconds, any left unchained).
  startLedgerSequencer(input.db, input.config.AUDIT_HMAC_KEY, LEDGER_SEQUENCER_OPTIONS);
  const deps: AppDeps = {
    ...input,
    // The codec server's keys; the process's Temporal client must use the same (src/server.ts).
    keys: input.keys ?? new DataKeyStore(input.db, MasterKeys.fromConfig(input.config)),
    signingKey: input.config.AUDIT_SIGNING_KEY ? loadSigningKey(input.config.AUDIT_SIGNING_KEY) : undefined,
    sessions: {
      db: input.db,
      temporal: input.temporal,
      taskQueue: input.config.TEMPORAL_TASK_QUEUE,
      publicBaseUrl: input.config.PUBLIC_BASE_URL.replace(/\/$/, ''),
      auditKey: input.config.AUDIT_HMAC_KEY,
      linkTokens,
      // Never the whole pool: authenticated requests keep at least one connection.
      linkLookups: new ConcurrencyGate(
        Math.max(1, Math.min(input.config.JOURNEY_LOOKUP_CONCURRENCY, input.config.DATABASE_POOL_MAX - 1)),
        input.config.JOURNEY_LOOKUP_QUEUE,
      ),
    },
    analyses: {
      db: input.db,
      temporal: input.temporal,
      taskQueue: input.config.TEMPORAL_TASK_QUEUE,
      auditKey: input.config.AUDIT_HMAC_KEY,
    },
  };
  setStartDeadline(input.temporal, input.config.TEMPORAL_START_DEADLINE_MS);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.locals.rateLimiter = new RateLimiter(input.config);
  const hsts = input.config.PUBLIC_BASE_URL.startsWith('https://');

  app.use((req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    // On every answer, errors included: no URL (journey links carry a token) leaks as a
    // Referer, no body is sniffed into another type, and https sites stay https.
    res.set({ 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff' });
    if (hsts) res.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      // The route pattern, never the URL: journey URLs carry the link token.
      const route: string = req.route?.path ?? 'unmatched';
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      observeHttp(req.method, route, res.statusCode, durationMs / 1000);
      log.info('http request', { requestId, method: req.method, route, status: res.statusCode, durationMs });
    });
    next();
  });

  app.use((req, _res, next) => {
    (app.locals.rateLimiter as RateLimiter).take('ip', clientIp(req));
    next();
  });
  app.use(refuseForgedLinks(linkTokens));
  // Journey routes parse their own bodies, after the link token is resolved (routes/journey.ts):
  // a request with a random token is answered before any of its body is read.
  const defaultJson = express.json({ limit: DEFAULT_BODY_LIMIT });
  app.use((req, res, next) => (req.path.startsWith('/v1/journey/') ? next() : defaultJson(req, res, next)));

  const routers = [healthRoutes(deps), sessionRoutes(deps), journeyRoutes(deps), settingsRoutes(deps), analysisRoutes(deps), webhookRoutes(deps)];
  routers.push(operatorRoutes(deps), auditEventRoutes(deps), documentRoutes(deps), codecRoutes(deps));
  routers.push(meRoutes(deps), pageRoutes(deps)); // /openapi.json, /docs/api, the back office at /
  for (const router of routers) app.use(router);

  // A known path with another method is 405 (with Allow), anything else 404.
  for (const [path, methods] of routeTable(routers)) {
    app.all(path, () => {
      throw problems.methodNotAllowed(methods);
    });
  }
  app.use(() => {
    throw new HttpProblem(404, 'not-found', 'Not found', 'no such route');
  });
  app.use(errorHandler);
  return app;
}

/**
 * A journey request whose token has no valid MAC is answered here, before the routers, the
 * body parsers and the database: the same 404 the lookup would give, for two HMACs of CPU
 * (docs/security.md, "Link tokens"). It still draws from the unauthenticated bucket.
 */
function refuseForgedLinks(linkTokens: LinkTokenPolicy): express.RequestHandler {
  return (req, res, next) => {
    // Only the journey routes themselves (routes/journey.ts); other methods keep their 405.
    const m = JOURNEY_ROUTE.exec(req.path);
    if (!m || (req.method === 'GET') !== (m[2] === undefined) || (req.method !== 'GET' && req.method !== 'POST')) return next();
    if (checkLinkToken(linkTokens, decodeURIComponentOr(m[1])) !== 'refused') return next();
    try {
      (req.app.locals.rateLimiter as RateLimiter).take('unauthenticated', clientIp(req));
    } catch (err) {
      return next(err);
    }
    // The body is not wanted: close the connection instead of reading it to the end.
    res.set('Connection', 'close');
    errorHandler(problems.notFound('session link'), req, res, next);
  };
}

const JOURNEY_ROUTE = /^\/v1\/journey\/([^/]+)(\/documents|\/complete)?\/?$/;

const decodeURIComponentOr = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** The app of METRICS_PORT's listener: /metrics only (bearer-checked when METRICS_TOKEN is set). */
export function createMetricsApp(input: { config: Config; db: Db }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set({ 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff' });
    next();
  });
  app.use(metricsRouter(input.db, input.config));
  app.use(() => {
    throw new HttpProblem(404, 'not-found', 'Not found', 'no such route');
  });
  app.use(errorHandler);
  return app;
}

function routeTable(routers: Router[]): Map<string, string[]> {
  const table = new Map<string, string[]>();
  for (const router of routers) {
    for (const layer of router.stack) {
      const route = layer.route as { path: string; methods: Record<string, boolean> } | undefined;
      if (!route) continue;
      const methods = Object.keys(route.methods).map((m) => m.toUpperCase());
      table.set(route.path, [...new Set([...(table.get(route.path) ?? []), ...methods])]);
    }
  }
  return table;
}

const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  let problem: HttpProblem;
  if (err instanceof HttpProblem) {
    problem = err;
  } else if (err?.type === 'entity.parse.failed') {
    problem = problems.malformedJson();
  } else if (err?.type === 'entity.too.large') {
    problem = problems.tooLarge(`the request body exceeds ${err.limit} bytes`);
  } else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') {
    problem = problems.unsupportedMediaType();
  } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
    problem = new HttpProblem(err.status, 'bad-request', 'Bad request', err.expose ? err.message : undefined);
  } else if (typeof err?.code === 'string' && /^22[0-9A-Z]{3}$/.test(err.code) && typeof err?.severity === 'string') {
    // A PostgreSQL data exception (SQLSTATE class 22: a NUL character in JSON text, a value out
    // of range…) is caused by a value of the request; the transaction rolled back.
    problem = new HttpProblem(400, 'invalid-input', 'Invalid input', 'a value of the request cannot be stored (for example a NUL character in text)');
  } else if (isOutage(err)) {
    // PostgreSQL or Temporal unreachable or past its deadline (src/db/knex.ts, src/temporal/deadlines.ts).
    log.warn('dependency unavailable', { requestId: res.locals.requestId, error: describePermanentFailure(err), route: req.route?.path ?? null });
    problem = problems.unavailable('a backing service (database or Temporal) is unavailable right now; try again shortly');
    problem.headers['retry-after'] = '5';
  } else {
    log.error('unhandled error', { requestId: res.locals.requestId, error: String(err?.message ?? err), route: req.route?.path ?? null });
    problem = new HttpProblem(500, 'internal', 'Internal error', 'an unexpected error occurred; quote the request id');
  }
  if (res.headersSent) return;
  res.status(problem.status).set(problem.headers).type('application/problem+json').send(JSON.stringify(problem.toJSON(res.locals.requestId ? `urn:request:${res.locals.requestId}` : undefined)));
};
