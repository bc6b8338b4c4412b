import type { BrowserContext, Page } from 'playwright-core';
import { WebhookReceiver } from '../support/receiver';
import { describeWithChromium, launchBrowser, screenshot, waitForText, watchPageErrors } from '../support/browser';
import { addOperator, call, newOrganization, startSystem, waitUntil, type TestSystem } from '../support/system';

// The back office in a real headless Chromium against the whole system (API, worker, Temporal
// dev server, PostgreSQL, a real webhook receiver): what an admin, an analyst and an auditor
// see and can do.

let sys: TestSystem;
let browser: BrowserContext;
let receiver: WebhookReceiver;
let org: Awaited<ReturnType<typeof newOrganization>>;

describeWithChromium('back office in Chromium', () => {
  beforeAll(async () => {
    [sys, browser, receiver] = await Promise.all([startSystem(), launchBrowser(), new WebhookReceiver().start()]);
    org = await newOrganization(sys.db);
  });
  afterAll(async () => {
    await browser?.close();
    await receiver?.stop();
    await sys?.stop();
  });

  async function signedIn(token: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    const errors = watchPageErrors(page);
    await page.goto(`${sys.baseUrl}/`);
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#app').waitFor({ state: 'visible' });
    await page.locator('#panel-settings[data-loaded]').waitFor();
    // The token stays out of the URL and in this tab's session storage.
    expect(page.url()).toBe(`${sys.baseUrl}/`);
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('kyc.operatorToken'))).toBe(token);
    return { page, errors };
  }

  test('an admin changes the retention and the link expiry, confirms the preview, and sees both in the action history', async () => {
    const { page, errors } = await signedIn(org.adminToken);
    expect(await page.locator('#sessionLinkExpiry-d').inputValue()).toBe('1');
    await page.getByLabel('Keep indefinitely (no retention)').uncheck();
    await page.locator('#dataRetention-d').fill('30');
    await page.locator('#sessionLinkExpiry-d').fill('0');
    await page.locator('#sessionLinkExpiry-h').fill('12');
    await waitForText(page.locator('#change-summary'), 'kept 30 days after creation');
    await page.getByRole('button', { name: 'Save settings' }).click();
    // A shorter retention (indefinitely → 30 days) is previewed before anything is saved.
    await waitForText(page.locator('#retention-preview'), 'Shorter retention');
    await waitForText(page.locator('#retention-preview'), 'Purged data cannot be recovered.');
    expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken })).body.dataRetention).toBeNull();
    await screenshot(page, 'settings-retention-preview');
    await page.getByRole('button', { name: 'Save anyway' }).click();
    await waitForText(page.locator('#settings-status'), 'Settings saved.');
    const saved = (await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken })).body;
    expect(saved).toMatchObject({ dataRetention: '30d', sessionLinkExpiry: '12h' });

    await page.getByRole('tab', { name: 'Operator action history' }).click();
    await waitForText(page.locator('#chain-status'), 'Chain verified');
    const row = page.locator('#history-table tbody tr', { hasText: 'settings.update' }).first();
    await waitForText(row, '30d');
    await waitForText(row, '12h');
    await screenshot(page, 'tab-history');
    // The filters narrow it: only settings changes.
    await page.getByLabel('Action', { exact: true }).fill('settings.update');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await waitForText(page.locator('#history-table tbody tr'), 'settings.update');
    for (const text of await page.locator('#history-table tbody tr td:nth-child(4)').allTextContents()) expect(text).toBe('settings.update');
    // Export goes through fetch with the header (never a token in a URL) and downloads a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^audit-events-\d+\.ndjson$/);
    await page.getByRole('tab', { name: 'Advanced settings' }).click();
    await screenshot(page, 'tab-settings');
    expect(errors).toEqual([]);
    await page.close();
  });

  test("invalid input shows the API's field error next to the field and saves nothing", async () => {
    const before = (await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken })).body;
    const { page, errors } = await signedIn(org.adminToken);
    await page.locator('#sessionLinkExpiry-d').fill('61');
    await page.getByRole('button', { name: 'Save settings' }).click();
    const fieldError = page.locator('#sessionLinkExpiry-error');
    await waitForText(fieldError, '60d');
    expect(await page.locator('#sessionLinkExpiry-group').getAttribute('aria-invalid')).toBe('true');
    // The message is the API's own, for that field.
    const api = await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { sessionLinkExpiry: '61d' } });
    expect(await fieldError.textContent()).toBe(api.body.errors.find((e: { path: string }) => e.path === 'sessionLinkExpiry').message);
    await page.locator('#decisionWebhookUrl').fill('ftp://example.com/hook');
    await page.locator('#sessionLinkExpiry-d').fill('1');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await waitForText(page.locator('#decisionWebhookUrl-error'), /\S/);
    expect(await page.locator('#decisionWebhookUrl').getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'settings-field-error');
    expect((await call(sys.baseUrl, 'GET', '/v1/settings', { token: org.adminToken })).body).toEqual(before);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('an analyst approves an analysis from the review queue and the decision webhook reaches the receiver', async () => {
    await call(sys.baseUrl, 'PATCH', '/v1/settings', { token: org.adminToken, body: { decisionWebhookUrl: `${receiver.url}/decision` } });
    const session = await call(sys.baseUrl, 'POST', '/v1/sessions', { token: org.apiKey, body: { correlationId: 'CRM-7' } });
    const link = new URL(session.body.link.url).pathname;
    await call(sys.baseUrl, 'GET', link);
    const analysis = await call(sys.baseUrl, 'POST', `/v1/sessions/${session.body.id}/analyses`, {
      token: org.apiKey,
      body: { kind: 'id_document', status: 'verify', result: { score: 0.61 } },
    });
    await call(sys.baseUrl, 'POST', `${link}/complete`);

    const analyst = await addOperator(sys.db, org.organizationId, 'analyst');
    const { page, errors } = await signedIn(analyst.token);
    // An analyst has no history or deliveries tab, and no settings buttons.
    expect(await page.getByRole('tab', { name: 'Operator action history' }).isVisible()).toBe(false);
    expect(await page.getByRole('button', { name: 'Save settings' }).isVisible()).toBe(false);
    await page.getByRole('tab', { name: 'Review queue' }).click();
    await page.locator(`[data-analysis-id="${analysis.body.id}"]`).click();
    await waitForText(page.locator('#review-detail'), session.body.id);
    await waitForText(page.locator('#review-detail'), 'completed');
    await page.getByLabel('Comment (recorded with the decision)').fill('document checked by hand');
    await screenshot(page, 'tab-review');
    const decisionRequest = page.waitForRequest((r) => r.url().endsWith(`/v1/analyses/${analysis.body.id}/decision`));
    await page.getByRole('button', { name: 'Approve' }).click();
    await waitForText(page.locator('#decision-status'), 'user_approved');
    // Sent with a key of its form: clicking again after a 503 would not record a second decision.
    expect((await decisionRequest).headers()['idempotency-key']).toMatch(/^[0-9a-f]{32}$/);

    const [hook] = await receiver.waitForPath('/decision');
    expect(JSON.parse(hook.body)).toEqual({
      analysisId: analysis.body.id,
      entityId: session.body.entityId,
      correlationId: 'CRM-7',
      sessionId: session.body.id,
      newStatus: 'user_approved',
    });
    await page.locator(`[data-analysis-id="${analysis.body.id}"]`).waitFor({ state: 'detached' }); // left the queue
    const decided = await call(sys.baseUrl, 'GET', `/v1/analyses/${analysis.body.id}`, { token: org.apiKey });
    expect(decided.body).toMatchObject({ status: 'user_approved', decidedBy: analyst.id });
    expect(errors).toEqual([]);
    await page.close();

    // The admin sees the delivery with its attempt, and can redeliver it.
    const admin = await signedIn(org.adminToken);
    await admin.page.getByRole('tab', { name: 'Webhook deliveries' }).click();
    const delivery = admin.page.locator('article.delivery', { hasText: 'decision' }).first();
    await waitForText(delivery, 'succeeded');
    await delivery.locator('summary').click();
    expect(await delivery.locator('tbody tr').count()).toBe(1);
    await screenshot(admin.page, 'tab-deliveries');
    await delivery.getByRole('button', { name: 'Redeliver' }).click();
    await receiver.waitForPath('/decision', 2);
    await waitUntil(() => call(sys.baseUrl, 'GET', '/v1/webhook-deliveries?event=decision', { token: org.adminToken }), (r) => r.body.data[0]?.status === 'succeeded' && r.body.data[0].attempts.length === 2);
    expect(admin.errors).toEqual([]);
    await admin.page.close();
  });

  test('an auditor sees the action history and no button that would be refused', async () => {
    const auditor = await addOperator(sys.db, org.organizationId, 'auditor');
    const { page, errors } = await signedIn(auditor.token);
    expect(await page.locator('#sessionLinkExpiry-h').inputValue()).toBe('12'); // the settings are shown (12h, set by the admin above)…
    for (const name of ['Save settings', 'Send test', 'Reveal', 'Rotate']) {
      expect(await page.getByRole('button', { name }).count()).toBe(0); // …with no button (hidden ones are not in the a11y tree)
    }
    expect(await page.locator('#dataRetention-d').isDisabled()).toBe(true);
    await screenshot(page, 'auditor-settings');
    await page.getByRole('tab', { name: 'Operator action history' }).click();
    await waitForText(page.locator('#chain-status'), 'Chain verified');
    await waitForText(page.locator('#history-table tbody tr'), 'settings.update');
    await page.getByRole('tab', { name: 'Webhook deliveries' }).click();
    await page.locator('article.delivery').first().waitFor();
    expect(await page.getByRole('button', { name: 'Redeliver' }).count()).toBe(0);
    await page.getByRole('tab', { name: 'Review queue' }).click();
    await page.locator('#review-empty').waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });
});
