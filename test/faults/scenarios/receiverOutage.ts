// (3) The customer's webhook receiver is down for 60 s (SIGKILL; its port refuses
// connections) while journeys complete and analysts decide. The deliveries' own retry
// timers bring every event once it is back; one webhook-id per event throughout.
import { pool } from '../client';
import { journeyPlans, runJourney } from '../journeys';
import { sleep, type Scenario } from '../scenario';

const OUTAGE_MS = 60_000;

export const receiverOutage: Scenario = {
  name: 'receiver-outage',
  title: 'the webhook receiver down for 60 s',
  async run(s) {
    const { sys } = s.ctx;
    const before = s.sessions(journeyPlans(10, { decideEvery: 5 }));
    await pool(before, 10, (x) => runJourney(s.api, s.org, x));
    await sys.receiver.kill();
    const downAt = Date.now();
    s.log(`receiver SIGKILLed; port refuses connections: ${await sys.receiverRefuses()}`);
    const during = s.sessions(journeyPlans(30, { decideEvery: 3 }));
    await pool(during, 6, (x) => runJourney(s.api, s.org, x));
    s.notes.push(`${during.filter((x) => x.completion === 'acked').length} journeys completed while the receiver was down`);
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    await sys.startReceiver();
    s.log('receiver back');
    await s.awaitRecovery();
  },
};
