// (2) Temporal is stopped for 60 s while short links expire and webhooks wait on their retry
// timer, then started again on the same SQLite file: the timers fire late but fire, the
// retries go out, and requests made meanwhile get 503s (then succeed when retried).
import { pool } from '../client';
import { readReceived, webhookReport } from '../checks';
import { complete, createSession, decide, journeyPlans, openAndCapture, runJourney, type Plan } from '../journeys';
import { sleep, type Scenario } from '../scenario';

export const OUTAGE_MS = 60_000;

export const temporalOutage: Scenario = {
  name: 'temporal-outage',
  title: 'stop Temporal for 60 s while short links expire and webhooks are pending, restart it',
  async run(s) {
    const { sys } = s.ctx;
    // The receiver refuses the first attempt of every webhook under /temporal-outage/, so
    // each delivery waits on its 5 s retry timer when Temporal goes away.
    // Order matters on a slow machine: the completing journeys are brought up to their last
    // step first, then the short links are created, then the journeys complete and Temporal
    // stops at once, so the links expire and the webhooks' retries fall due during the outage.
    const completing = s.sessions(journeyPlans(20, { decideEvery: 4 }));
    await pool(completing, 10, async (x) => {
      if (await createSession(s.api, s.org, x)) await openAndCapture(s.api, s.org, x);
    });
    const expiring = s.sessions(Array.from({ length: 20 }, (): Plan => ({ kind: 'expire', verdict: 'verify', linkExpiry: '1m' })));
    await pool(expiring, 10, async (x) => {
      if (await createSession(s.api, s.org, x)) await openAndCapture(s.api, s.org, x);
    });
    await pool(completing, 10, async (x) => {
      if (!x.opened) return;
      await complete(s.api, x);
      if (x.completion === 'acked' && x.plan.decide) await decide(s.api, s.org, x, x.plan.decide);
    });
    await sys.temporal.stop();
    const stoppedAt = Date.now();
    const owed = webhookReport(s.org, s.records, readReceived(sys.receiverLog)).missing.length;
    const expiringDuringOutage = expiring.filter((x) => x.linkExpiresAt && x.linkExpiresAt.getTime() > stoppedAt && x.linkExpiresAt.getTime() < stoppedAt + OUTAGE_MS).length;
    s.notes.push(`Temporal stopped with ${owed} owed webhooks not yet delivered; ${expiringDuringOutage} links expired during the outage`);
    s.log(`Temporal stopped (${owed} owed webhooks not delivered yet, ${expiringDuringOutage} links expiring in the outage)`);

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
