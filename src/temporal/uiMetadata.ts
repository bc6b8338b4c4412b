// What the Temporal Web UI shows of a workflow before anything ran: its static summary (the
// list's Summary column and the page title) and details (markdown, on the workflow's page).
// Ids, statuses and instants only: never personal data, nor the customer's correlation id,
// since Temporal keeps these for as long as it keeps the history.

export interface UiMetadata {
  staticSummary: string;
  staticDetails: string;
}

const lines = (...parts: (string | null)[]) => parts.filter((p): p is string => p !== null).join('  \n');

export function sessionUiMetadata(s: { sessionId: string; organizationId: string; createdAt: string; linkExpiresAt: string; dataRetention: string | null; purgeAt: Date | null }): UiMetadata {
  return {
    staticSummary: `Journey session ${s.sessionId}`,
    staticDetails: lines(
      `**Journey session** \`${s.sessionId}\``,
      `organization \`${s.organizationId}\``,
      `created ${s.createdAt}`,
      `link expires ${s.linkExpiresAt}`,
      s.purgeAt ? `retention ${s.dataRetention}: purge at ${s.purgeAt.toISOString()}` : 'no retention: kept until erased',
      'current state: see Details below (updated on every transition); Queries → `state`',
    ),
  };
}

export function analysisUiMetadata(a: { analysisId: string; organizationId: string; createdAt: string; dataRetention: string | null; purgeAt: Date | null }): UiMetadata {
  return {
    staticSummary: `Standalone analysis ${a.analysisId}`,
    staticDetails: lines(
      `**Standalone analysis** \`${a.analysisId}\``,
      `organization \`${a.organizationId}\``,
      `created ${a.createdAt}`,
      a.purgeAt ? `retention ${a.dataRetention}: purge at ${a.purgeAt.toISOString()}` : 'no retention: kept until erased',
      'decide with the `analystDecision` signal or POST /v1/analyses/{id}/decision',
    ),
  };
}
