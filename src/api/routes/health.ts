import { timingSafeEqual } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import type { AppDeps } from '../app';
import { renderMetrics } from '../metrics';
import { HttpProblem, problems } from '../problem';

export function healthRoutes(deps: AppDeps): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Ready when both stores of truth answer: PostgreSQL (records) and Temporal (lifecycle).
  r.get('/readyz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      deps.db.raw('select 1').then(() => 'ok', () => 'unavailable'),
      deps.temporal.workflowService.getSystemInfo({}).then(() => 'ok', () => 'unavailable'),
    ]);
    const ready = database === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { database, temporal } });
  });
  // On the public listener only behind METRICS_TOKEN; METRICS_PORT serves it on a listener
  // of its own (src/server.ts, metricsRouter) that is not published.
  r.get('/metrics', metricsHandler(deps.db, deps.config, { requireToken: true }));
  return r;
}

function bearerMatches(req: Request, expected: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function metricsHandler(db: Db, config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_CACHE_SECONDS'>, opts: { requireToken: boolean }) {
  return async (req: Request, res: Response) => {
    if (config.METRICS_TOKEN) {
      if (!bearerMatches(req, config.METRICS_TOKEN)) throw problems.unauthorized('send Authorization: Bearer <METRICS_TOKEN>');
    } else if (opts.requireToken) {
      throw new HttpProblem(404, 'not-found', 'Not found', 'metrics are served on METRICS_PORT or behind METRICS_TOKEN');
    }
    res.type('text/plain; version=0.0.4').send(await renderMetrics(db, config.METRICS_CACHE_SECONDS * 1000));
  };
}

/** The /metrics listener of METRICS_PORT: nothing else on it. */
export function metricsRouter(db: Db, config: Pick<Config, 'METRICS_TOKEN' | 'METRICS_CACHE_SECONDS'>): Router {
  const r = Router();
  r.get('/metrics', metricsHandler(db, config, { requireToken: false }));
  return r;
}
