// (5) An operator's mistakes and hard stops in the Temporal CLI on live sessions: a malformed
// analystDecision signal (`--input null`, and one with missing fields), a workflow cancel and
// a workflow terminate. A malformed signal is refused and audited and the session goes on (a
// REST decision afterwards is answered and sent); a cancelled session is purged at once; a
// terminated one is purged by the reconciler once overdue.
import { pool } from '../client';
import { complete, createSession, decide, openAndCapture, type Control, type Plan } from '../journeys';
import { type Scenario, type ScenarioRun } from '../scenario';
import { sessionWorkflowId } from '../../../workflows/definitions';

/** Runs an operator's CLI command; false (and a note) if the CLI refused it. */
async function temporalCli(s: ScenarioRun, args: string[], control: Control, sessionId: string): Promise<boolean> {
  const out = await s.ctx.sys.temporal.cli(args);
  if (!out.ok) s.notes.push(`${control} of ${sessionId} refused by the CLI: ${out.stderr.trim().split('\n')[0]}`);
  return out.ok;
}

export const badMessages: Scenario = {
  name: 'bad-messages',
  title: 'a malformed signal, a cancel and a terminate on live sessions',
  async run(s) {
    const completed: Plan = { kind: 'complete', verdict: 'verify' };
    const open: Plan = { kind: 'open', verdict: 'verify', linkExpiry: '1m' };
    const malformed = s.sessions(Array.from({ length: 10 }, () => completed));
    const cancelled = s.sessions([...Array.from({ length: 5 }, () => completed), ...Array.from({ length: 5 }, () => open)]);
    const terminated = s.sessions([...Array.from({ length: 5 }, () => completed), ...Array.from({ length: 5 }, () => open)]);
    await pool([...malformed, ...cancelled, ...terminated], 8, async (x) => {
      if (!(await createSession(s.api, s.org, x)) || !(await openAndCapture(s.api, s.org, x))) return;
      if (x.plan.kind === 'complete') await complete(s.api, x);
    });

    // First the hard stops, while every session is live (well before its retention).
    for (const x of cancelled) {
      if (!x.id) continue;
      x.controls.push('cancel');
      await temporalCli(s, ['workflow', 'cancel', '--workflow-id', sessionWorkflowId(x.id)], 'cancel', x.id);
    }
    for (const x of terminated) {
      if (!x.id) continue;
      x.controls.push('terminate');
      await temporalCli(s, ['workflow', 'terminate', '--workflow-id', sessionWorkflowId(x.id), '--reason', 'fault suite: operator terminates a live session'], 'terminate', x.id);
    }
    // Malformed decisions as an operator could type them; then a proper decision through the API.
    let malformedSent = 0;
    await pool(malformed, 10, async (x, i) => {
      if (!x.id) return;
      x.controls.push('malformed-signal');
      const wf = sessionWorkflowId(x.id);
      const inputs = ['null', ...(i % 2 === 0 ? ['{"analysisId":"not-a-uuid","newStatus":"approved"}'] : [])];
      for (const input of inputs) {
        if (await temporalCli(s, ['workflow', 'signal', '--workflow-id', wf, '--name', 'analystDecision', '--input', input], 'malformed-signal', x.id)) malformedSent += 1;
      }
    });
    // Answered within seconds once malformed input is refused; the deadline stays well inside the retention.
    await pool(malformed, 10, async (x) => {
      if (x.completion === 'acked') await decide(s.api, s.org, x, 'user_approved', 60_000);
    });

    s.log(`sent ${malformedSent} malformed signals, ${cancelled.length} cancels, ${terminated.length} terminates`);
    s.notes.push(`${malformedSent} malformed signals, ${cancelled.length} cancels, ${terminated.length} terminates`);
    await s.awaitRecovery();

    const decided = malformed.filter((x) => x.decision?.acked).length;
    s.extraChecks.push({
      name: 'a REST decision after a malformed signal is answered',
      ok: decided === malformed.length,
      detail: `${decided}/${malformed.length} decisions answered 200 after the malformed signals`,
    });
    const { rows } = await s.ctx.db.query<{ n: string }>(
      "SELECT count(*) AS n FROM audit_events WHERE organization_id = $1 AND outcome = 'failure'",
      [s.org.organizationId],
    );
    s.extraChecks.push({
      name: 'each malformed signal refused and audited (outcome failure)',
      ok: Number(rows[0].n) >= malformedSent,
      detail: `${rows[0].n} failure events in the ledger for ${malformedSent} malformed signals`,
    });
  },
};
