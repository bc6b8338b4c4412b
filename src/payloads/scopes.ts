// Which data key encrypts a workflow's payloads, from its workflow id (the SDK's serialization
// context): a session's and a standalone analysis's own key (destroyed at their purge), the
// organization's key for its other workflows, the deployment's key for anything else.
export type KeyScope = `session:${string}` | `analysis:${string}` | `org:${string}` | 'deployment';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const sessionId = new RegExp(`^session-(${UUID})$`);
const analysisId = new RegExp(`^analysis-(${UUID})$`);
const retentionRearm = new RegExp(`^retention-(${UUID})-r\\d+$`);
const webhook = new RegExp(`^webhook-(${UUID})(?:-\\d+)?$`);

/** What the workflow id alone says; a webhook delivery needs its row to find its organization. */
export type ScopeHint = { scope: KeyScope } | { deliveryId: string };

export function scopeHintForWorkflowId(workflowId: string | undefined): ScopeHint {
  if (!workflowId) return { scope: 'deployment' };
  let m: RegExpExecArray | null;
  if ((m = sessionId.exec(workflowId))) return { scope: `session:${m[1]}` };
  if ((m = analysisId.exec(workflowId))) return { scope: `analysis:${m[1]}` };
  if ((m = retentionRearm.exec(workflowId))) return { scope: `org:${m[1]}` };
  // Delivery workflows carry ids only and must outlive the record's purge (retries of days):
  // they use the organization's key, not the record's.
  if ((m = webhook.exec(workflowId))) return { deliveryId: m[1] };
  return { scope: 'deployment' };
}

export const sessionScope = (id: string): KeyScope => `session:${id}`;
export const analysisScope = (id: string): KeyScope => `analysis:${id}`;
export const orgScope = (id: string): KeyScope => `org:${id}`;
