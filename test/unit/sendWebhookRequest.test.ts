import * as dns from 'node:dns';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseRetryAfter, sendWebhookRequest } from '../../src/webhooks/sendWebhookRequest';

type Received = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

type TestServer = {
  server: http.Server;
  port: number;
  requests: Received[];
  connections: number;
};

async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<TestServer> {
  const state = { requests: [] as Received[], connections: 0 } as TestServer;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', () => {
    state.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.server = server;
  state.port = (server.address() as AddressInfo).port;
  return state;
}

async function stopServer(s: TestServer | undefined): Promise<void> {
  if (!s) return;
  s.server.closeAllConnections();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

const payload = JSON.stringify({ type: 'journey.completed', data: { journeyId: 'j_1' } });
const baseHeaders = { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,abc' };

let target: TestServer;
let redirectTarget: TestServer;
let retryDate: string;

beforeAll(async () => {
  redirectTarget = await startServer((_req, res) => {
    res.writeHead(200).end('redirect target reached');
  });
  target = await startServer((req, res) => {
    switch (req.url) {
      case '/ok':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
        return;
      case '/no-content':
        res.writeHead(204).end();
        return;
      case '/error':
        res.writeHead(500).end('boom');
        return;
      case '/redirect':
        res.writeHead(302, { location: `http://127.0.0.1:${redirectTarget.port}/landing` }).end();
        return;
      case '/rate-limited':
        res.writeHead(429, { 'retry-after': '7' }).end();
        return;
      case '/unavailable':
        res.writeHead(503, { 'retry-after': retryDate }).end();
        return;
      case '/error-with-retry-after':
        res.writeHead(500, { 'retry-after': '30' }).end();
        return;
      case '/big':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(5 * 1024));
        return;
      case '/hang':
        return; // never answers
      case '/slow-body':
        res.writeHead(200);
        res.write('partial');
        return; // never ends the body
      default:
        res.writeHead(404).end();
    }
  });
});

afterAll(async () => {
  await stopServer(target);
  await stopServer(redirectTarget);
});

afterEach(() => {
  jest.restoreAllMocks();
});

const send = (path: string, overrides: Partial<Parameters<typeof sendWebhookRequest>[0]> = {}) =>
  sendWebhookRequest({
    url: `http://127.0.0.1:${target.port}${path}`,
    headers: baseHeaders,
    body: payload,
    timeoutMs: 5000,
    allowPrivateNetworks: true,
    ...overrides,
  });

describe('sendWebhookRequest against a local server (allowPrivateNetworks: true)', () => {
  it('reports success on 200 and captures the response body', async () => {
    const before = target.requests.length;
    const result = await send('/ok');
    expect(result).toMatchObject({ outcome: 'success', statusCode: 200, error: null, responseBody: 'thanks', retryAfterSeconds: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);

    const received = target.requests[before];
    expect(received.method).toBe('POST');
    expect(received.body).toBe(payload);
    expect(received.headers['content-type']).toBe('application/json');
    expect(received.headers['webhook-id']).toBe('msg_1');
    expect(received.headers['webhook-signature']).toBe('v1,abc');
    expect(received.headers['user-agent']).toBe('kyc-journeys-webhooks/1');
    expect(received.headers['content-length']).toBe(String(Buffer.byteLength(payload)));
    expect(received.headers.host).toBe(`127.0.0.1:${target.port}`);
  });

  it('keeps a caller supplied user-agent', async () => {
    const before = target.requests.length;
    await send('/ok', { headers: { ...baseHeaders, 'User-Agent': 'custom/2' } });
    expect(target.requests[before].headers['user-agent']).toBe('custom/2');
  });

  it('treats 204 as success with an empty body', async () => {
    expect(await send('/no-content')).toMatchObject({ outcome: 'success', statusCode: 204, responseBody: '' });
  });

  it('reports failure on 500', async () => {
    const result = await send('/error');
    expect(result).toMatchObject({ outcome: 'failure', statusCode: 500, responseBody: 'boom', retryAfterSeconds: null });
    expect(result.error).toMatch(/500/);
  });

  it('ignores Retry-After on statuses other than 429 and 503', async () => {
    expect(await send('/error-with-retry-after')).toMatchObject({ statusCode: 500, retryAfterSeconds: null });
  });

  it('does not follow redirects', async () => {
    const result = await send('/redirect');
    expect(result.outcome).toBe('failure');
    expect(result.statusCode).toBe(302);
    expect(result.error).toMatch(/redirect not followed/);
    expect(redirectTarget.requests).toHaveLength(0);
    expect(redirectTarget.connections).toBe(0);
  });

  it('parses Retry-After seconds on 429', async () => {
    expect(await send('/rate-limited')).toMatchObject({ outcome: 'failure', statusCode: 429, retryAfterSeconds: 7 });
  });

  it('parses Retry-After HTTP dates on 503', async () => {
    retryDate = new Date(Date.now() + 120_000).toUTCString();
    const result = await send('/unavailable');
    expect(result).toMatchObject({ outcome: 'failure', statusCode: 503 });
    // HTTP dates have one-second resolution.
    expect(result.retryAfterSeconds).toBeGreaterThanOrEqual(115);
    expect(result.retryAfterSeconds).toBeLessThanOrEqual(121);
  });

  it('times out on a server that never answers', async () => {
    const result = await send('/hang', { timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'failure', statusCode: null, responseBody: null, error: 'timed out after 300 ms' });
    expect(result.durationMs).toBeGreaterThanOrEqual(250);
  });

  it('times out when the body never finishes', async () => {
    const result = await send('/slow-body', { timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'failure', error: 'timed out after 300 ms' });
  });

  it('keeps only the first 1024 bytes of a large response', async () => {
    const result = await send('/big');
    expect(result.outcome).toBe('success');
    expect(result.responseBody).toHaveLength(1024);
    expect(result.responseBody).toBe('x'.repeat(1024));
  });

  it('reports connection errors as failures instead of throwing', async () => {
    const closed = await startServer(() => undefined);
    const port = closed.port;
    await stopServer(closed);
    const result = await sendWebhookRequest({
      url: `http://127.0.0.1:${port}/`,
      headers: baseHeaders,
      body: payload,
      timeoutMs: 5000,
      allowPrivateNetworks: true,
    });
    expect(result).toMatchObject({ outcome: 'failure', statusCode: null, error: 'ECONNREFUSED', responseBody: null });
  });

  it('connects to the address that was resolved and keeps the original Host header', async () => {
    const lookup = jest.spyOn(dns.promises, 'lookup').mockResolvedValue([{ address: '127.0.0.1', family: 4 }] as never);
    const before = target.requests.length;
    const result = await sendWebhookRequest({
      url: `http://hooks.customer-test.invalid:${target.port}/ok`,
      headers: baseHeaders,
      body: payload,
      timeoutMs: 5000,
      allowPrivateNetworks: true,
    });
    expect(result.outcome).toBe('success');
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(target.requests[before].headers.host).toBe(`hooks.customer-test.invalid:${target.port}`);
  });
});

describe('sendWebhookRequest refuses non-public destinations (allowPrivateNetworks: false)', () => {
  const refusedSend = (url: string) =>
    sendWebhookRequest({ url, headers: baseHeaders, body: payload, timeoutMs: 2000, allowPrivateNetworks: false });

  it.each([
    ['loopback IPv4', () => `http://127.0.0.1:${target.port}/ok`, /loopback/],
    ['localhost name', () => `http://localhost:${target.port}/ok`, /loopback|localhost/],
    ['IPv4-mapped IPv6 loopback', () => `http://[::ffff:127.0.0.1]:${target.port}/ok`, /IPv4-mapped/],
    ['IPv6 loopback', () => `http://[::1]:${target.port}/ok`, /loopback/],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', /metadata/],
  ])('refuses %s without sending anything', async (_name, url, reason) => {
    const requestsBefore = target.requests.length;
    const connectionsBefore = target.connections;
    const result = await refusedSend(url());
    expect(result.outcome).toBe('refused');
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(reason);
    expect(target.requests.length).toBe(requestsBefore);
    expect(target.connections).toBe(connectionsBefore);
  });

  it('refuses a public-looking host name that resolves to loopback', async () => {
    const lookup = jest.spyOn(dns.promises, 'lookup').mockResolvedValue([{ address: '127.0.0.1', family: 4 }] as never);
    const connectionsBefore = target.connections;
    const result = await refusedSend(`http://hooks.customer-test.invalid:${target.port}/ok`);
    expect(lookup).toHaveBeenCalled();
    expect(result).toMatchObject({ outcome: 'refused', statusCode: null });
    expect(result.error).toMatch(/non-public.*loopback/);
    expect(target.connections).toBe(connectionsBefore);
  });

  it('refuses when any resolved address is non-public', async () => {
    jest.spyOn(dns.promises, 'lookup').mockResolvedValue([
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ] as never);
    const result = await refusedSend('https://hooks.customer-test.invalid/kyc');
    expect(result).toMatchObject({ outcome: 'refused' });
    expect(result.error).toMatch(/private/);
  });

  it('reports an unresolvable host as a (retryable) failure, not a refusal', async () => {
    const err = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    jest.spyOn(dns.promises, 'lookup').mockRejectedValue(err);
    const result = await refusedSend('https://hooks.customer-test.invalid/kyc');
    expect(result).toMatchObject({ outcome: 'failure', error: 'host does not resolve' });
  });

  it('refuses an invalid URL', async () => {
    const result = await refusedSend('ftp://example.com/');
    expect(result.outcome).toBe('refused');
    expect(result.error).toMatch(/http\(s\)/);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each<[string | undefined, number | null]>([
    ['7', 7],
    ['0', 0],
    [' 12 ', 12],
    ['99999999', 7 * 24 * 3600],
    ['Wed, 01 Jan 2025 00:01:00 GMT', 60],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['Fri, 01 Jan 2100 00:00:00 GMT', 7 * 24 * 3600],
    ['-5', null],
    ['soon', null],
    ['', null],
    [undefined, null],
  ])('%p → %p', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
