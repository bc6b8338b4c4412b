// Custom search attributes an operator filters on in the Temporal Web UI (SPEC §9).
// Shared by workflow code, the dev-server start script and the cluster setup command,
// so this module must stay deterministic: it imports only @temporalio/common types.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const OrganizationId = defineSearchAttributeKey('OrganizationId', SearchAttributeType.KEYWORD);
export const SessionStatus = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
export const Verdict = defineSearchAttributeKey('Verdict', SearchAttributeType.KEYWORD);
export const CorrelationId = defineSearchAttributeKey('CorrelationId', SearchAttributeType.KEYWORD);
export const LinkExpiresAt = defineSearchAttributeKey('LinkExpiresAt', SearchAttributeType.DATETIME);
export const PurgeAt = defineSearchAttributeKey('PurgeAt', SearchAttributeType.DATETIME);

/** name → type as the `temporal` CLI spells it (`--search-attribute Name=Keyword`). */
export const customSearchAttributes: ReadonlyArray<{ name: string; cliType: 'Keyword' | 'Datetime' }> = [
  { name: 'OrganizationId', cliType: 'Keyword' },
  { name: 'SessionStatus', cliType: 'Keyword' },
  { name: 'Verdict', cliType: 'Keyword' },
  { name: 'CorrelationId', cliType: 'Keyword' },
  { name: 'LinkExpiresAt', cliType: 'Datetime' },
  { name: 'PurgeAt', cliType: 'Datetime' },
];
