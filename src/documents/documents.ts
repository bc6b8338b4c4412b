import { appendAuditEvent, type AuditActor, type AuditContext } from '../audit/ledger';
import type { Db } from '../db/knex';
import { problems } from '../api/problem';

interface DocumentRow {
  id: string;
  organization_id: string;
  session_id: string;
  type: string | null;
  file_name: string | null;
  content_type: string | null;
  size_bytes: number | null;
  content?: Buffer | null;
  created_at: Date;
  purged_at: Date | null;
}

const METADATA = ['id', 'organization_id', 'session_id', 'type', 'file_name', 'content_type', 'size_bytes', 'created_at', 'purged_at'];

function documentView(row: DocumentRow) {
  return {
    id: row.id,
    sessionId: row.session_id,
    type: row.type,
    fileName: row.file_name,
    contentType: row.content_type,
    sizeBytes: row.size_bytes,
    createdAt: row.created_at.toISOString(),
  };
}

/** Another organization's document is 404; a purged one 410 (its tombstone has nothing left to show). */
function assertReadable(row: DocumentRow | undefined): asserts row is DocumentRow {
  if (!row) throw problems.notFound('document');
  if (row.purged_at) throw problems.gone(`this document was purged at ${row.purged_at.toISOString()}`);
}

export async function getDocument(db: Db, organizationId: string, documentId: string) {
  const row: DocumentRow | undefined = await db('documents').where({ id: documentId, organization_id: organizationId }).first(METADATA);
  assertReadable(row);
  return documentView(row);
}

/**
 * The document's bytes. The read is recorded in the ledger (document.read_content, category
 * access) before any byte leaves: no recorded event, no content. The row is share-locked
 * meanwhile, so a purge running at the same moment waits and the read is never of half-purged data.
 */
export async function readDocumentContent(
  db: Db,
  auditKey: string,
  who: { organizationId: string; actor: AuditActor } & AuditContext,
  documentId: string,
): Promise<{ content: Buffer; contentType: string; fileName: string }> {
  return db.transaction(async (trx) => {
    const row: DocumentRow | undefined = await trx('documents')
      .where({ id: documentId, organization_id: who.organizationId })
      .forShare()
      .first([...METADATA, 'content']);
    assertReadable(row);
    await appendAuditEvent(trx, auditKey, {
      organizationId: who.organizationId,
      actor: who.actor,
      action: 'document.read_content',
      category: 'access',
      resource: { type: 'document', id: row.id },
      changes: { sessionId: row.session_id, sizeBytes: row.size_bytes },
      requestId: who.requestId,
      ip: who.ip,
      userAgent: who.userAgent,
    });
    return { content: row.content ?? Buffer.alloc(0), contentType: row.content_type ?? 'application/octet-stream', fileName: row.file_name ?? row.id };
  });
}
