// Markdown tables of a `npm run bench` result, as pasted into docs/performance.md:
//   npx tsx bench/lib/report.ts bench-results/run.json
import fs from 'node:fs';

type Json = any;

const p = (x: Json) => (x?.n ? `${Math.round(x.p50)} / ${Math.round(x.p95)} / ${Math.round(x.p99)}` : '—');

export function markdown(result: Json): string {
  const out: string[] = [];
  out.push(`\`${result.command}\` — ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${result.machine.cpus} cores (${result.machine.cpuModel}), load average at the end ${result.machine.loadAverage.join(' / ')}`);
  out.push('');
  out.push('| sessions open before / journeys, concurrency | bare starts/s | product creates/s | ratio | bare journeys/s | product journeys/s | ratio |');
  out.push('|---|---|---|---|---|---|---|');
  for (const r of result.runs ?? []) {
    const t = r.throughput;
    out.push(`| ${r.openProductSessionsAfter - (r.journeys ?? r.sessions)} / ${r.journeys ?? r.sessions}, ${r.concurrency} | ${t.bareStartsPerSecond} | ${t.productCreatesPerSecond} | **${t.createsProductOverBareStarts}** | ${t.bareJourneysPerSecond} | ${t.productJourneysPerSecond} | **${t.journeysProductOverBare}** |`);
  }
  out.push('');
  out.push('| p50 / p95 / p99 (ms), concurrency | bare start | bare journey | product create (alone) | create | open link | analysis | complete | completion → webhook | decision | decision → webhook | whole journey |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of result.runs ?? []) {
    const l = r.latencyMs;
    out.push(`| ${r.sessions} at ${r.concurrency} | ${p(l.bareStart)} | ${p(l.bareJourney)} | ${p(l.productCreateOnly)} | ${p(l.create)} | ${p(l.openLink)} | ${p(l.analysis)} | ${p(l.complete)} | ${p(l.completionToWebhook)} | ${p(l.decision)} | ${p(l.decisionToWebhook)} | ${p(l.journey)} |`);
  }
  out.push('');
  out.push('| CPU seconds during the phase (RSS MB after it) | Temporal dev server | API | worker | bare worker | load generator |');
  out.push('|---|---|---|---|---|---|');
  for (const r of result.runs ?? []) {
    for (const [phase, s] of Object.entries(r.processes as Record<string, Json>)) {
      if (!s) continue; // not among --phases
      const c = s.cpuSeconds;
      const m = s.rssMb;
      out.push(`| ${r.sessions} at ${r.concurrency}: ${phase} (${r.seconds[phase]} s) | ${c.temporal} (${m.temporal}) | ${c.api} (${m.api}) | ${c.worker} (${m.worker}) | ${c.bareWorker} (${m.bareWorker}) | ${c.loadGenerator} (${m.loadGenerator}) |`);
    }
  }
  for (const r of result.runs ?? []) {
    if (!r.retries503) continue; // a result from before the per-step counts
    const histogram = (d: Json) => Object.entries(d.histogram as Record<string, number>).map(([retries, calls]) => `${retries}×${calls}`).join(', ');
    out.push('', `503 retries per call, ${r.sessions} at ${r.concurrency} (retries × calls that needed that many; a retry waits the answer's Retry-After):`, '');
    out.push('| step | calls | calls retried | retries | max | distribution |', '|---|---|---|---|---|---|');
    for (const [step, d] of Object.entries(r.retries503 as Record<string, Json>)) out.push(`| ${step} | ${d.calls} | ${d.retried} | ${d.retries} | ${d.max} | ${histogram(d)} |`);
    const failed = (r.failedJourneys ?? []) as Json[];
    out.push('', `Journeys failed, ${r.sessions} at ${r.concurrency}: ${failed.length} of ${r.journeys}${failed.length ? ` (by step: ${JSON.stringify(r.failedJourneysByStep)}); journeys/s counts the ${r.journeysFinished} that finished` : ''}.`);
    for (const f of failed) {
      const s = f.diagnosis?.session;
      const task = s?.pendingWorkflowTask;
      out.push(`- journey ${f.journey}, session ${f.sessionId}: ${f.step} answered ${f.status ?? f.error} after ${f.retried ?? '–'} retries (${f.elapsedMs ? Math.round(f.elapsedMs / 1000) : '–'} s); workflow ${s?.error ?? `history ${s?.historyLength} events, workflow task ${task ? `${task.state} attempt ${task.attempt}, scheduled ${task.scheduledMsAgo} ms ago` : 'none pending'}, task failures/timeouts ${s?.workflowTasks?.failed}/${s?.workflowTasks?.timedOut}, last events ${(s?.lastEvents ?? []).join(' ')}`}.`);
    }
    if ((r.slowStepDiagnoses ?? []).length) out.push('', `Slow steps diagnosed (after their 3rd and 10th 503): ${r.slowStepDiagnoses.length} snapshots in the result file (\`slowStepDiagnoses\`).`);
  }
  if (result.noLoss) {
    const n = result.noLoss;
    out.push('');
    if (n.expectedNote) out.push(`Expected counts: ${n.expectedNote}.`, '');
    out.push(`No loss: sessions by status ${JSON.stringify(n.sessionsByStatus)}; deliveries ${JSON.stringify(n.deliveriesByStatus)}; session-end webhooks ${n.webhooks.sessionEnd.distinctIds} distinct ids of ${n.webhooks.sessionEnd.expected} expected (${n.webhooks.sessionEnd.received} received); decision webhooks ${n.webhooks.decision.distinctIds} of ${n.webhooks.decision.expected} (${n.webhooks.decision.received} received); ledger ${JSON.stringify(n.ledger.present)} for ${JSON.stringify(n.ledger.expected)} expected, missing ${n.ledger.missing}, duplicated ${n.ledger.duplicated}, chain valid ${n.ledger.chainValid}.`);
  }
  if (result.workerAfterAllRuns) {
    const w = result.workerAfterAllRuns;
    out.push('');
    out.push(`Worker after all runs: ${w.openSessionWorkflows} open session workflows, RSS ${w.rssMb} MB; sticky cache ${JSON.stringify(w.stickyCache)}.`);
  }
  for (const r of result.runs ?? []) {
    const w = r.workerMemory;
    if (!w?.atRest) continue;
    const line = (label: string, m: Json) =>
      m ? `${label}: RSS ${m.rssMb} MB (main-thread V8 heap ${m.process?.heapTotalMb ?? '?'} MB total / ${m.process?.heapUsedMb ?? '?'} used, external ${m.process?.externalMb ?? '?'}; smaps: file ${m.smaps?.fileMb}, [heap] ${m.smaps?.brkHeapMb}, ${m.smaps?.mallocArenas} malloc arenas ${m.smaps?.mallocArenasMb}, other anonymous ${m.smaps?.otherAnonMb})` : `${label}: —`;
    out.push('', `Worker memory, ${r.sessions} at ${r.concurrency}: ${line('before the creations', w.beforeCreates)}; ${line('after them and their first tasks', w.afterCreates)}; ${line(`after ${w.atRest.seconds} s at rest`, w.atRest)}.`);
  }
  if (result.ledger) out.push('', `Ledger: ${result.ledger.appends} appends in one organization at ${result.ledger.concurrency}: ${result.ledger.appendsPerSecond}/s committed, all chained after ${result.ledger.allChainedMs ?? '–'} ms, p50/p95/p99 ${p(result.ledger.latencyMs)} ms, missing ${result.ledger.missing ?? '–'}, duplicated ${result.ledger.duplicated ?? '–'}, chain valid ${result.ledger.chainValid}.`);
  if (result.retentionRearmOfOpenSessions) {
    const r = result.retentionRearmOfOpenSessions;
    out.push('', `Retention re-arm of the open sessions (PATCH dataRetention to 1m): ${r.overdueSessions} overdue sessions all purged ${r.allPurgedSeconds} s after the PATCH (first after ${r.firstPurgeSeconds} s; ${r.purgesPerSecond}/s) vs a signal to each of ${r.bareWorkflowsSignalled} open bare workflows until its activity's POST: ${r.bareSignalToActivitySeconds} s (${r.bareSignalToActivityPerSecond}/s); ratio ${r.productOverBare}; purge events ${r.purgeEvents}, chain valid ${r.chainValid}.`);
  }
  if (result.retentionRearm) {
    const r = result.retentionRearm;
    out.push('', `Retention re-arm: ${r.sessions} overdue sessions all purged ${r.allPurgedSeconds} s after the PATCH (${r.purgesPerSecond}/s) vs bare signal → activity ${r.bareSignalToActivityPerSecond}/s (ratio ${r.productOverBare}); purged ${r.purged}, purge events ${r.purgeEvents}, chain valid ${r.chainValid}.`);
  }
  return out.join('\n');
}

if (require.main === module) {
  for (const file of process.argv.slice(2)) process.stdout.write(`${markdown(JSON.parse(fs.readFileSync(file, 'utf8')))}\n\n`);
}
