import { createHmac } from 'node:crypto';
import { GENESIS_HASH, auditEventHash, chainBatch, verifyChain } from '../../src/domain/auditChain';

type Ev = { seq: number; prevHash: string; hash: string; body: Record<string, unknown> };

const KEY = 'org-chain-key-for-tests';

function buildChain(key: string | Buffer, n: number): Ev[] {
  const out: Ev[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const body = { type: 'session.updated', seq, data: { sessionId: `s${seq}`, n: seq * 1.5, tags: ['a', 'b'] } };
    const hash = auditEventHash(key, prev, body);
    out.push({ seq, prevHash: prev, hash, body });
    prev = hash;
  }
  return out;
}

describe('auditEventHash', () => {
  it('is HMAC-SHA256 over prevHash + canonical JSON, in hex', () => {
    const body = { b: 2, a: 1 };
    const expected = createHmac('sha256', KEY).update(GENESIS_HASH + '{"a":1,"b":2}').digest('hex');
    expect(auditEventHash(KEY, GENESIS_HASH, body)).toBe(expected);
    expect(auditEventHash(Buffer.from(KEY), GENESIS_HASH, { a: 1, b: 2 })).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('depends on key, prevHash and body', () => {
    const h = auditEventHash(KEY, GENESIS_HASH, { a: 1 });
    expect(auditEventHash('other', GENESIS_HASH, { a: 1 })).not.toBe(h);
    expect(auditEventHash(KEY, '1'.repeat(64), { a: 1 })).not.toBe(h);
    expect(auditEventHash(KEY, GENESIS_HASH, { a: 2 })).not.toBe(h);
  });

  it('rejects a malformed prevHash', () => {
    expect(() => auditEventHash(KEY, 'abc', {})).toThrow(TypeError);
  });
});

describe('verifyChain', () => {
  it('verifies a chain of 5', () => {
    const chain = buildChain(KEY, 5);
    expect(verifyChain(KEY, chain)).toEqual({
      valid: true,
      checked: 5,
      headSeq: 5,
      headHash: chain[4].hash,
    });
  });

  it('survives a JSON round trip of the stored events (jsonb)', () => {
    const chain = JSON.parse(JSON.stringify(buildChain(KEY, 5))) as Ev[];
    expect(verifyChain(KEY, chain).valid).toBe(true);
  });

  it('accepts any iterable, e.g. a generator', () => {
    const chain = buildChain(KEY, 3);
    function* gen() {
      yield* chain;
    }
    expect(verifyChain(KEY, gen()).checked).toBe(3);
  });

  it('reports an empty chain as valid with no head', () => {
    expect(verifyChain(KEY, [])).toEqual({ valid: true, checked: 0, headSeq: null, headHash: null });
  });

  it('detects a changed body at seq 3', () => {
    const chain = buildChain(KEY, 5);
    chain[2] = { ...chain[2], body: { ...chain[2].body, type: 'session.deleted' } };
    expect(verifyChain(KEY, chain)).toEqual({
      valid: false,
      checked: 2,
      headSeq: 2,
      headHash: chain[1].hash,
      firstInvalidSeq: 3,
    });
  });

  it('detects a rewritten event whose hash was recomputed (broken link at the next event)', () => {
    const chain = buildChain(KEY, 5);
    const body = { forged: true };
    chain[2] = { ...chain[2], body, hash: auditEventHash(KEY, chain[2].prevHash, body) };
    expect(verifyChain(KEY, chain)).toMatchObject({ valid: false, checked: 3, firstInvalidSeq: 4 });
  });

  it('detects a gap in seq', () => {
    const chain = buildChain(KEY, 5);
    const gapped = [chain[0], chain[1], chain[3], chain[4]];
    expect(verifyChain(KEY, gapped)).toMatchObject({ valid: false, checked: 2, headSeq: 2, firstInvalidSeq: 3 });
  });

  it('detects a chain not starting at seq 1 or not starting from genesis', () => {
    const chain = buildChain(KEY, 3);
    expect(verifyChain(KEY, chain.slice(1))).toMatchObject({ valid: false, checked: 0, firstInvalidSeq: 1 });
    const body = { a: 1 };
    const prev = '1'.repeat(64);
    const notGenesis = [{ seq: 1, prevHash: prev, hash: auditEventHash(KEY, prev, body), body }];
    expect(verifyChain(KEY, notGenesis)).toMatchObject({ valid: false, firstInvalidSeq: 1 });
  });

  it('detects a duplicated event', () => {
    const chain = buildChain(KEY, 3);
    expect(verifyChain(KEY, [chain[0], chain[1], chain[1], chain[2]])).toMatchObject({
      valid: false,
      checked: 2,
      firstInvalidSeq: 3,
    });
  });

  it('detects a deleted tail only by head comparison (chain prefix stays valid)', () => {
    const chain = buildChain(KEY, 5);
    const r = verifyChain(KEY, chain.slice(0, 4));
    expect(r).toMatchObject({ valid: true, headSeq: 4 });
    expect(r.headHash).not.toBe(chain[4].hash);
  });

  it('with the wrong key is invalid at 1', () => {
    const chain = buildChain(KEY, 5);
    expect(verifyChain('wrong-key', chain)).toEqual({
      valid: false,
      checked: 0,
      headSeq: null,
      headHash: null,
      firstInvalidSeq: 1,
    });
  });

  it('treats a non-canonicalizable body as invalid rather than throwing', () => {
    const chain = buildChain(KEY, 2);
    chain[1] = { ...chain[1], body: { n: NaN } };
    expect(verifyChain(KEY, chain)).toMatchObject({ valid: false, firstInvalidSeq: 2 });
  });
});

describe('chainBatch (the sequencer step)', () => {
  const body = (e: { id: string }, seq: number) => ({ id: e.id, seq });

  it('batches chained one after another form the same chain as one batch, and it verifies', () => {
    const events = Array.from({ length: 7 }, (_, i) => ({ id: `e${i}` }));
    const whole = chainBatch(KEY, { seq: 0, hash: GENESIS_HASH }, events, body);
    const first = chainBatch(KEY, { seq: 0, hash: GENESIS_HASH }, events.slice(0, 3), body);
    const tail = first[first.length - 1];
    const second = chainBatch(KEY, { seq: tail.seq, hash: tail.hash }, events.slice(3), body);
    expect([...first, ...second]).toEqual(whole);
    expect(whole.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const chain = whole.map((l, i) => ({ ...l, body: body(events[i], l.seq) }));
    expect(verifyChain(KEY, chain)).toEqual({ valid: true, checked: 7, headSeq: 7, headHash: whole[6].hash });
  });

  it('links the first event to the head and hashes a body that holds its seq', () => {
    const head = { seq: 41, hash: 'a'.repeat(64) };
    const [link] = chainBatch(KEY, head, [{ id: 'x' }], body);
    expect(link).toEqual({ seq: 42, prevHash: head.hash, hash: auditEventHash(KEY, head.hash, { id: 'x', seq: 42 }) });
  });

  it('an empty batch chains nothing; a malformed head is refused', () => {
    expect(chainBatch(KEY, { seq: 3, hash: GENESIS_HASH }, [], body)).toEqual([]);
    expect(() => chainBatch(KEY, { seq: -1, hash: GENESIS_HASH }, [{ id: 'x' }], body)).toThrow(TypeError);
    expect(() => chainBatch(KEY, { seq: 0, hash: 'not-hex' }, [{ id: 'x' }], body)).toThrow(TypeError);
  });
});
