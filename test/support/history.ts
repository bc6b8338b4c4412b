// Reads a workflow's history as Temporal stores it and as the project's codec decodes it.
// `JSON.stringify` of a protobuf History finds nothing: payload data are byte arrays. This
// walks every message, finds every Payload (inputs, results, signals, updates, memo, headers,
// user metadata, failures' encoded attributes, search attributes) and turns each into text.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { EncryptionCodec, isEncrypted, keyIdOf } from '../../src/payloads/codec';
import type { DataKeyStore } from '../../src/payloads/keyStore';

export interface HistoryPayload {
  eventId: string;
  eventType: string;
  /** Where in the event: e.g. `workflowExecutionSignaledEventAttributes.input.payloads.0`. */
  path: string;
  encrypted: boolean;
  keyId: string | null;
  /** The decoded value, or the decoding error's message. */
  value?: unknown;
  error?: string;
}

export interface ReadHistory {
  payloads: HistoryPayload[];
  /** What Temporal holds in clear: every string field and every payload's bytes as UTF-8. */
  storedText: string;
  /** The same with every payload decoded by the project's codec (failed decodes excluded). */
  decodedText: string;
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
function isPayload(v: unknown): v is Payload {
  if (typeof v !== 'object' || v === null) return false;
  const { metadata, data } = v as Payload;
  return typeof metadata === 'object' && metadata !== null && Object.values(metadata).every(isBytes) && (data == null || isBytes(data));
}

export async function readHistory(client: Client, workflowId: string, keys: DataKeyStore): Promise<ReadHistory> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const codec = new EncryptionCodec(keys);
  const payloads: HistoryPayload[] = [];
  const clear: string[] = [];
  const decoded: string[] = [];

  const visit = async (node: unknown, at: { eventId: string; eventType: string; path: string[] }): Promise<void> => {
    if (node === null || node === undefined) return;
    if (typeof node === 'string') {
      clear.push(node);
      return;
    }
    if (isBytes(node)) {
      clear.push(Buffer.from(node).toString('utf8'));
      return;
    }
    if (typeof node !== 'object') return;
    if (isPayload(node)) {
      clear.push(...Object.values(node.metadata ?? {}).map((b) => Buffer.from(b).toString('utf8')));
      // Ciphertext is not text (and random bytes could spell a short marker by chance).
      if (!isEncrypted(node)) clear.push(Buffer.from(node.data ?? []).toString('utf8'));
      const entry: HistoryPayload = { eventId: at.eventId, eventType: at.eventType, path: at.path.join('.'), encrypted: isEncrypted(node), keyId: keyIdOf(node) };
      try {
        entry.value = defaultPayloadConverter.fromPayload(await codec.decodeOne(node));
        decoded.push(JSON.stringify(entry.value));
      } catch (err) {
        entry.error = (err as Error).message;
      }
      payloads.push(entry);
      return;
    }
    for (const [k, v] of Object.entries(node)) await visit(v, { ...at, path: [...at.path, k] });
  };

  for (const event of history.events ?? []) {
    const eventId = String(event.eventId);
    const attrKey = Object.keys(event).find((k) => k.endsWith('EventAttributes') && (event as Record<string, unknown>)[k]);
    const eventType = attrKey ? attrKey.replace(/EventAttributes$/, '') : String(event.eventType);
    await visit(event, { eventId, eventType, path: [] });
  }
  // A string field in clear (a failure's message, an identity) counts in both readings.
  return { payloads, storedText: clear.join('\n'), decodedText: [...clear, ...decoded].join('\n') };
}

/**
 * Payloads that must be encrypted but are not. Two kinds are not ours to encrypt and hold ids
 * only: search attributes (the server indexes them: ids, statuses, instants, a keyed hash) and
 * the SDK core's own marker data (local activities: type, sequence number, times; patches: ids).
 */
export function unencryptedPayloads(history: ReadHistory): HistoryPayload[] {
  return history.payloads.filter(
    (p) => !p.encrypted && !p.path.includes('searchAttributes') && !/^markerRecordedEventAttributes\.details\.(data|patch-data)\./.test(p.path),
  );
}


/**
 * Replaces every encrypted payload of a history by its decoded form, in place: replay tests
 * then run without keys, and captured fixtures stay replayable once the test database is gone.
 */
export async function decodeHistoryInPlace(history: unknown, keys: DataKeyStore): Promise<void> {
  const codec = new EncryptionCodec(keys);
  const visit = async (node: unknown): Promise<void> => {
    if (typeof node !== 'object' || node === null || isBytes(node)) return;
    if (isPayload(node)) {
      if (isEncrypted(node)) {
        const plain = await codec.decodeOne(node);
        node.metadata = plain.metadata;
        node.data = plain.data;
      }
      return;
    }
    for (const v of Object.values(node)) await visit(v);
  };
  await visit(history);
}

/**
 * Why a workflow is not moving, for a test's failure message: its status, pending activities
 * (attempt, last failure) and its workflow-task failures, decoded (the failure converter
 * encrypts their messages: the stored text only says "Encoded failure").
 */
export async function whyStuck(client: Client, workflowId: string, keys: DataKeyStore): Promise<unknown> {
  try {
    const handle = client.workflow.getHandle(workflowId);
    const { raw, status } = await handle.describe();
    const history = await readHistory(client, workflowId, keys);
    const taskFailures = history.payloads
      .filter((p) => p.eventType === 'workflowTaskFailed' || p.path.includes('failure'))
      .slice(-3)
      .map((p) => ({ eventId: p.eventId, eventType: p.eventType, value: p.value, error: p.error }));
    const pending = (raw.pendingActivities ?? []).map((a) => ({
      activity: a.activityType?.name,
      state: a.state,
      attempt: a.attempt,
      lastFailure: a.lastFailure?.message,
    }));
    const lastEvents = (await handle.fetchHistory()).events!.slice(-5).map((e) => `${e.eventId}:${temporal.api.enums.v1.EventType[e.eventType ?? 0]}`);
    // A workflow task that keeps failing or timing out is retried without new events (a
    // transient task, backed off by the server): only describe shows its attempt.
    const task = raw.pendingWorkflowTask;
    const workflowTask = task && { state: task.state, attempt: task.attempt, scheduled: task.scheduledTime, started: task.startedTime };
    return { workflowId, status: status.name, pending, workflowTask, lastEvents, taskFailures };
  } catch (err) {
    return { workflowId, error: (err as Error).message };
  }
}

/** Workflow time of a history event, in ms. */
const eventTimeMs = (e: temporal.api.history.v1.IHistoryEvent): number =>
  Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);

/**
 * The instant a timer was armed for, in workflow time: the workflow computed its timeout from
 * its own clock, which is the start of the workflow task that armed it (not the TimerStarted
 * event's time, which is when that task completed: later, on a loaded worker).
 */
export function timerArmedForMs(events: temporal.api.history.v1.IHistoryEvent[], timerStartedIndex: number): number {
  const { EventType } = temporal.api.enums.v1;
  const timeout = events[timerStartedIndex]!.timerStartedEventAttributes!.startToFireTimeout!;
  let task = timerStartedIndex;
  while (task > 0 && events[task]!.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) task--;
  return eventTimeMs(events[task]!) + Number(timeout.seconds) * 1000 + Math.floor((timeout.nanos ?? 0) / 1e6);
}

/**
 * What woke the workflow task that scheduled `activityType` the first time: the timer it had
 * armed (and the instant that timer was armed for, in workflow time) or a signal. Read from
 * the history, so a test can say "purged by the timer armed for purgeAt" instead of bounding
 * how much time went by.
 */
export async function whatScheduled(
  client: Client,
  workflowId: string,
  activityType: string,
): Promise<{ by: 'timer'; armedForMs: number } | { by: 'signal'; signal: string } | { by: 'other' } | null> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  if (at < 0) return null;
  const { EventType } = temporal.api.enums.v1;
  // Back to the start of the workflow task that scheduled it; what came before that task is the trigger.
  let i = at;
  while (i >= 0 && events[i]!.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) i--;
  for (let j = i - 1; j >= 0; j--) {
    const e = events[j]!;
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) break;
    if (e.timerFiredEventAttributes) {
      const startedAt = events.findIndex((s) => s.timerStartedEventAttributes?.timerId === e.timerFiredEventAttributes!.timerId);
      return { by: 'timer', armedForMs: timerArmedForMs(events, startedAt) };
    }
    if (e.workflowExecutionSignaledEventAttributes) return { by: 'signal', signal: e.workflowExecutionSignaledEventAttributes.signalName ?? '' };
  }
  return { by: 'other' };
}
