// A webhook receiver for local development: verifies each request with the public
// `standardwebhooks` package, deduplicates by webhook-id and prints one JSON line per request.
//
//   WEBHOOK_SECRET=whsec_... npm run --silent receiver -- [--port 9000] [--fail-every 3]
//
// --fail-every N answers every Nth request with 500, to watch retries happen. Without
// WEBHOOK_SECRET it accepts and prints everything, unverified (first steps of the README).
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '9000' }, 'fail-every': { type: 'string', default: '0' } },
});
const port = Number(values.port);
const failEvery = Number(values['fail-every']);
const secret = process.env.WEBHOOK_SECRET;
if ((secret !== undefined && !secret.startsWith('whsec_')) || !Number.isInteger(port) || !Number.isInteger(failEvery)) {
  process.stderr.write('usage: [WEBHOOK_SECRET=whsec_...] npm run --silent receiver -- [--port 9000] [--fail-every N]\n');
  process.exit(2);
}
const webhook = secret ? new Webhook(secret) : null;
const seen = new Set<string>();
let count = 0;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    count += 1;
    const body = Buffer.concat(chunks).toString('utf8');
    const id = String(req.headers['webhook-id'] ?? '');
    const print = (fields: Record<string, unknown>) =>
      process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), path: req.url, webhookId: id, ...fields })}\n`);
    if (failEvery > 0 && count % failEvery === 0) {
      print({ answered: 500, note: 'simulated failure' });
      res.writeHead(500).end('simulated failure');
      return;
    }
    let payload: unknown;
    try {
      // Verify the raw body exactly as received: re-serialized JSON would not match.
      if (!webhook) throw new Error('unverified');
      payload = webhook.verify(body, {
        'webhook-id': id,
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      });
    } catch (err) {
      if (!webhook) {
        print({ answered: 200, signature: 'not checked (set WEBHOOK_SECRET)', body });
        res.writeHead(200).end('ok');
        return;
      }
      const reason = err instanceof WebhookVerificationError ? err.message : String(err);
      print({ answered: 400, error: reason });
      res.writeHead(400).end(reason);
      return;
    }
    const duplicate = seen.has(id);
    seen.add(id);
    print({ answered: 200, duplicate, payload });
    res.writeHead(200).end(duplicate ? 'duplicate ignored' : 'ok');
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(
    `receiver listening on http://127.0.0.1:${port}/ (signatures ${webhook ? 'verified' : 'NOT checked'}; failing every ${failEvery || 'no'} request)\n`,
  );
});
