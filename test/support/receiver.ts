import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A real HTTP webhook receiver on 127.0.0.1. Each test scripts its answers; every request is
// recorded and can be awaited, so tests wait for events rather than sleeping.
export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Responder = (req: ReceivedRequest, index: number) => { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private waiters: { done: () => boolean; resolve: () => void }[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  private hanging = new Set<http.ServerResponse>();
  respond: Responder = () => ({ status: 200, body: 'ok' });
  /** TCP connections accepted: a refused delivery must not even open one. */
  connections = 0;
  /** Called with each request as it arrives (the benchmark keys its waits by body). */
  readonly listeners: ((req: ReceivedRequest) => void)[] = [];

  async start(): Promise<this> {
    this.server.on('connection', () => {
      this.connections += 1;
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `count` requests in all have arrived (fails the test after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs = 180_000): Promise<ReceivedRequest[]> {
    return this.waitUntil(() => this.requests.length >= count, `${count} request(s)`, timeoutMs).then(() => this.requests.slice());
  }

  /** Resolves with the requests to `path` once there are `count` of them. */
  waitForPath(path: string, count = 1, timeoutMs = 180_000): Promise<ReceivedRequest[]> {
    return this.waitUntil(() => this.forPath(path).length >= count, `${count} request(s) to ${path}`, timeoutMs).then(() => this.forPath(path));
  }

  private waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver: expected ${what} within ${timeoutMs} ms, got ${this.requests.length} in all`)), timeoutMs);
      this.waiters.push({
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  forPath(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Requests left hanging so far and not yet answered. */
  get hangingCount(): number {
    return this.hanging.size;
  }

  /** Answers every request left hanging with `status`. */
  releaseHanging(status = 200): void {
    for (const res of this.hanging) {
      res.writeHead(status);
      res.end('released');
    }
    this.hanging.clear();
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = {
        at: Date.now(),
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const index = this.requests.push(received) - 1;
      for (const listener of this.listeners) listener(received);
      const answer = this.respond(received, index);
      if (answer === 'hang') {
        this.hanging.add(res);
      } else {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body ?? '');
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.done()) return true;
        w.resolve();
        return false;
      });
    });
  }
}
