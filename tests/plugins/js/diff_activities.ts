// The differential test's activities in TypeScript (tests/e2e/test_differential.py):
// the same names and behaviour as tests/plugins/python/diff_activities.py,
// written as the TypeScript SDK writes them.
import { activityInfo, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { dynamicActivity } from 'activity-host';

export function diff_add(a: number, b: number): number {
  return a + b;
}

export function diff_greet(name: string, punctuation?: string | null): string {
  return `Hello, ${name}${punctuation || '!'}`;
}

export function diff_nothing(): void {}

export function diff_bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function diff_object() {
  return { b: 1, a: { d: [1, 2, -3], c: null }, text: 'héllo ✓ "quoted"\n', yes: true };
}

export function diff_fail(message: string): never {
  throw ApplicationFailure.create({
    message,
    type: 'CardDeclined',
    nonRetryable: true,
    details: [{ code: 51 }, 'second detail'],
    nextRetryDelay: '3s',
  });
}

/** Fails the way code in the language fails by itself. */
export function diff_crash(message: string): never {
  throw new TypeError(message);
}

export function diff_flaky(): string {
  const { attempt } = activityInfo();
  if (attempt < 3) throw ApplicationFailure.create({ message: `attempt ${attempt} fails`, type: 'Flaky', details: [attempt] });
  return `succeeded on attempt ${attempt}`;
}

export function diff_resume(progress: string): string {
  const info = activityInfo();
  if (info.attempt === 1) {
    heartbeat(progress);
    throw ApplicationFailure.retryable('first attempt stops after its heartbeat', 'Flaky');
  }
  return `attempt ${info.attempt} resumed from ${info.heartbeatDetails}`;
}

export function diff_info() {
  const i = activityInfo();
  return {
    activity_type: i.activityType,
    attempt: i.attempt,
    task_queue: i.taskQueue,
    namespace: i.workflowNamespace,
    workflow_type: i.workflowType,
    is_local: i.isLocal,
    heartbeat_details: i.heartbeatDetails === undefined ? [] : [i.heartbeatDetails],
    heartbeat_timeout_ms: i.heartbeatTimeoutMs ?? null,
    schedule_to_close_timeout_ms: i.scheduleToCloseTimeoutMs ?? null,
    start_to_close_timeout_ms: i.startToCloseTimeoutMs ?? null,
  };
}

/** Heartbeats until cancelled; sleep() then rejects with a CancelledFailure. */
export async function diff_wait_cancel(): Promise<string> {
  for (;;) {
    heartbeat('waiting');
    await sleep(50);
  }
}

export async function diff_sleep(millis: number): Promise<string> {
  await sleep(millis);
  return `slept ${millis} ms`;
}

export const diff_dynamic = dynamicActivity((args) => ({
  activity_type: activityInfo().activityType,
  args: args.map((a) => defaultPayloadConverter.fromPayload(a.payload)),
}));
