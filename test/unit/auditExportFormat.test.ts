import { createHmac } from 'node:crypto';
import { csvCellValue, csvField, csvHeader, csvLine, ndjsonLine } from '../../src/audit/exportFormat';
import type { AuditEventRow } from '../../src/audit/ledger';

const row: AuditEventRow = {
  id: '00000000-0000-4000-8000-000000000001',
  organization_id: '00000000-0000-4000-8000-0000000000aa',
  seq: '7',
  occurred_at: new Date('2025-03-01T10:00:00.123Z'),
  actor_type: 'operator',
  actor_id: 'op-1',
  actor_label: 'Doe, "J"',
  action: 'settings.update',
  category: 'modification',
  resource_type: 'settings',
  resource_id: 'org',
  changes: { before: { a: 'x\ny' }, after: null },
  outcome: 'success',
  request_id: null,
  ip: '127.0.0.1',
  user_agent: null,
  idempotency_key: 'never-exported',
  prev_hash: '0'.repeat(64),
  hash: createHmac('sha256', 'k').update('x').digest('hex'),
};

test('csvField quotes only what RFC 4180 requires and doubles inner quotes', () => {
  expect(csvField('plain')).toBe('plain');
  expect(csvField(42)).toBe('42');
  expect(csvField(null)).toBe('');
  expect(csvField('')).toBe('');
  expect(csvField('a,b')).toBe('"a,b"');
  expect(csvField('say "hi"')).toBe('"say ""hi"""');
  expect(csvField('one\ntwo')).toBe('"one\ntwo"');
  expect(csvField('cr\rhere')).toBe('"cr\rhere"');
});

test('a CSV line has one field per header column, CRLF-terminated, changes as JSON', () => {
  expect(csvHeader().endsWith('\r\n')).toBe(true);
  const line = csvLine(row);
  expect(line).toBe(
    [
      row.organization_id, row.id, '7', '2025-03-01T10:00:00.123Z', 'operator', 'op-1', '"Doe, ""J"""', 'settings.update',
      'modification', 'settings', 'org', '"{""before"":{""a"":""x\\ny""},""after"":null}"', 'success', '', '127.0.0.1', '',
      row.prev_hash, row.hash,
    ].join(',') + '\r\n',
  );
});

test('an NDJSON line is the API view plus organizationId, without the idempotency key', () => {
  const line = ndjsonLine(row);
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toContain('\n');
  const parsed = JSON.parse(line);
  expect(parsed).toEqual({
    organizationId: row.organization_id,
    id: row.id,
    seq: 7,
    occurredAt: '2025-03-01T10:00:00.123Z',
    actor: { type: 'operator', id: 'op-1', label: 'Doe, "J"' },
    action: 'settings.update',
    category: 'modification',
    resource: { type: 'settings', id: 'org' },
    changes: { before: { a: 'x\ny' }, after: null },
    outcome: 'success',
    requestId: null,
    ip: '127.0.0.1',
    userAgent: null,
    prevHash: row.prev_hash,
    hash: row.hash,
  });
});

test('cells a spreadsheet would run as formulas are neutralised, reversibly', () => {
  const dangerous = ['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd'];
  for (const text of dangerous) {
    const cell = csvField(text);
    const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
    expect(unquoted.startsWith("'")).toBe(true);
    expect(csvCellValue(unquoted)).toBe(text);
  }
  // An apostrophe first is escaped too, so reading back is unambiguous.
  expect(csvField("'quoted")).toBe("''quoted");
  expect(csvCellValue("''quoted")).toBe("'quoted");
  expect(csvField('plain')).toBe('plain');
  expect(csvField(-5)).toBe('-5'); // numbers are ours, never formulas
});

test('a CSV line neutralises a hostile User-Agent', () => {
  const line = csvLine({ ...row, user_agent: '=HYPERLINK("http://evil.example","click")' });
  expect(line).toContain(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
  expect(line).not.toMatch(/,"?=HYPERLINK/);
});
