import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Connection } from '@temporalio/client';
import type { BrowserContext, Page } from 'playwright-core';
import { customSearchAttributes } from '../../src/temporal/searchAttributes';
import { describeWithChromium, launchBrowser, screenshot, waitForText } from '../support/browser';
import { call, newOrganization, startSystem, waitUntil, type TestSystem } from '../support/system';

// The Temporal Web UI of a dev server started here with its UI (free ports), as an operator
// uses it: the session's workflow is listed when filtered by SessionStatus, and its page shows
// the summary and details our workflows set.

let temporal: ChildProcess | undefined;
let uiPort: number;
let codecUrl: string;
let sys: TestSystem;
let browser: BrowserContext;

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/**
 * The UI calls its codec endpoint from the page, with the token the operator pasted in its codec
 * settings; here the page's calls are forwarded to the API's codec server with an operator token.
 */
async function routeCodec(page: Page, token: string): Promise<void> {
  await page.route(`${codecUrl}/**`, async (route) => {
    const cors = { 'access-control-allow-origin': `http://127.0.0.1:${uiPort}`, 'access-control-allow-headers': 'Authorization, Content-Type, X-Namespace', 'access-control-allow-methods': 'POST, OPTIONS', 'access-control-allow-credentials': 'true' };
    if (route.request().method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const r = await fetch(`${sys.baseUrl}/codec/${route.request().url().split('/codec/')[1]}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-namespace': 'default' }, body: route.request().postData() ?? '' });
    return route.fulfill({ status: r.status, headers: { ...cors, 'content-type': 'application/json' }, body: await r.text() });
  });
}

describeWithChromium('Temporal Web UI', () => {
  beforeAll(async () => {
    const [port, ui, http, metrics, codec] = await freePorts(5);
    uiPort = ui;
    // The UI calls this codec endpoint from the page; the test forwards it to the API's codec server.
    codecUrl = `http://127.0.0.1:${codec}/codec`;
    const cli = process.env.TEMPORAL_CLI_PATH!;
    temporal = spawn(
      cli,
      [
        'server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(ui),
        '--http-port', String(http), '--ui-codec-endpoint', codecUrl, '--metrics-port', String(metrics), '--log-level', 'error',
        ...customSearchAttributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.cliType}`]),
      ],
      { stdio: 'ignore', env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_'))) },
    );
    const address = `127.0.0.1:${port}`;
    await waitUntil(
      () => Connection.connect({ address, connectTimeout: '2s' }).then(async (c) => { await c.workflowService.getSystemInfo({}); await c.close(); return true; }, () => false),
      (up) => up,
      90_000,
      500,
    );
    await waitUntil(() => fetch(`http://127.0.0.1:${ui}/`).then((r) => r.ok, () => false), (up) => up, 90_000, 500);
    [sys, browser] = await Promise.all([startSystem({ TEMPORAL_ADDRESS: address }), launchBrowser()]);
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    if (temporal && temporal.exitCode === null) {
      const exited = new Promise((r) => temporal!.once('exit', r));
      temporal.kill('SIGTERM');
      await exited;
    }
  });

  test("lists the session's workflow filtered by SessionStatus; its summary and details are set for the UI", async () => {
    const org = await newOrganization(sys.db);
    const session = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: {} });
    const link = new URL(session.body.link.url).pathname;
    await call(sys.baseUrl, 'GET', link);
    await call(sys.baseUrl, 'POST', `/v1/sessions/${session.body.id}/analyses`, { token: org.apiKey, body: { kind: 'id_document', status: 'verify' } });
    expect((await call(sys.baseUrl, 'POST', `${link}/complete`)).status).toBe(202);
    const workflowId = `session-${session.body.id}`;
    // Visibility is eventually consistent: wait until the server lists it, then look as a person would.
    const listQuery = `SessionStatus="completed" AND Verdict="verify" AND OrganizationId="${org.organizationId}"`;
    await waitUntil(async () => (await sys.client.workflow.count(listQuery)).count, (n) => n === 1, 60_000, 250);

    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(listQuery)}`);
    await waitForText(page.locator('body'), workflowId, 60_000);
    await screenshot(page, 'temporal-ui-list');
    // Another status lists nothing of this organization.
    const other = `SessionStatus="expired" AND OrganizationId="${org.organizationId}"`;
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(other)}`);
    await waitForText(page.locator('body'), /No Workflows|No results/i, 60_000);
    expect(await page.locator('body').innerText()).not.toContain(workflowId);

    const described = await sys.client.workflow.getHandle(workflowId).describe();
    // What the UI's Summary/Details show: set at start, ids and instants only.
    expect(await described.staticSummary()).toBe(`Journey session ${session.body.id}`);
    expect(await described.staticDetails()).toContain(`link expires ${session.body.link.expiresAt}`);
    expect(await described.staticDetails()).not.toMatch(/CRM|@|firstName/);
    // The UI decodes through the API's codec server with an operator token, as operators do.
    await routeCodec(page, org.adminToken);
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${workflowId}/${described.runId}/history`);
    await waitForText(page.locator('body'), 'journeySession', 60_000);
    await waitForText(page.locator('body'), `Journey session ${session.body.id}`, 60_000);
    await screenshot(page, 'temporal-ui-workflow');
    await page.close();
  });

  test('after the session is erased its payloads show as undecodable in the UI (key destroyed), its ids still readable', async () => {
    const org = await newOrganization(sys.db);
    const session = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: `crm-${Date.now()}` } });
    const sessionId: string = session.body.id;
    const workflowId = `session-${sessionId}`;
    const handle = sys.client.workflow.getHandle(workflowId);
    const erased = await call(sys.baseUrl, 'DELETE', `/v1/sessions/${sessionId}`, { token: org.adminToken });
    expect(erased.status).toBe(200);
    // The purge's tombstone: the workflow ends with it.
    expect(await handle.result()).toMatchObject({ status: 'purged', purgedAt: erased.body.purgedAt });
    const { runId } = await handle.describe();

    // What the codec server answers for the start event's input: 200, the payload as it was
    // (still sealed, its key id alone in clear) since its data key is destroyed.
    const history = await handle.fetchHistory();
    const input = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
    const wire = { payloads: input.map((p) => ({ metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(p.data!).toString('base64') })) };
    const decoded = await call(sys.baseUrl, 'POST', '/codec/decode', { token: org.adminToken, body: wire, headers: { 'x-namespace': 'default' } });
    expect(decoded.status).toBe(200);
    expect(decoded.body).toEqual(wire);
    expect(Buffer.from(decoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');

    const page = await browser.newPage();
    await routeCodec(page, org.adminToken);
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${workflowId}/${runId}/history`);
    // The result was written after the purge under the organization's key: shown decoded, so the
    // codec server has answered this page.
    await waitForText(page.locator('body'), `"purgedAt": "${erased.body.purgedAt}"`, 60_000);
    await screenshot(page, 'temporal-ui-purged');
    const text = await page.locator('body').innerText();
    // What the operator sees: the input is an opaque base64 string (the sealed bytes), no summary.
    expect(text).toContain(`"${wire.payloads[0].data}"`);
    expect(text).not.toContain(`Journey session ${sessionId}`);
    expect(text).not.toContain("crm-");
    expect(text).toContain('"status": "purged"');
    await page.close();
  });
});
