// Session verdict rules. Imported by Temporal workflow code: keep pure, no imports.

export type AnalysisStatus =
  | 'ai_approved'
  | 'ai_rejected'
  | 'verify'
  | 'user_approved'
  | 'user_rejected'
  | 'purged';
export type AiStatus = 'ai_approved' | 'ai_rejected' | 'verify';
export type DecisionStatus = 'user_approved' | 'user_rejected';
export type SessionVerdict = AiStatus | DecisionStatus;

/**
 * Consolidated AI verdict for a session at completion. Most severe wins:
 * rejected > verify > approved; no (counting) analyses -> 'verify' (a human must look).
 *
 * Non-AI inputs:
 * - 'user_rejected' counts as 'ai_rejected' and 'user_approved' as 'ai_approved': a human
 *   decision on an analysis is at least as authoritative as the AI's, and mapping it keeps
 *   the result within AiStatus (the session-level decision is recorded separately).
 * - 'purged' is ignored: its content is gone and it carries no signal. A session whose
 *   analyses were all purged therefore consolidates to 'verify'.
 */
export function consolidateVerdict(statuses: readonly AnalysisStatus[]): AiStatus {
  let sawVerify = false;
  let sawApproved = false;
  for (const status of statuses) {
    switch (status) {
      case 'ai_rejected':
      case 'user_rejected':
        return 'ai_rejected'; // nothing outranks a rejection
      case 'verify':
        sawVerify = true;
        break;
      case 'ai_approved':
      case 'user_approved':
        sawApproved = true;
        break;
      case 'purged':
        break;
      default: {
        // Exhaustiveness check; also guards against unexpected runtime values.
        const unknownStatus: never = status;
        throw new Error(`unknown analysis status: ${String(unknownStatus)}`);
      }
    }
  }
  if (sawVerify) return 'verify';
  return sawApproved ? 'ai_approved' : 'verify';
}

/** A human decision overrides the AI verdict outright. */
export function verdictAfterDecision(decision: DecisionStatus): SessionVerdict {
  return decision;
}
