// A local webhook receiver for trying the product: prints each webhook and, when
// WEBHOOK_SECRET is set, whether its Standard Webhooks signature verifies.
//   WEBHOOK_SECRET=whsec_… npm run --silent receiver      (listens on 127.0.0.1:9000)
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const port = Number(process.env.RECEIVER_PORT ?? 9000);
const secret = process.env.WEBHOOK_SECRET;
const seen = new Set<string>();

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let signature = 'not checked (set WEBHOOK_SECRET)';
      if (secret) {
        try {
          new Webhook(secret).verify(body, {
            'webhook-id': id,
            'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
            'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
          });
          signature = 'verified';
        } catch (err) {
          signature = `INVALID (${(err as Error).message})`;
        }
      }
      // Receivers deduplicate by webhook-id: retries and redeliveries reuse it.
      const duplicate = seen.has(id);
      seen.add(id);
      process.stdout.write(`${new Date().toISOString()} ${req.method} ${req.url} webhook-id=${id}${duplicate ? ' (duplicate)' : ''} signature: ${signature}\n  ${body}\n`);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  })
  .listen(port, '127.0.0.1', () => process.stdout.write(`webhook receiver listening on http://127.0.0.1:${port}/\n`));
