import { applyRetentionChange, purgeAtFor } from '../../workflows/lifecycle';

// The rule every session and analysis workflow applies to a `retentionChanged` signal.
const createdAt = '2026-01-01T00:00:00.000Z';

describe('applyRetentionChange', () => {
  test('a newer revision re-arms from the creation instant', () => {
    expect(applyRetentionChange(createdAt, 3, { dataRetention: '30d', revision: 4 })).toEqual({
      purgeAt: '2026-01-31T00:00:00.000Z',
      revision: 4,
      recorded: true,
    });
    expect(applyRetentionChange(createdAt, 0, { dataRetention: '1d12h', revision: 1 })?.purgeAt).toBe('2026-01-02T12:00:00.000Z');
  });

  test('null keeps indefinitely', () => {
    expect(applyRetentionChange(createdAt, 1, { dataRetention: null, revision: 2 })).toEqual({ purgeAt: null, revision: 2, recorded: true });
  });

  test('the same or an older revision is ignored', () => {
    expect(applyRetentionChange(createdAt, 4, { dataRetention: '1d', revision: 4 })).toBeNull();
    expect(applyRetentionChange(createdAt, 4, { dataRetention: '1d', revision: 3 })).toBeNull();
  });

  test('without a revision (typed in the UI) it applies, keeps the revision, and must be written by the workflow', () => {
    expect(applyRetentionChange(createdAt, 4, { dataRetention: '2d' })).toEqual({ purgeAt: '2026-01-03T00:00:00.000Z', revision: 4, recorded: false });
  });

  test.each([
    ['a bad duration', { dataRetention: '1x' }],
    ['an empty duration', { dataRetention: '' }],
    ['a zero duration', { dataRetention: '0d' }],
    ['a number', { dataRetention: 30 }],
    ['no value at all', {}],
    ['a fractional revision', { dataRetention: '1d', revision: 4.5 }],
    ['a revision as text', { dataRetention: '1d', revision: '9' }],
    ['null', null],
    ['a string', '30d'],
  ])('a malformed signal (%s) is ignored instead of failing the workflow task', (_label, change) => {
    expect(applyRetentionChange(createdAt, 1, change)).toBeNull();
  });
});

test('purgeAtFor counts from creation', () => {
  expect(purgeAtFor(createdAt, '90m')).toBe('2026-01-01T01:30:00.000Z');
  expect(purgeAtFor(createdAt, null)).toBeNull();
});
