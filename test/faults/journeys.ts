// Journeys as the customer, the end user and the analyst drive them over REST, each session
// remembering what the API acknowledged: that is the oracle the checks hold the system to
// (an acknowledged completion must end completed with its verdict and its webhook; a refused
// one must leave no trace). Every session carries personal markers (name, correlation id,
// document bytes and name, analysis result, decision comment) the final pg_dump looks for.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { ApiClient, GaveUp, idempotencyInProgress, type Answer } from './client';
import { ROOT } from './env/temporal';

export type AiVerdict = 'ai_approved' | 'ai_rejected' | 'verify';
export type Decision = 'user_approved' | 'user_rejected';

export interface Org {
  scenario: string;
  organizationId: string;
  apiKey: string;
  adminToken: string;
  analystToken: string;
  secret: string;
  retention: string;
}

export interface Plan {
  /** complete: the user finishes; expire: the user opens the link and leaves; open: left live for a control message. */
  kind: 'complete' | 'expire' | 'open';
  verdict: AiVerdict;
  decide?: Decision;
  linkExpiry?: string;
}

export type Control = 'malformed-signal' | 'cancel' | 'terminate';

export class SessionRecord {
  readonly marker = `FLTMK${randomBytes(8).toString('hex').toUpperCase()}`;
  readonly idempotencyKey = randomUUID();
  id: string | null = null;
  entityId: string | null = null;
  token: string | null = null;
  createdAt: Date | null = null;
  linkExpiresAt: Date | null = null;
  documentIds: string[] = [];
  analysisIds: string[] = [];
  opened = false;
  completion: 'acked' | 'refused' | 'not-tried' = 'not-tried';
  decision: { analysisId: string; newStatus: Decision; acked: boolean; changed: boolean } | null = null;
  controls: Control[] = [];
  /** Steps that got no definitive answer before their deadline (a hang or an endless 5xx). */
  unanswered: string[] = [];

  constructor(
    readonly scenario: string,
    readonly plan: Plan,
  ) {}

  /** Every personal value this session sent, as text and as the hex pg_dump prints bytea in. */
  markers(): string[] {
    return [this.marker, Buffer.from(`${this.marker}-BYTES`).toString('hex')];
  }

  get expectedVerdict(): string | null {
    if (this.completion !== 'acked') return null;
    if (this.decision?.acked && this.decision.changed) return this.decision.newStatus;
    return this.plan.verdict;
  }

  /** Verdicts the record may show: a decision left without an answer may or may not have been applied. */
  acceptableVerdicts(): (string | null)[] {
    const v = [this.expectedVerdict];
    if (this.completion === 'acked' && this.decision && !this.decision.acked && this.unanswered.some((u) => u.startsWith('decision'))) v.push(this.decision.newStatus);
    return v;
  }

  /** The webhook events this session owes the customer: `session_end:<id>`, `decision:<analysisId>`. */
  expectedEvents(): Map<string, Record<string, unknown>> {
    const events = new Map<string, Record<string, unknown>>();
    if (this.completion === 'acked' && this.id) events.set(`session_end:${this.id}`, { sessionId: this.id, newStatus: this.plan.verdict });
    if (this.decision?.acked && this.decision.changed) {
      events.set(`decision:${this.decision.analysisId}`, {
        analysisId: this.decision.analysisId,
        sessionId: this.id,
        entityId: this.entityId,
        newStatus: this.decision.newStatus,
      });
    }
    return events;
  }
}

const definitive = async (what: string, record: SessionRecord, call: () => Promise<Answer>): Promise<Answer | null> => {
  try {
    return await call();
  } catch (err) {
    if (err instanceof GaveUp) {
      record.unanswered.push(`${what}: ${err.message}`);
      return null;
    }
    throw err;
  }
};

export async function createOrg(api: ApiClient, env: NodeJS.ProcessEnv, scenario: string, receiverUrl: string, retention: string): Promise<Org> {
  const out = execFileSync(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/cli/admin.ts', 'create-org', '--name', `faults ${scenario}`, '--admin-email', `admin+${scenario}@faults.test`], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
  });
  const created = JSON.parse(out.trim().split('\n').pop()!) as { organizationId: string; apiKey: string; adminToken: string };
  const admin = created.adminToken;
  const settings = await api.call('PATCH', '/v1/settings', {
    token: admin,
    body: {
      sessionEndWebhookUrl: `${receiverUrl}/${scenario}/session-end`,
      decisionWebhookUrl: `${receiverUrl}/${scenario}/decision`,
      dataRetention: retention,
    },
  });
  if (settings.status !== 200) throw new Error(`PATCH /v1/settings answered ${settings.status}: ${JSON.stringify(settings.body)}`);
  const analyst = await api.call('POST', '/v1/operators', {
    token: admin,
    body: { email: `analyst+${scenario}@faults.test`, role: 'analyst' },
    headers: { 'idempotency-key': randomUUID() },
  });
  if (analyst.status !== 201) throw new Error(`POST /v1/operators answered ${analyst.status}: ${JSON.stringify(analyst.body)}`);
  const secret = await api.call('GET', '/v1/settings/webhook-secret', { token: admin });
  return {
    scenario,
    organizationId: created.organizationId,
    apiKey: created.apiKey,
    adminToken: admin,
    analystToken: analyst.body.token,
    secret: secret.body.secret,
    retention,
  };
}

/** Creates the session (Idempotency-Key: a retry after a lost answer returns the same session). */
export async function createSession(api: ApiClient, org: Org, s: SessionRecord, deadlineMs?: number): Promise<boolean> {
  const a = await definitive('create', s, () =>
    api.call('POST', '/v1/sessions', {
      token: org.apiKey,
      headers: { 'idempotency-key': s.idempotencyKey },
      body: {
        correlationId: `${s.marker}-CORR`,
        journeyId: `${s.marker}-JOURNEY`,
        userInput: { firstName: `${s.marker}-FIRST`, lastName: `${s.marker}-LAST`, birthDate: '1990-01-01' },
        ...(s.plan.linkExpiry ? { linkExpiry: s.plan.linkExpiry } : {}),
      },
      retryIf: idempotencyInProgress(),
      deadlineMs,
    }),
  );
  if (!a) return false;
  if (a.status !== 201) throw new Error(`POST /v1/sessions answered ${a.status}: ${JSON.stringify(a.body)}`);
  s.id = a.body.id;
  s.entityId = a.body.entityId;
  s.createdAt = new Date(a.body.createdAt);
  s.linkExpiresAt = new Date(a.body.link.expiresAt);
  s.token = new URL(a.body.link.url).pathname.split('/').pop()!;
  return true;
}

/** The end user's part up to (not including) completion: open the link, upload, the journey's AI result. */
export async function openAndCapture(api: ApiClient, org: Org, s: SessionRecord, deadlineMs?: number): Promise<boolean> {
  const open = await definitive('open', s, () => api.call('GET', `/v1/journey/${s.token}`, { deadlineMs }));
  if (!open) return false;
  if (open.status !== 200) return false; // 410: expired or purged before the user came
  s.opened = true;
  const doc = await definitive('upload', s, () =>
    api.call('POST', `/v1/journey/${s.token}/documents`, {
      body: {
        type: 'passport',
        fileName: `${s.marker}-FILE.jpg`,
        contentType: 'image/jpeg',
        contentBase64: Buffer.from(`${s.marker}-BYTES`).toString('base64'),
      },
      deadlineMs,
    }),
  );
  if (!doc || doc.status !== 201) return false;
  s.documentIds.push(doc.body.id);
  const analysis = await definitive('analysis', s, () =>
    api.call('POST', `/v1/sessions/${s.id}/analyses`, {
      token: org.apiKey,
      body: { documentId: doc.body.id, kind: 'id_document', status: s.plan.verdict, result: { extractedName: `${s.marker}-RESULT` } },
      deadlineMs,
    }),
  );
  if (!analysis || analysis.status !== 201) return false;
  s.analysisIds.push(analysis.body.id);
  return true;
}

export async function complete(api: ApiClient, s: SessionRecord, deadlineMs?: number): Promise<void> {
  const a = await definitive('complete', s, () => api.call('POST', `/v1/journey/${s.token}/complete`, { deadlineMs }));
  if (!a) return;
  // 409: already completed, i.e. an earlier attempt whose answer was lost went through.
  if (a.status === 202 || (a.status === 409 && /already completed/i.test(String(a.body?.detail)))) s.completion = 'acked';
  else if (a.status === 410) s.completion = 'refused';
  else throw new Error(`POST /v1/journey/:token/complete answered ${a.status}: ${JSON.stringify(a.body)}`);
}

export async function decide(api: ApiClient, org: Org, s: SessionRecord, newStatus: Decision, deadlineMs?: number): Promise<void> {
  const analysisId = s.analysisIds[0];
  s.decision = { analysisId, newStatus, acked: false, changed: false };
  const a = await definitive('decision', s, () =>
    api.call('POST', `/v1/analyses/${analysisId}/decision`, { token: org.analystToken, body: { newStatus, comment: `${s.marker}-COMMENT` }, deadlineMs }),
  );
  if (!a) return;
  if (a.status === 200) {
    s.decision.acked = true;
    // ai_* → user_* is always a change, even when a retry whose first attempt went through
    // answers "unchanged": the decision webhook is owed either way.
    s.decision.changed = true;
  } else if (a.status !== 409 && a.status !== 410) {
    throw new Error(`POST /v1/analyses/:id/decision answered ${a.status}: ${JSON.stringify(a.body)}`);
  }
}

/** A whole journey as its plan says. */
export async function runJourney(api: ApiClient, org: Org, s: SessionRecord, deadlineMs?: number): Promise<void> {
  if (!(await createSession(api, org, s, deadlineMs))) return;
  if (!(await openAndCapture(api, org, s, deadlineMs))) return;
  if (s.plan.kind !== 'complete') return;
  await complete(api, s, deadlineMs);
  if (s.completion === 'acked' && s.plan.decide) await decide(api, org, s, s.plan.decide, deadlineMs);
}

/** A mix of verdicts: 3 approved, 2 to verify, 1 rejected; every 5th completed session gets a decision. */
export function journeyPlans(count: number, opts: { expireEvery?: number; decideEvery?: number } = {}): Plan[] {
  const verdicts: AiVerdict[] = ['ai_approved', 'verify', 'ai_approved', 'ai_rejected', 'verify', 'ai_approved'];
  return Array.from({ length: count }, (_, i) => {
    if (opts.expireEvery && i % opts.expireEvery === opts.expireEvery - 1) {
      return { kind: 'expire', verdict: 'verify', linkExpiry: '1m' } satisfies Plan;
    }
    const verdict = verdicts[i % verdicts.length];
    const decide: Decision | undefined = opts.decideEvery && i % opts.decideEvery === 0 ? (verdict === 'ai_rejected' ? 'user_approved' : 'user_rejected') : undefined;
    return { kind: 'complete', verdict, decide } satisfies Plan;
  });
}
