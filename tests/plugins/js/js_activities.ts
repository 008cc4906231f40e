// JavaScript (TypeScript) test plugin: the failure, retry, heartbeat,
// cancellation and sandbox cases of the Rust test plugin.
import { Context, activityInfo, heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

interface YourParams {
  greeting: string;
  name: string;
}

export async function js_your_activity(input: YourParams): Promise<string> {
  return `${input.greeting}, ${input.name}!`;
}

export function js_add(a: number, b: number): number {
  return a + b;
}

export function js_fail(message: string): never {
  throw ApplicationFailure.create({
    message,
    type: 'CardDeclined',
    nonRetryable: true,
    details: [{ code: 51 }, 'second detail'],
    nextRetryDelay: '3s',
  });
}

export function js_crash(message: string): never {
  throw new TypeError(message);
}

export function js_flaky(): string {
  const { attempt } = activityInfo();
  if (attempt < 2) throw ApplicationFailure.retryable(`attempt ${attempt} fails`, 'Flaky');
  return `succeeded on attempt ${attempt}`;
}

export function js_resume(progress: string): string {
  const info = activityInfo();
  if (info.attempt === 1) {
    heartbeat(progress);
    throw ApplicationFailure.retryable('first attempt stops after its heartbeat', 'Flaky');
  }
  return `attempt ${info.attempt} resumed from ${info.heartbeatDetails}`;
}

/** Heartbeats until cancelled; Context.sleep() then rejects with a CancelledFailure. */
export async function js_wait_cancel(): Promise<string> {
  for (let beats = 1; ; beats++) {
    heartbeat(beats);
    await sleep(50);
  }
}

export function js_spin(): number {
  let n = 0;
  for (;;) n++;
}

export function js_info() {
  const info = Context.current().info;
  return {
    activityType: info.activityType,
    attempt: info.attempt,
    taskQueue: info.taskQueue,
    workflowId: info.workflowExecution.workflowId,
    workflowType: info.workflowType,
    startToCloseTimeoutMs: info.startToCloseTimeoutMs ?? null,
  };
}

let calls = 0;

/** Counts its calls in a module global: 1 every time on fresh instances. */
export function js_count(): number {
  return ++calls;
}

export function js_nothing(): void {
  Context.current().log.info('js_nothing ran');
}

export function js_bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
