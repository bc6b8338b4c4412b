// Signed checkpoints of an organization's audit chain. A checkpoint states "event `seq` of
// this organization has hash `hash`", chained to the previous checkpoint and signed with
// Ed25519. Anyone holding the public key can then check an export (or the live ledger) for
// events removed after a checkpoint, rewritten checkpointed events, and a forked or rewound
// checkpoint chain; nobody holding it can forge one. Pure apart from node:crypto.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonicalJson';

export const GENESIS_CHECKPOINT_HASH = '0'.repeat(64);

/** What is signed: canonical JSON of exactly these fields. */
export interface CheckpointBody {
  organizationId: string;
  seq: number;
  hash: string;
  signedAt: string;
  prevCheckpointHash: string;
  keyId: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  checkpointHash: string;
  signature: string;
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

export const checkpointBody = (c: CheckpointBody): CheckpointBody => ({
  organizationId: c.organizationId,
  seq: c.seq,
  hash: c.hash,
  signedAt: c.signedAt,
  prevCheckpointHash: c.prevCheckpointHash,
  keyId: c.keyId,
});

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** A key's id: the first 16 hex digits of SHA-256 over its SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return sha256(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

/** AUDIT_SIGNING_KEY: a PKCS#8 PEM, or its DER in base64. */
export function loadSigningKey(text: string): SigningKey {
  const privateKey = text.includes('-----BEGIN')
    ? createPrivateKey(text)
    : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('AUDIT_SIGNING_KEY must be an Ed25519 private key');
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export function signCheckpoint(key: SigningKey, body: Omit<CheckpointBody, 'keyId'>): SignedCheckpoint {
  const full = checkpointBody({ ...body, keyId: key.keyId });
  const text = canonicalJson(full);
  return { ...full, checkpointHash: sha256(text), signature: sign(null, Buffer.from(text, 'utf8'), key.privateKey).toString('base64') };
}

export type CheckpointProblem =
  | { kind: 'unknown_key' | 'bad_signature' | 'bad_checkpoint_hash'; seq: number; detail: string }
  | { kind: 'forked_chain'; seq: number; detail: string }
  | { kind: 'missing_events'; seq: number; detail: string }
  | { kind: 'event_mismatch'; seq: number; detail: string };

export interface CheckpointReport {
  valid: boolean;
  checked: number;
  latestSeq: number | null;
  problems: CheckpointProblem[];
}

/**
 * Checks checkpoints (any order) against public keys (keyId -> SPKI PEM) and the events'
 * hashes: `eventHash(seq)` is the ledger's hash at seq, or undefined if it has no such event;
 * `lastSeq` is the newest event present.
 */
export function verifyCheckpoints(
  checkpoints: SignedCheckpoint[],
  publicKeys: Map<string, string>,
  events: { lastSeq: number; eventHash: (seq: number) => string | undefined },
): CheckpointReport {
  const problems: CheckpointProblem[] = [];
  const sorted = [...checkpoints].sort((a, b) => a.seq - b.seq || a.signedAt.localeCompare(b.signedAt));
  const authentic: SignedCheckpoint[] = [];
  for (const c of sorted) {
    const pem = publicKeys.get(c.keyId);
    const text = canonicalJson(checkpointBody(c));
    if (!pem) {
      problems.push({ kind: 'unknown_key', seq: c.seq, detail: `checkpoint at seq ${c.seq} is signed by unknown key ${c.keyId}` });
      continue;
    }
    let ok = false;
    try {
      ok = verify(null, Buffer.from(text, 'utf8'), createPublicKey(pem), Buffer.from(c.signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) {
      problems.push({ kind: 'bad_signature', seq: c.seq, detail: `checkpoint at seq ${c.seq} has an invalid signature` });
      continue;
    }
    if (sha256(text) !== c.checkpointHash) {
      problems.push({ kind: 'bad_checkpoint_hash', seq: c.seq, detail: `checkpoint at seq ${c.seq} does not hash to its checkpointHash` });
      continue;
    }
    authentic.push(c);
  }

  // One chain: each checkpoint names the one before it; two naming the same one is a fork.
  const byPrev = new Map<string, SignedCheckpoint[]>();
  for (const c of authentic) byPrev.set(c.prevCheckpointHash, [...(byPrev.get(c.prevCheckpointHash) ?? []), c]);
  for (const [, successors] of byPrev) {
    if (successors.length > 1) {
      problems.push({ kind: 'forked_chain', seq: successors[1].seq, detail: `${successors.length} checkpoints (seq ${successors.map((s) => s.seq).join(', ')}) follow the same checkpoint` });
    }
  }
  let prev = GENESIS_CHECKPOINT_HASH;
  let prevSeq = 0;
  for (const c of authentic) {
    if (c.prevCheckpointHash !== prev || c.seq < prevSeq) {
      problems.push({ kind: 'forked_chain', seq: c.seq, detail: `checkpoint at seq ${c.seq} does not follow the checkpoint before it` });
    }
    prev = c.checkpointHash;
    prevSeq = c.seq;
  }

  for (const c of authentic) {
    if (c.seq > events.lastSeq) {
      problems.push({ kind: 'missing_events', seq: c.seq, detail: `a checkpoint vouches for events through seq ${c.seq}, but the ledger ends at seq ${events.lastSeq}` });
      continue;
    }
    const hash = events.eventHash(c.seq);
    if (hash === undefined) {
      problems.push({ kind: 'missing_events', seq: c.seq, detail: `event ${c.seq}, vouched for by a checkpoint, is missing` });
    } else if (hash !== c.hash) {
      problems.push({ kind: 'event_mismatch', seq: c.seq, detail: `event ${c.seq} differs from the checkpointed one` });
    }
  }
  return { valid: problems.length === 0, checked: authentic.length, latestSeq: authentic.length ? authentic[authentic.length - 1].seq : null, problems };
}
