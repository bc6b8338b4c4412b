// The fault suite's webhook receiver: a process of its own on 127.0.0.1 (so the suite can
// SIGKILL it and start it again), appending every request it gets to a JSON-lines file
// BEFORE answering, so any 2xx the product saw is on record.
//
//   tsx test/faults/receiver.ts --port N --log FILE [--fail-first PREFIX]...
//
// --fail-first PREFIX answers 500 to the first request of each webhook-id under that path
// prefix (later attempts get 200): deliveries that must wait on a retry timer.
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface ReceivedLine {
  at: string;
  method: string;
  path: string;
  webhookId: string;
  webhookTimestamp: string;
  webhookSignature: string;
  body: string;
  answered: number;
}

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    log: { type: 'string' },
    'fail-first': { type: 'string', multiple: true, default: [] },
  },
});
const port = Number(values.port);
const logFile = values.log;
if (!Number.isInteger(port) || !logFile) {
  process.stderr.write('usage: receiver.ts --port N --log FILE [--fail-first PREFIX]...\n');
  process.exit(2);
}
const failFirst = values['fail-first'] ?? [];

// Ids seen before a restart count as seen: a restart does not fail their next attempt again.
const seen = new Set<string>();
if (fs.existsSync(logFile)) {
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (line.trim()) seen.add((JSON.parse(line) as ReceivedLine).webhookId);
  }
}

const header = (req: http.IncomingMessage, name: string): string => String(req.headers[name] ?? '');

const server = http.createServer((req, res) => {
  const path = req.url ?? '';
  if (req.method === 'GET' && path === '/__health') {
    res.writeHead(200).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const webhookId = header(req, 'webhook-id');
    const fail = failFirst.some((p) => path.startsWith(p)) && !seen.has(webhookId);
    seen.add(webhookId);
    const answered = fail ? 500 : 200;
    const line: ReceivedLine = {
      at: new Date().toISOString(),
      method: req.method ?? '',
      path,
      webhookId,
      webhookTimestamp: header(req, 'webhook-timestamp'),
      webhookSignature: header(req, 'webhook-signature'),
      body: Buffer.concat(chunks).toString('utf8'),
      answered,
    };
    fs.appendFileSync(logFile, `${JSON.stringify(line)}\n`);
    res.writeHead(answered, { 'content-type': 'text/plain' }).end(fail ? 'first attempt refused by the fault suite' : 'ok');
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`receiver listening on 127.0.0.1:${port}, recording to ${logFile}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
