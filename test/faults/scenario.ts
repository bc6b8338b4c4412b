// What every scenario shares: its organization, its sessions (the oracle), its API client
// (whose counters say how the API answered during the fault), notes for the report, and the
// event-driven wait for recovery.
import type { Pool } from 'pg';
import { ApiClient } from './client';
import { readReceived, recoveryGaps, sessionRows, webhookReport, type Check } from './checks';
import type { FaultSystem } from './env/system';
import { createOrg, SessionRecord, type Org, type Plan } from './journeys';

export interface SuiteContext {
  sys: FaultSystem;
  db: Pool;
  log: (msg: string) => void;
  /** Data retention of every scenario's organization (short, so the suite sees its purges). */
  retention: string;
}

export class ScenarioRun {
  readonly api: ApiClient;
  org!: Org;
  readonly records: SessionRecord[] = [];
  readonly notes: string[] = [];
  /** Checks of this scenario's own fault (e.g. 503 while PostgreSQL is down). */
  readonly extraChecks: Check[] = [];
  error: string | null = null;

  constructor(
    readonly name: string,
    readonly ctx: SuiteContext,
  ) {
    this.api = new ApiClient(ctx.sys.apiUrl);
  }

  log(msg: string): void {
    this.ctx.log(`[${this.name}] ${msg}`);
  }

  async setUp(): Promise<void> {
    this.org = await createOrg(this.api, this.ctx.sys.appEnv, this.name, this.ctx.sys.receiverUrl, this.ctx.retention);
  }

  sessions(plans: Plan[]): SessionRecord[] {
    const created = plans.map((p) => new SessionRecord(this.name, p));
    this.records.push(...created);
    return created;
  }

  /**
   * Polls until every acknowledged request shows in the records and every owed webhook has
   * been received, or the (generous) deadline passes; what is still missing then is noted
   * and the final checks report it.
   */
  async awaitRecovery(deadlineMs = 3 * 60_000): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let last: string[] = [];
    for (;;) {
      try {
        const rows = await sessionRows(this.ctx.db, this.org.organizationId);
        const hooks = webhookReport(this.org, this.records, readReceived(this.ctx.sys.receiverLog));
        last = [...recoveryGaps(this.records, rows), ...hooks.missing.map((m) => `webhook ${m} not received`)];
        if (last.length === 0) {
          this.log('recovered: every acknowledged state recorded, every owed webhook received');
          return;
        }
      } catch (err) {
        last = [`checking failed: ${(err as Error).message}`];
      }
      if (Date.now() > deadline) {
        this.notes.push(`not recovered within ${deadlineMs / 1000} s: ${last.length} gap(s), e.g. ${last.slice(0, 3).join('; ')}`);
        this.log(`NOT recovered: ${last.length} gap(s), e.g. ${last.slice(0, 3).join('; ')}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

export interface Scenario {
  name: string;
  title: string;
  run(s: ScenarioRun): Promise<void>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `cond` holds, checking every 100 ms (an in-process counter, not the clock). */
export async function until(cond: () => boolean, deadlineMs = 10 * 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached before the deadline');
    await sleep(100);
  }
}
