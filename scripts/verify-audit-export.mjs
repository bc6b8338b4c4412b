#!/usr/bin/env node
// Verifies an NDJSON export of the audit ledger without the database or this project's code:
// Node.js's built-ins only. For each event (one JSON object per line, oldest first):
//   hash = hex(HMAC-SHA256(key, prevHash + canonicalJson(event without prevHash and hash)))
// and each event's prevHash is the previous event's hash (the first event's, 64 zeros).
//
//   AUDIT_HMAC_KEY=... node scripts/verify-audit-export.mjs audit-events.ndjson   (or - for stdin)
//
// Prints one JSON line; exit status 0 if valid, 1 if not, 2 on a usage error. "complete" is
// true when the export starts at seq 1 without gaps (an unfiltered export); a filtered export
// can be valid (every event's own hash checks) without being complete. Compare "lastHash" with
// a head hash you anchored elsewhere to detect deleted newest events.
import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
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

async function verify(lines, key) {
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
    if (typeof prevHash !== 'string' || hmac(key, prevHash, body) !== hash) return fail(seq, 'hash mismatch');
    report.checked += 1;
    report.lastSeq = seq;
    report.lastHash = hash;
  }
  return report;
}

const [file] = process.argv.slice(2);
const key = process.env.AUDIT_HMAC_KEY;
if (!file || !key) {
  process.stderr.write('usage: AUDIT_HMAC_KEY=... node verify-audit-export.mjs <export.ndjson | ->\n');
  process.exit(2);
}
const input = file === '-' ? process.stdin : createReadStream(file, 'utf8');
const report = await verify(createInterface({ input, crlfDelay: Infinity }), key);
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(report.valid ? 0 : 1);
