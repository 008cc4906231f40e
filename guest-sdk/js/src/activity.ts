// Stands in for '@temporalio/activity' inside a plugin: the running
// activity's Context, with the TypeScript SDK's names.
import * as host from 'activity-host:plugin/context@0.1.0';
import { CancelledFailure, type Duration, msToNumber } from './common';
import { defaultPayloadConverter } from './converter';

export { ApplicationFailure, CancelledFailure } from './common';

/** What the running activity knows about itself (`Context.current().info`). */
export interface Info {
  taskToken: Uint8Array;
  activityId: string;
  activityType: string;
  attempt: number;
  isLocal: boolean;
  namespace: string;
  /** @deprecated the TypeScript SDK's older name for `namespace`. */
  activityNamespace: string;
  taskQueue: string;
  workflowNamespace: string;
  workflowExecution: { workflowId: string; runId: string };
  workflowType: string;
  /** The details the previous attempt last passed to heartbeat(), decoded. */
  heartbeatDetails: unknown;
  heartbeatTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  startToCloseTimeoutMs?: number;
  scheduledTimestampMs: number;
  currentAttemptScheduledTimestampMs: number;
  startedTimestampMs: number;
}

export interface Logger {
  trace(message: string, attrs?: Record<string, unknown>): void;
  debug(message: string, attrs?: Record<string, unknown>): void;
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
  error(message: string, attrs?: Record<string, unknown>): void;
}

const optional = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));

function line(message: string, attrs?: Record<string, unknown>): string {
  return attrs && Object.keys(attrs).length ? `${message} ${JSON.stringify(attrs)}` : message;
}

/** How often a running activity asks the host whether it was cancelled. */
const CANCEL_POLL_MS = 100;

export class Context {
  static #current: Context | undefined;

  /** The context of the running activity. */
  static current(): Context {
    if (!Context.#current) throw new Error('Activity context not initialized');
    return Context.#current;
  }

  /** @internal Called by the plugin's export around each execution. */
  static enter(): Context {
    Context.#current = new Context();
    return Context.#current;
  }

  /** @internal */
  static exit(): void {
    const current = Context.#current;
    if (current) current.#stop();
    Context.#current = undefined;
  }

  readonly #abort = new AbortController();
  readonly #poll: ReturnType<typeof setInterval>;
  #info?: Info;

  /** Rejects with a CancelledFailure once the server asks the activity to stop. */
  readonly cancelled: Promise<never>;

  /** Aborted once the server asks the activity to stop. */
  get cancellationSignal(): AbortSignal {
    return this.#abort.signal;
  }

  readonly log: Logger = {
    trace: (m, a) => host.log('trace', line(m, a)),
    debug: (m, a) => host.log('debug', line(m, a)),
    info: (m, a) => host.log('info', line(m, a)),
    warn: (m, a) => host.log('warn', line(m, a)),
    error: (m, a) => host.log('error', line(m, a)),
  };

  private constructor() {
    this.cancelled = new Promise<never>((_, reject) => {
      this.#abort.signal.addEventListener('abort', () => reject(this.#abort.signal.reason));
    });
    this.cancelled.catch(() => {});
    this.#poll = setInterval(() => this.#checkCancelled(), CANCEL_POLL_MS);
  }

  #stop(): void {
    clearInterval(this.#poll);
  }

  #checkCancelled(): void {
    if (!this.#abort.signal.aborted && host.isCancelled()) {
      this.#abort.abort(new CancelledFailure('Activity cancelled'));
    }
  }

  get info(): Info {
    if (this.#info) return this.#info;
    const i = host.info();
    const details = i.heartbeatDetails;
    this.#info = {
      taskToken: new Uint8Array(),
      activityId: i.activityId,
      activityType: i.activityType,
      attempt: i.attempt,
      isLocal: i.isLocal,
      namespace: i.namespace,
      activityNamespace: i.namespace,
      taskQueue: i.taskQueue,
      workflowNamespace: i.namespace,
      workflowExecution: { workflowId: i.workflowId ?? '', runId: i.workflowRunId ?? '' },
      workflowType: i.workflowType ?? '',
      heartbeatDetails: details.length ? defaultPayloadConverter.fromPayload(details[0]) : undefined,
      heartbeatTimeoutMs: optional(i.heartbeatTimeoutMs),
      scheduleToCloseTimeoutMs: optional(i.scheduleToCloseTimeoutMs),
      startToCloseTimeoutMs: optional(i.startToCloseTimeoutMs),
      scheduledTimestampMs: Number(i.scheduledTimeMs),
      currentAttemptScheduledTimestampMs: Number(i.currentAttemptScheduledTimeMs),
      startedTimestampMs: Number(i.startedTimeMs),
    };
    return this.#info;
  }

  /** Records a heartbeat; `details` reach the next attempt as `info.heartbeatDetails`. */
  heartbeat(details?: unknown): void {
    host.heartbeat(details === undefined ? [] : [defaultPayloadConverter.toPayload(details)]);
    this.#checkCancelled();
  }

  /** Sleeps, or rejects with a CancelledFailure as soon as the activity is cancelled. */
  sleep(duration: Duration): Promise<void> {
    const ms = msToNumber(duration);
    return new Promise((resolve, reject) => {
      const signal = this.#abort.signal;
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
  }
}

export const activityInfo = (): Info => Context.current().info;
export const heartbeat = (details?: unknown): void => Context.current().heartbeat(details);
export const sleep = (duration: Duration): Promise<void> => Context.current().sleep(duration);
export const cancelled = (): Promise<never> => Context.current().cancelled;
export const cancellationSignal = (): AbortSignal => Context.current().cancellationSignal;
export const log: Logger = {
  trace: (m, a) => Context.current().log.trace(m, a),
  debug: (m, a) => Context.current().log.debug(m, a),
  info: (m, a) => Context.current().log.info(m, a),
  warn: (m, a) => Context.current().log.warn(m, a),
  error: (m, a) => Context.current().log.error(m, a),
};
