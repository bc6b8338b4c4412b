import { auditEventView, type AuditEventRow } from './ledger';

// The two export formats. Both carry every field of the hashed body plus prevHash and hash,
// so an export can be verified without the database (scripts/verify-audit-export.mjs).
// Pure: no I/O.

/** One exported event: the API's view plus the organization, which the hash also covers. */
export function exportRecord(row: AuditEventRow) {
  return { organizationId: row.organization_id, ...auditEventView(row) };
}

export function ndjsonLine(row: AuditEventRow): string {
  return `${JSON.stringify(exportRecord(row))}\n`;
}

export const CSV_COLUMNS = [
  'organizationId',
  'id',
  'seq',
  'occurredAt',
  'actorType',
  'actorId',
  'actorLabel',
  'action',
  'category',
  'resourceType',
  'resourceId',
  'changes',
  'outcome',
  'requestId',
  'ip',
  'userAgent',
  'prevHash',
  'hash',
] as const;

/**
 * A text a spreadsheet would run as a formula (=, +, -, @, tab or CR first) gets a leading
 * apostrophe, and so does one that already starts with an apostrophe: reading a cell back is
 * then "drop one leading apostrophe if there is one" (csvCellValue), so the CSV still carries
 * exactly what was hashed. The ledger records what attackers send (a User-Agent, a label).
 */
export function neutraliseFormula(text: string): string {
  return /^[=+\-@\t\r']/.test(text) ? `'${text}` : text;
}

/** The recorded value of a neutralised cell. */
export const csvCellValue = (cell: string): string => (cell.startsWith("'") ? cell.slice(1) : cell);

/**
 * RFC 4180: a field holding a comma, a double quote, CR or LF is enclosed in double quotes,
 * inner quotes doubled. null is an empty field. Text is neutralised first (neutraliseFormula).
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = typeof value === 'number' ? String(value) : neutraliseFormula(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

export function csvLine(row: AuditEventRow): string {
  const e = exportRecord(row);
  const values: Record<(typeof CSV_COLUMNS)[number], string | number | null> = {
    organizationId: e.organizationId,
    id: e.id,
    seq: e.seq,
    occurredAt: e.occurredAt,
    actorType: e.actor.type,
    actorId: e.actor.id,
    actorLabel: e.actor.label,
    action: e.action,
    category: e.category,
    resourceType: e.resource.type,
    resourceId: e.resource.id,
    changes: e.changes === null ? null : JSON.stringify(e.changes),
    outcome: e.outcome,
    requestId: e.requestId,
    ip: e.ip,
    userAgent: e.userAgent,
    prevHash: e.prevHash,
    hash: e.hash,
  };
  return `${CSV_COLUMNS.map((c) => csvField(values[c])).join(',')}\r\n`;
}
