import { ConfigError, parseConfig } from '../../src/config';

const base = { AUDIT_HMAC_KEY: 'k'.repeat(32), PAYLOAD_MASTER_KEY: 'ab'.repeat(32) };

test('the API binds to loopback while private-network webhooks are allowed', () => {
  expect(parseConfig({ ...base, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }).HOST).toBe('127.0.0.1');
  expect(parseConfig({ ...base, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }).HOST).toBe('0.0.0.0');
  expect(() => parseConfig({ ...base, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', HOST: '0.0.0.0' })).toThrow(ConfigError);
  expect(() => parseConfig({ ...base, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', HOST: '0.0.0.0' })).toThrow(/HOST must be a loopback/);
});

test('rate limits are validated', () => {
  expect(parseConfig({ ...base }).RATE_LIMIT_UNAUTHENTICATED).toBe('60/1m');
  expect(() => parseConfig({ ...base, RATE_LIMIT_VERIFY: 'lots' })).toThrow(/RATE_LIMIT_VERIFY/);
});
