import * as dns from 'node:dns';
import { WebhookReceiver } from '../support/receiver';
import { call, newOrganization, startSystem, TestSystem } from '../support/system';
import { deliveryResult, sessionEndDelivery } from '../support/webhooks';

// SSRF guard ON (WEBHOOK_ALLOW_PRIVATE_NETWORKS=false), the real API, worker and Temporal dev
// server. Host names under .attacker.test / .customer.test are answered by a stand-in resolver
// (the process's dns.promises.lookup), so a test can make a name point anywhere, and change
// it between saving and delivering (DNS rebinding). Everything else resolves normally.
let sys: TestSystem;
let receiver: WebhookReceiver;
const PUBLIC_IP = '93.184.216.34';
const answers = new Map<string, string>();

beforeAll(async () => {
  sys = await startSystem({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' });
  receiver = await new WebhookReceiver().start();
  const realLookup = dns.promises.lookup.bind(dns.promises) as (...args: unknown[]) => Promise<unknown>;
  jest.spyOn(dns.promises, 'lookup').mockImplementation((async (hostname: string, options: unknown) => {
    const address = answers.get(hostname);
    if (address === undefined) return realLookup(hostname, options);
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  }) as never);
});
afterAll(async () => {
  jest.restoreAllMocks();
  await receiver?.stop();
  await sys?.stop();
});

const port = () => new URL(receiver.url).port;

async function patchUrl(adminToken: string, url: string) {
  return call(sys.baseUrl, 'PATCH', '/v1/settings', { token: adminToken, body: { sessionEndWebhookUrl: url } });
}

const refusedAtSave: [string, () => string, RegExp][] = [
  ['private 10/8', () => 'http://10.1.2.3/hooks', /private address/],
  ['private 172.16/12', () => 'http://172.16.0.1/hooks', /private address/],
  ['private 192.168/16', () => 'https://192.168.1.10/hooks', /private address/],
  ['IPv6 unique local', () => 'http://[fd12:3456::1]/hooks', /unique local/],
  ['loopback', () => `http://127.0.0.1:${port()}/hooks`, /loopback/],
  ['loopback written as one number', () => 'http://2130706433/hooks', /loopback/],
  ['IPv6 loopback', () => `http://[::1]:${port()}/hooks`, /loopback/],
  ['localhost', () => `http://localhost:${port()}/hooks`, /loopback/],
  ['link-local', () => 'http://169.254.10.20/hooks', /link-local/],
  ['IPv6 link-local', () => 'http://[fe80::1]/hooks', /link-local/],
  ['carrier-grade NAT', () => 'http://100.64.0.1/hooks', /carrier-grade NAT/],
  ['multicast', () => 'http://224.0.0.251/hooks', /multicast/],
  ['IPv6 multicast', () => 'http://[ff02::1]/hooks', /multicast/],
  ['reserved 240/4', () => 'http://240.0.0.1/hooks', /reserved/],
  ['unspecified', () => 'http://0.0.0.0/hooks', /unspecified/],
  ['broadcast', () => 'http://255.255.255.255/hooks', /broadcast/],
  ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', /metadata/],
  ['IPv6 cloud metadata', () => 'http://[fd00:ec2::254]/latest/meta-data/', /metadata/],
  ['IPv4-mapped IPv6 loopback', () => `http://[::ffff:127.0.0.1]:${port()}/hooks`, /IPv4-mapped.*loopback/],
  ['IPv4-mapped IPv6 metadata', () => 'http://[::ffff:169.254.169.254]/', /IPv4-mapped.*metadata/],
  ['IPv4-mapped IPv6 private', () => 'http://[::ffff:10.0.0.1]/', /IPv4-mapped.*private/],
  ['a name resolving to 127.0.0.1', () => `http://loopback.attacker.test:${port()}/hooks`, /resolves to a non-public address \(loopback/],
  ['a name resolving to 169.254.169.254', () => 'http://metadata.attacker.test/latest/', /resolves to a non-public address \(cloud metadata/],
  ['a name resolving to ::ffff:127.0.0.1', () => 'http://mapped.attacker.test/hooks', /resolves to a non-public address \(IPv4-mapped/],
];

describe('at save time', () => {
  let org: Awaited<ReturnType<typeof newOrganization>>;
  beforeAll(async () => {
    org = await newOrganization(sys.db);
    answers.set('loopback.attacker.test', '127.0.0.1');
    answers.set('metadata.attacker.test', '169.254.169.254');
    answers.set('mapped.attacker.test', '::ffff:127.0.0.1');
    answers.set('hooks.customer.test', PUBLIC_IP);
  });

  test.each(refusedAtSave)('refuses %s with a clear 400 and saves nothing', async (_label, url, reason) => {
    const res = await patchUrl(org.adminToken, url());
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.errors).toEqual([{ path: 'sessionEndWebhookUrl', message: expect.stringMatching(/^destination not allowed: /) }]);
    expect(res.body.errors[0].message).toMatch(reason);
    const settings = await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken });
    expect(settings.body.sessionEndWebhookUrl).toBeNull();
  });

  test.each([
    ['ftp', 'ftp://hooks.customer.test/in'],
    ['file', 'file:///etc/passwd'],
    ['javascript', 'javascript:alert(1)'],
    ['credentials in the URL', 'https://user:pw@hooks.customer.test/in'],
  ])('refuses a non-http(s) or unsafe URL (%s)', async (_label, url) => {
    const res = await patchUrl(org.adminToken, url);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('sessionEndWebhookUrl');
  });

  test('accepts a name that resolves to a public address', async () => {
    const res = await patchUrl(org.adminToken, 'https://hooks.customer.test/kyc');
    expect(res.status).toBe(200);
    expect(res.body.sessionEndWebhookUrl).toBe('https://hooks.customer.test/kyc');
  });
});

describe('at delivery time, after DNS resolution', () => {
  /** Completes a session and waits for its delivery to end. */
  async function deliver(org: Awaited<ReturnType<typeof newOrganization>>) {
    const created = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
    expect((await call(sys.baseUrl, 'POST', `${new URL(created.body.link.url).pathname}/complete`)).status).toBe(202);
    const delivery = await sessionEndDelivery(sys.db, org.organizationId, created.body.id);
    const result = await deliveryResult(sys.client, sys.db, delivery.id);
    const log = await call(sys.baseUrl, 'GET', `/v1/webhook-deliveries/${delivery.id}`, { token: org.adminToken });
    return { deliveryId: delivery.id as string, result, log: log.body };
  }

  function expectAllRefused(log: { status: string; attempts: { outcome: string; statusCode: number | null; error: string }[] }, reason: RegExp) {
    expect(log.status).toBe('failed');
    expect(log.attempts).toHaveLength(4); // every attempt of the 1 s, 1 s, 1 s test schedule
    for (const attempt of log.attempts) {
      expect(attempt).toMatchObject({ outcome: 'refused', statusCode: null });
      expect(attempt.error).toMatch(reason);
    }
  }

  test('a private URL that reached the settings anyway is refused at every attempt: recorded, never sent', async () => {
    const org = await newOrganization(sys.db);
    // As if it had been saved before the guard was switched on.
    await sys.db('settings').where({ organization_id: org.organizationId }).update({ session_end_webhook_url: `${receiver.url}/direct` });
    const connections = receiver.connections;

    const { deliveryId, result, log } = await deliver(org);
    expect(result).toBe('failed');
    expectAllRefused(log, /loopback/);
    expect(receiver.forPath('/direct')).toHaveLength(0);
    expect(receiver.connections).toBe(connections);
    const exhausted = await sys.db('audit_events').where({ organization_id: org.organizationId, action: 'webhook_delivery.exhausted' });
    expect(exhausted.map((e) => e.resource_id)).toEqual([deliveryId]);
  });

  test.each([
    ['127.0.0.1', /non-public address \(loopback/],
    ['169.254.169.254', /non-public address \(cloud metadata/],
    ['::ffff:127.0.0.1', /non-public address \(IPv4-mapped/],
  ])('a name that was public when saved and resolves to %s when delivering is refused (no DNS-rebinding gap)', async (address, reason) => {
    const org = await newOrganization(sys.db);
    const host = `rebind-${org.organizationId.slice(0, 8)}.attacker.test`;
    answers.set(host, PUBLIC_IP);
    expect((await patchUrl(org.adminToken, `http://${host}:${port()}/rebind`)).status).toBe(200);
    answers.set(host, address);
    const connections = receiver.connections;

    const { result, log } = await deliver(org);
    expect(result).toBe('failed');
    expectAllRefused(log, reason);
    expect(receiver.forPath('/rebind')).toHaveLength(0);
    expect(receiver.connections).toBe(connections);
  });

  test('a test send to a refused destination answers with the refusal and sends nothing', async () => {
    const org = await newOrganization(sys.db);
    await sys.db('settings').where({ organization_id: org.organizationId }).update({ session_end_webhook_url: `${receiver.url}/test-direct` });
    const connections = receiver.connections;
    const res = await call(sys.baseUrl, 'POST', '/v1/settings/webhooks/test', { token: org.adminToken, body: { endpoint: 'session_end' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: 'refused', statusCode: null, responseBody: null });
    expect(res.body.error).toMatch(/loopback/);
    expect(receiver.connections).toBe(connections);
    expect(receiver.requests.filter((r) => r.path === '/test-direct')).toHaveLength(0);
  });
});
