import { decisionRequestIds } from '../../src/domain/decisionRequestId';

const key = 'k'.repeat(32);
const request = { organizationId: 'org-1', analysisId: 'analysis-1', idempotencyKey: 'click-42', body: { newStatus: 'user_approved', comment: 'Jane Doe, passport ok' } };

test('a retried decision request gets the same update id and comment id', () => {
  const ids = decisionRequestIds(key, request);
  expect(decisionRequestIds(key, { ...request, body: { comment: 'Jane Doe, passport ok', newStatus: 'user_approved' } })).toEqual(ids);
  expect(ids.updateId).toMatch(/^decision-[0-9a-f]{32}$/);
  expect(ids.commentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('another organization, analysis, key or decision is another request', () => {
  const ids = decisionRequestIds(key, request);
  for (const other of [
    { ...request, organizationId: 'org-2' },
    { ...request, analysisId: 'analysis-2' },
    { ...request, idempotencyKey: 'click-43' },
    { ...request, body: { newStatus: 'user_rejected', comment: 'Jane Doe, passport ok' } },
    { ...request, body: { newStatus: 'user_approved' } },
  ]) {
    const otherIds = decisionRequestIds(key, other);
    expect(otherIds.updateId).not.toBe(ids.updateId);
    expect(otherIds.commentId).not.toBe(ids.commentId);
  }
  expect(decisionRequestIds('j'.repeat(32), request).updateId).not.toBe(ids.updateId);
});

test('the update id, kept in clear in the history, shows neither the key nor the comment', () => {
  const { updateId } = decisionRequestIds(key, request);
  expect(updateId).not.toContain('click-42');
  expect(updateId).not.toMatch(/Jane|passport/);
});
