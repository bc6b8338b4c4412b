import { Router } from 'express';
import type { AppDeps } from '../app';
import { renderMetrics } from '../metrics';

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
  r.get('/metrics', async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await renderMetrics(deps.db));
  });
  return r;
}
