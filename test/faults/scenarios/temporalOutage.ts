// (2) Temporal is stopped for 60 s while short links expire and webhooks wait on their retry
// timer, then started again on the same SQLite file: the timers fire late but fire, the
// retries go out, and requests made meanwhile get 503s (then succeed when retried).
import { pool } from '../client';
import { journeyPlans, openAndCapture, createSession, runJourney, type Plan } from '../journeys';
import { sleep, type Scenario } from '../scenario';

export const OUTAGE_MS = 60_000;

export const temporalOutage: Scenario = {
  name: 'temporal-outage',
  title: 'stop Temporal for 60 s while short links expire and webhooks are pending, restart it',
  async run(s) {
    const { sys, db } = s.ctx;
    // The receiver refuses the first attempt of every webhook under /temporal-outage/, so
    // each delivery waits on its 5 s retry timer when Temporal goes away.
    const completing = s.sessions(journeyPlans(20, { decideEvery: 4 }));
    await pool(completing, 10, (x) => runJourney(s.api, s.org, x));
    const expiring = s.sessions(Array.from({ length: 20 }, (): Plan => ({ kind: 'expire', verdict: 'verify', linkExpiry: '1m' })));
    await pool(expiring, 10, async (x) => {
      if (await createSession(s.api, s.org, x)) await openAndCapture(s.api, s.org, x);
    });
    const pending = await db.query<{ n: string }>("SELECT count(*) AS n FROM webhook_deliveries WHERE organization_id = $1 AND status = 'pending'", [s.org.organizationId]);
    await sys.temporal.stop();
    const stoppedAt = Date.now();
    const expiringDuringOutage = expiring.filter((x) => x.linkExpiresAt && x.linkExpiresAt.getTime() < stoppedAt + OUTAGE_MS).length;
    s.notes.push(`Temporal stopped with ${pending.rows[0].n} webhook deliveries pending; ${expiringDuringOutage} links expire during the outage`);
    s.log(`Temporal stopped (${pending.rows[0].n} deliveries pending, ${expiringDuringOutage} links expiring in the outage)`);

    // Meanwhile: readiness probes, reads, and customers creating sessions (retried until Temporal is back).
    const readiness: number[] = [];
    const probing = (async () => {
      while (Date.now() - stoppedAt < OUTAGE_MS - 5000) {
        const r = await s.api.once('GET', '/readyz', { attemptTimeoutMs: 30_000 });
        readiness.push(r?.status ?? 0);
        await sleep(5000);
      }
    })();
    const during = s.sessions(journeyPlans(5, { decideEvery: 5 }));
    const creating = pool(during, 5, (x) => runJourney(s.api, s.org, x));
    await sleep(OUTAGE_MS - (Date.now() - stoppedAt));
    await probing;
    await sys.temporal.start();
    s.log('Temporal restarted on the same SQLite file');
    const notReady = readiness.filter((st) => st === 503).length;
    s.extraChecks.push({
      name: '/readyz says 503 while Temporal is down',
      ok: readiness.length > 0 && notReady === readiness.length,
      detail: `readiness answers during the outage: ${readiness.join(', ') || 'none'}`,
    });
    await creating;
    s.log(`journeys driven (${s.api.stats.summary()})`);
    await s.awaitRecovery();
  },
};
