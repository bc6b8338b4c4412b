import { generateKeyPairSync } from 'node:crypto';
import { GENESIS_CHECKPOINT_HASH, loadSigningKey, signCheckpoint, verifyCheckpoints, type SignedCheckpoint } from '../../src/domain/ledgerCheckpoint';

const newKey = () => loadSigningKey(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'));
const h = (n: number) => n.toString(16).padStart(64, '0');
const org = '00000000-0000-4000-8000-0000000000aa';

function chain(keys: ReturnType<typeof newKey>[], seqs: number[]): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  seqs.forEach((seq, i) => {
    out.push(
      signCheckpoint(keys[Math.min(i, keys.length - 1)], {
        organizationId: org,
        seq,
        hash: h(seq),
        signedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
        prevCheckpointHash: out[i - 1]?.checkpointHash ?? GENESIS_CHECKPOINT_HASH,
      }),
    );
  });
  return out;
}
const ledgerOf = (lastSeq: number) => ({ lastSeq, eventHash: (seq: number) => (seq <= lastSeq ? h(seq) : undefined) });
const keysOf = (...keys: ReturnType<typeof newKey>[]) => new Map(keys.map((k) => [k.keyId, k.publicKeyPem]));

test('an intact ledger verifies against its checkpoints, across a key rotation', () => {
  const [a, b] = [newKey(), newKey()];
  const cps = chain([a, a, b], [5, 10, 12]);
  expect(cps[2].keyId).toBe(b.keyId);
  expect(verifyCheckpoints(cps, keysOf(a, b), ledgerOf(12))).toEqual({ valid: true, checked: 3, latestSeq: 12, problems: [] });
  // Without the retired key, its checkpoints cannot be vouched for.
  const kinds = verifyCheckpoints(cps, keysOf(b), ledgerOf(12)).problems.map((p) => p.kind);
  expect(kinds.filter((k) => k === 'unknown_key')).toHaveLength(2);
});

test('events cut after a checkpoint are reported missing; a changed checkpointed event as a mismatch', () => {
  const a = newKey();
  const cps = chain([a], [5, 12]);
  const cut = verifyCheckpoints(cps, keysOf(a), ledgerOf(10));
  expect(cut.valid).toBe(false);
  expect(cut.problems).toEqual([expect.objectContaining({ kind: 'missing_events', seq: 12 })]);
  const changed = verifyCheckpoints(cps, keysOf(a), { lastSeq: 12, eventHash: (seq) => (seq === 5 ? h(99) : h(seq)) });
  expect(changed.problems).toEqual([expect.objectContaining({ kind: 'event_mismatch', seq: 5 })]);
});

test('a forked or rewound checkpoint chain is reported', () => {
  const a = newKey();
  const [first, second] = chain([a], [5, 10]);
  const rival = signCheckpoint(a, { organizationId: org, seq: 8, hash: h(8), signedAt: '2026-01-02T00:00:00.000Z', prevCheckpointHash: first.checkpointHash });
  const fork = verifyCheckpoints([first, second, rival], keysOf(a), ledgerOf(12));
  expect(fork.problems.map((p) => p.kind)).toContain('forked_chain');
  // Dropping a checkpoint from the middle breaks the chain too.
  const [c1, , c3] = chain([a], [5, 10, 12]);
  expect(verifyCheckpoints([c1, c3], keysOf(a), ledgerOf(12)).problems.map((p) => p.kind)).toEqual(['forked_chain']);
});

test('a forged or altered checkpoint fails its signature', () => {
  const [a, mallory] = [newKey(), newKey()];
  const [cp] = chain([a], [5]);
  expect(verifyCheckpoints([{ ...cp, seq: 4 }], keysOf(a), ledgerOf(12)).problems[0].kind).toBe('bad_signature');
  const forged = { ...signCheckpoint(mallory, { organizationId: org, seq: 5, hash: h(5), signedAt: cp.signedAt, prevCheckpointHash: GENESIS_CHECKPOINT_HASH }), keyId: a.keyId };
  expect(verifyCheckpoints([forged], keysOf(a), ledgerOf(12)).problems[0].kind).toBe('bad_signature');
});
