// The shape of every signal and update our workflows take, as zod schemas shared by the
// workflows (which validate each message before any activity runs), the API and the tests.
// Re-exported by workflows/definitions.ts; the message types are derived from these schemas.
//
// Workflow code imports this module, so it must stay deterministic: zod only (checked to
// bundle and run in the workflow sandbox by test/workflows/poisonMessages.test.ts), no node
// built-ins, no I/O.
import { z } from 'zod';
import { parseDuration } from './duration';

/** Who asked, for the audit ledger: never personal data beyond the operator's id. */
export const requestContextSchema = z.object({
  requestId: z.string().max(200).nullish(),
  ip: z.string().max(100).nullish(),
  userAgent: z.string().max(1000).nullish(),
});

/**
 * `analystDecision` (signal, Temporal UI/CLI) and `decide` (update, API). The comment stays out
 * of Temporal when the API sends it (only `commentId` travels); a comment typed in the UI is
 * stored by the recording activity, then purged with the analysis.
 */
export const analystDecisionSchema = requestContextSchema.extend({
  analysisId: z.uuid(),
  newStatus: z.enum(['user_approved', 'user_rejected']),
  operatorId: z.uuid(),
  comment: z.string().max(5000).optional(),
  commentId: z.uuid().optional(),
  /**
   * The door, set by the workflow on a decision that arrived as a signal (`temporal`): whatever a
   * signal claims here is overwritten, so any short value is accepted rather than refused.
   */
  via: z.string().max(40).optional(),
});

/**
 * `retentionChanged`: `revision` is the settings revision the value belongs to (the API's
 * re-arm). Without one (typed in the Temporal UI/CLI) the value applies only when `operatorId`
 * names an active admin of the organization (workflows from patch sec3-retention-signal-admin).
 */
export const retentionChangeSchema = z.object({
  dataRetention: z
    .string()
    .refine((s) => parseDuration(s).ok, 'must be a duration like 30d')
    .nullable(),
  revision: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  operatorId: z.uuid().optional(),
});

/** `erase` (update): the right to erasure, asked by an operator. */
export const erasureRequestSchema = requestContextSchema.extend({ operatorId: z.uuid() });

export type RequestContext = z.infer<typeof requestContextSchema>;
export type AnalystDecision = z.infer<typeof analystDecisionSchema>;
export type RetentionChange = z.infer<typeof retentionChangeSchema>;
export type ErasureRequest = z.infer<typeof erasureRequestSchema>;

/**
 * What may be recorded about a refused message: where the validation failed and why, never
 * the values (a malformed message may carry anything, personal data included). The ids it
 * names are kept only when they are well-formed UUIDs.
 */
export interface MessageRefusal {
  message: 'analystDecision' | 'retentionChanged';
  issues: { path: string; code: string }[];
  analysisId: string | null;
  operatorId: string | null;
}

const uuidOrNull = (v: unknown): string | null => (z.uuid().safeParse(v).success ? (v as string) : null);

export type Checked<T> = { ok: true; value: T } | { ok: false; refusal: MessageRefusal };

function check<T>(message: MessageRefusal['message'], schema: z.ZodType<T>, input: unknown): Checked<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  return {
    ok: false,
    refusal: {
      message,
      // At most 20 issues, paths cut short: bounded whatever was sent.
      issues: parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join('.').slice(0, 100), code: i.code })),
      analysisId: uuidOrNull(fields.analysisId),
      operatorId: uuidOrNull(fields.operatorId),
    },
  };
}

export const checkAnalystDecision = (input: unknown): Checked<AnalystDecision> => check('analystDecision', analystDecisionSchema, input);
export const checkRetentionChange = (input: unknown): Checked<RetentionChange> => check('retentionChanged', retentionChangeSchema, input);

/** For update validators: the first issue, as a readable sentence. */
export function describeIssues(schema: z.ZodType, input: unknown): string | null {
  const parsed = schema.safeParse(input);
  if (parsed.success) return null;
  return parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`)
    .join('; ');
}
