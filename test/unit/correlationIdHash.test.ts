import { correlationIdHash } from '../../src/domain/correlationIdHash';

test('the CorrelationId search attribute is a keyed hash: stable, per organization, per key, never the reference', () => {
  const h = correlationIdHash('k'.repeat(32), 'org-1', 'CRM-42');
  expect(h).toMatch(/^h1:[0-9a-f]{32}$/);
  expect(h).not.toContain('CRM-42');
  expect(correlationIdHash('k'.repeat(32), 'org-1', 'CRM-42')).toBe(h);
  expect(correlationIdHash('k'.repeat(32), 'org-2', 'CRM-42')).not.toBe(h);
  expect(correlationIdHash('j'.repeat(32), 'org-1', 'CRM-42')).not.toBe(h);
});
