import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import {
  generateWebhookSecret,
  signWebhook,
  webhookHeaders,
  webhookIdForDelivery,
} from '../../src/domain/webhookSignature';

const body = JSON.stringify({ type: 'journey.completed', data: { journeyId: 'j_123', status: 'approved' } });
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('generateWebhookSecret', () => {
  it('produces whsec_ followed by 32 random bytes in base64', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toEqual(secret);
  });
});

describe('webhookIdForDelivery', () => {
  it('is stable and strips dashes', () => {
    const id = '3f2b8c1e-9a4d-4e7b-8f00-1234567890ab';
    expect(webhookIdForDelivery(id)).toBe('msg_3f2b8c1e9a4d4e7b8f001234567890ab');
    expect(webhookIdForDelivery(id)).toBe(webhookIdForDelivery(id));
  });
});

describe('signWebhook / webhookHeaders', () => {
  it('verifies with the standardwebhooks reference library', () => {
    const secret = generateWebhookSecret();
    const headers = webhookHeaders({ secrets: [secret], webhookId: 'msg_abc', timestamp: nowSeconds(), body });
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe('msg_abc');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with every secret during rotation so both old and new verify', () => {
    const oldSecret = generateWebhookSecret();
    const newSecret = generateWebhookSecret();
    const headers = webhookHeaders({ secrets: [oldSecret, newSecret], webhookId: 'msg_rot', timestamp: nowSeconds(), body });
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith('v1,'))).toBe(true);
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('fails verification when the body is tampered with', () => {
    const secret = generateWebhookSecret();
    const headers = webhookHeaders({ secrets: [secret], webhookId: 'msg_t', timestamp: nowSeconds(), body });
    const tampered = body.replace('approved', 'rejected');
    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow();
  });

  it('matches an independently computed known answer', () => {
    const key = Buffer.alloc(32, 0);
    for (let i = 0; i < 32; i++) key[i] = i;
    const secret = 'whsec_' + key.toString('base64');
    const webhookId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const timestamp = 1614265330;
    const payload = '{"test": 2432232314}';

    const expected = createHmac('sha256', key).update(`${webhookId}.${timestamp}.${payload}`).digest('base64');
    expect(signWebhook({ secrets: [secret], webhookId, timestamp, body: payload })).toBe(`v1,${expected}`);
    expect(webhookHeaders({ secrets: [secret], webhookId, timestamp, body: payload })).toEqual({
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': '1614265330',
      'webhook-signature': `v1,${expected}`,
    });
  });

  it('reproduces the example vector from the Standard Webhooks documentation', () => {
    const signature = signWebhook({
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      webhookId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
    });
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('matches the reference library signer byte for byte', () => {
    const secret = generateWebhookSecret();
    const timestamp = 1700000000;
    const ours = signWebhook({ secrets: [secret], webhookId: 'msg_x', timestamp, body: 'héllo ✓' });
    expect(ours).toBe(new Webhook(secret).sign('msg_x', new Date(timestamp * 1000), 'héllo ✓'));
  });

  it.each([
    ['missing prefix', 'c2VjcmV0c2VjcmV0'],
    ['wrong prefix', 'whsek_c2VjcmV0c2VjcmV0'],
    ['empty key', 'whsec_'],
    ['not base64', 'whsec_not base64!!'],
    ['bad padding', 'whsec_abc=='],
  ])('rejects a malformed secret (%s) without echoing it', (_name, bad) => {
    let error: Error | undefined;
    try {
      signWebhook({ secrets: [bad], webhookId: 'msg_1', timestamp: 1, body: '{}' });
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/whsec_/);
    if (bad.length > 'whsec_'.length) expect(error!.message).not.toContain(bad);
  });

  it('requires at least one secret', () => {
    expect(() => signWebhook({ secrets: [], webhookId: 'msg_1', timestamp: 1, body: '{}' })).toThrow(/secret/);
  });
});
