#!/usr/bin/env node
// Verifies an NDJSON export of the audit ledger without the database or this project's code:
// Node.js's built-ins only. For each event (one JSON object per line, oldest first):
//   hash = hex(HMAC-SHA256(key, prevHash + canonicalJson(event without prevHash and hash)))
// and each event's prevHash is the previous event's hash (the first event's, 64 zeros).
//
//   AUDIT_HMAC_KEY=... node scripts/verify-audit-export.mjs audit-events.ndjson   (or - for stdin)
//
// With only the public key (no AUDIT_HMAC_KEY: what a third party holds), against signed
// checkpoints (GET /v1/audit-events/checkpoints, or the audit.checkpoint webhooks received):
//   node scripts/verify-audit-export.mjs --public-keys keys.json --checkpoints checkpoints.json export.ndjson
// keys.json is GET /v1/audit-events/public-key's answer (or a PEM file); checkpoints.json a
// JSON array of checkpoints, an object with `data`, or one checkpoint per line. Without the
// HMAC key each event's prevHash must be the previous event's hash; with checkpoints, every
// checkpoint must be signed by a listed key, the checkpoints must form one chain (a fork or
// rewind is reported), and each checkpointed event must be present with the signed hash:
// events cut after a checkpoint are reported as missing.
//
// Prints one JSON line; exit status 0 if valid, 1 if not, 2 on a usage error. "complete" is
// true when the export starts at seq 1 without gaps (an unfiltered export); a filtered export
// can be valid (every event's own hash checks) without being complete. Compare "lastHash" with
// a head hash you anchored elsewhere to detect deleted newest events.
import { createHash, createHmac, createPublicKey, verify as verifySignature } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const GENESIS_HASH = '0'.repeat(64);

// RFC 8785 (JCS) for values produced by JSON.parse: object keys sorted by UTF-16 code units,
// no whitespace; strings and numbers serialized as ECMAScript's JSON.stringify does.
function canonicalJson(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`);
  return `{${members.join(',')}}`;
}

const hmac = (key, prevHash, body) =>
  createHmac('sha256', key).update(prevHash + canonicalJson(body), 'utf8').digest('hex');

async function verify(lines, key, hashes) {
  const report = { valid: true, checked: 0, firstSeq: null, lastSeq: null, lastHash: null, complete: true };
  let organizationId;
  let lineNo = 0;
  const fail = (seq, reason) => Object.assign(report, { valid: false, complete: false, firstInvalidSeq: seq, line: lineNo, reason });
  for await (const text of lines) {
    lineNo += 1;
    if (text.trim() === '') continue;
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return fail(null, 'not JSON');
    }
    const { prevHash, hash, ...body } = event;
    const seq = body.seq;
    if (!Number.isSafeInteger(seq) || seq < 1) return fail(null, 'seq is not a positive integer');
    if (report.lastSeq === null) {
      organizationId = body.organizationId;
      report.firstSeq = seq;
      if (seq !== 1) report.complete = false;
      else if (prevHash !== GENESIS_HASH) return fail(seq, 'the first event does not start from the genesis hash');
    } else if (seq === report.lastSeq + 1) {
      if (prevHash !== report.lastHash) return fail(seq, "prevHash is not the previous event's hash");
    } else if (seq > report.lastSeq + 1) {
      report.complete = false; // a gap: a filtered export, or missing events
    } else {
      return fail(seq, 'seq out of order');
    }
    if (body.organizationId !== organizationId) return fail(seq, 'another organization');
    if (typeof prevHash !== 'string' || typeof hash !== 'string') return fail(seq, 'no hashes');
    if (key && hmac(key, prevHash, body) !== hash) return fail(seq, 'hash mismatch');
    hashes.set(seq, hash);
    report.checked += 1;
    report.lastSeq = seq;
    report.lastHash = hash;
  }
  return report;
}

const GENESIS_CHECKPOINT_HASH = '0'.repeat(64);
const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function readPublicKeys(path) {
  const text = readFileSync(path, 'utf8');
  const keys = new Map();
  if (text.trim().startsWith('-----BEGIN')) {
    const key = createPublicKey(text);
    keys.set(sha256(key.export({ type: 'spki', format: 'der' })).slice(0, 16), key);
  } else {
    for (const k of JSON.parse(text).keys) keys.set(k.keyId, createPublicKey(k.publicKey));
  }
  return keys;
}

function readCheckpoints(path) {
  const text = readFileSync(path, 'utf8').trim();
  if (text === '') return [];
  const parsed = text.startsWith('[') || text.startsWith('{"data"') ? JSON.parse(text) : text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return Array.isArray(parsed) ? parsed : parsed.data;
}

// Mirrors src/domain/ledgerCheckpoint.ts verifyCheckpoints.
function checkCheckpoints(checkpoints, keys, lastSeq, hashes) {
  const problems = [];
  const sorted = [...checkpoints].sort((a, b) => a.seq - b.seq || String(a.signedAt).localeCompare(String(b.signedAt)));
  const authentic = [];
  for (const c of sorted) {
    const body = { organizationId: c.organizationId, seq: c.seq, hash: c.hash, signedAt: c.signedAt, prevCheckpointHash: c.prevCheckpointHash, keyId: c.keyId };
    const text = canonicalJson(body);
    const key = keys.get(c.keyId);
    if (!key) {
      problems.push({ kind: 'unknown_key', seq: c.seq, detail: `checkpoint at seq ${c.seq} is signed by unknown key ${c.keyId}` });
      continue;
    }
    let ok = false;
    try {
      ok = verifySignature(null, Buffer.from(text, 'utf8'), key, Buffer.from(String(c.signature), 'base64'));
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
  const byPrev = new Map();
  for (const c of authentic) byPrev.set(c.prevCheckpointHash, [...(byPrev.get(c.prevCheckpointHash) ?? []), c]);
  for (const successors of byPrev.values()) {
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
    if (c.seq > lastSeq) {
      problems.push({ kind: 'missing_events', seq: c.seq, detail: `a checkpoint vouches for events through seq ${c.seq}, but the export ends at seq ${lastSeq}` });
    } else if (!hashes.has(c.seq)) {
      problems.push({ kind: 'missing_events', seq: c.seq, detail: `event ${c.seq}, vouched for by a checkpoint, is missing` });
    } else if (hashes.get(c.seq) !== c.hash) {
      problems.push({ kind: 'event_mismatch', seq: c.seq, detail: `event ${c.seq} differs from the checkpointed one` });
    }
  }
  return { valid: problems.length === 0, checked: authentic.length, latestSeq: authentic.length ? authentic[authentic.length - 1].seq : null, problems };
}

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const [, value] = args.splice(i, 2);
  return value;
};
const publicKeysFile = option('--public-keys');
const checkpointsFile = option('--checkpoints');
const [file] = args;
const key = process.env.AUDIT_HMAC_KEY;
if (!file || (!key && !(publicKeysFile && checkpointsFile)) || Boolean(publicKeysFile) !== Boolean(checkpointsFile)) {
  process.stderr.write(
    'usage: AUDIT_HMAC_KEY=... node verify-audit-export.mjs [--public-keys keys.json --checkpoints checkpoints.json] <export.ndjson | ->\n' +
      '       node verify-audit-export.mjs --public-keys keys.json --checkpoints checkpoints.json <export.ndjson | ->\n',
  );
  process.exit(2);
}
const input = file === '-' ? process.stdin : createReadStream(file, 'utf8');
const hashes = new Map();
const report = await verify(createInterface({ input, crlfDelay: Infinity }), key, hashes);
report.hmacChecked = Boolean(key);
if (publicKeysFile) {
  report.checkpoints = checkCheckpoints(readCheckpoints(checkpointsFile), readPublicKeys(publicKeysFile), report.lastSeq ?? 0, hashes);
  if (!report.checkpoints.valid) report.valid = false;
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(report.valid ? 0 : 1);
