// (1) The worker is SIGKILLed in the middle of 300 journeys and started again: workflow
// tasks and activities it held are retried elsewhere (here: by its successor) and nothing is
// lost or recorded twice.
import { pool } from '../client';
import { journeyPlans, runJourney } from '../journeys';
import { sleep, until, type Scenario } from '../scenario';

export function workerKill(journeys: number): Scenario {
  return {
    name: 'worker-kill',
    title: `SIGKILL the worker in the middle of ${journeys} journeys, restart it`,
    async run(s) {
      const { sys } = s.ctx;
      const sessions = s.sessions(journeyPlans(journeys, { expireEvery: 10, decideEvery: 5 }));
      let started = 0;
      let finished = 0;
      const killer = (async () => {
        await until(() => started >= journeys / 2);
        const inFlight = started - finished;
        await sys.worker.kill();
        s.log(`worker SIGKILLed (process group) with ${finished} journeys done and ${inFlight} in flight`);
        s.notes.push(`worker SIGKILLed after ${started} of ${journeys} journeys had started (${inFlight} in flight)`);
        await sleep(3000);
        await sys.startWorker();
        s.log('worker restarted');
      })();
      await pool(sessions, 12, async (session) => {
        started += 1;
        await runJourney(s.api, s.org, session);
        finished += 1;
      });
      await killer;
      s.log(`journeys driven (${s.api.stats.summary()})`);
      await s.awaitRecovery();
    },
  };
}
