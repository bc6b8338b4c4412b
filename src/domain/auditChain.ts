// Tamper-evident, per-organization audit hash chain:
//   hash_n = hex(HMAC-SHA256(key, hash_{n-1} + canonicalJson(body_n))), hash_0 = GENESIS_HASH.
// A keyed MAC (not a bare hash) so someone with DB write access but without the key
// cannot rewrite history and recompute a consistent chain.
import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonicalJson';

export const GENESIS_HASH = '0'.repeat(64);

const HASH_RE = /^[0-9a-f]{64}$/;

export interface ChainEvent {
  seq: number;
  prevHash: string;
  hash: string;
  body: Record<string, unknown>;
}

export interface ChainVerification {
  valid: boolean;
  /** Number of events verified as valid (the valid prefix; verification stops at the first break). */
  checked: number;
  /** seq/hash of the last valid event, null if none was valid. */
  headSeq: number | null;
  headHash: string | null;
  /**
   * Chain position (1-based) where verification failed: the expected seq at that point.
   * For a tampered event it equals that event's seq; for a gap (1,2,4) it is the missing 3.
   */
  firstInvalidSeq?: number;
}

export function auditEventHash(key: string | Buffer, prevHash: string, event: Record<string, unknown>): string {
  // Fixed-width hex prefix keeps the prevHash/body concatenation unambiguous.
  if (!HASH_RE.test(prevHash)) throw new TypeError('auditEventHash: prevHash must be 64 lowercase hex chars');
  return createHmac('sha256', key).update(prevHash + canonicalJson(event), 'utf8').digest('hex');
}

export interface ChainVerifier {
  /** Checks the next event; false once the chain is broken (later events are ignored). */
  push(event: ChainEvent): boolean;
  result(): ChainVerification;
}

/** Incremental verification, so a ledger can be checked while it streams from the database. */
export function createChainVerifier(key: string | Buffer): ChainVerifier {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  let headSeq: number | null = null;
  let headHash: string | null = null;
  let firstInvalidSeq: number | undefined;

  return {
    push(event) {
      if (firstInvalidSeq !== undefined) return false;
      let ok = event.seq === expectedSeq && event.prevHash === prevHash;
      if (ok) {
        let recomputed: string;
        try {
          recomputed = auditEventHash(key, prevHash, event.body);
        } catch {
          recomputed = ''; // body not canonicalizable -> cannot match
        }
        ok = recomputed === event.hash;
      }
      if (!ok) {
        firstInvalidSeq = expectedSeq;
        return false;
      }
      checked += 1;
      headSeq = event.seq;
      headHash = event.hash;
      prevHash = event.hash;
      expectedSeq += 1;
      return true;
    },
    result() {
      return firstInvalidSeq === undefined
        ? { valid: true, checked, headSeq, headHash }
        : { valid: false, checked, headSeq, headHash, firstInvalidSeq };
    },
  };
}

/** Events must be supplied in seq order, starting at seq 1. */
export function verifyChain(key: string | Buffer, events: Iterable<ChainEvent>): ChainVerification {
  const verifier = createChainVerifier(key);
  for (const event of events) if (!verifier.push(event)) break;
  return verifier.result();
}

export interface ChainLink {
  seq: number;
  prevHash: string;
  hash: string;
}

/**
 * Chains a batch after the head `{seq, hash}`: the i-th event gets seq head.seq + 1 + i, the
 * previous event's hash (the head's for the first) and its HMAC over `body(event, seq)` (the
 * body holds the seq, so it is built once the seq is known). The sequencer's step.
 */
export function chainBatch<T>(
  key: string | Buffer,
  head: { seq: number; hash: string },
  events: readonly T[],
  body: (event: T, seq: number) => Record<string, unknown>,
): ChainLink[] {
  if (!Number.isSafeInteger(head.seq) || head.seq < 0) throw new TypeError('chainBatch: head.seq must be a whole number');
  const links: ChainLink[] = [];
  let prevHash = head.hash;
  events.forEach((event, i) => {
    const seq = head.seq + 1 + i;
    const hash = auditEventHash(key, prevHash, body(event, seq));
    links.push({ seq, prevHash, hash });
    prevHash = hash;
  });
  return links;
}
