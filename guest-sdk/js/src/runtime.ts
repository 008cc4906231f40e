// Turns a module of activity functions into the plugin world's
// `activities` export, as the TypeScript SDK's worker registers a module:
// each exported function is an activity, its export name the activity type
// (`export { sayHello as 'my-activity' }` for a custom one).
import type { Payload } from 'activity-host:plugin/context@0.1.0';
import { Context } from './activity';
import { ApplicationFailure, CancelledFailure, msToNumber } from './common';
import { defaultPayloadConverter } from './converter';
import { DYNAMIC } from './index';

type Activity = (...args: unknown[]) => unknown;

interface ApplicationErrorRecord {
  message: string;
  errorType: string;
  nonRetryable: boolean;
  details: Payload[];
  nextRetryDelayMs: bigint | undefined;
  stackTrace: string;
}

type Result = { tag: 'ok'; val: Payload } | { tag: 'err'; val: ApplicationErrorRecord };

function record(
  message: string,
  errorType: string,
  options: { nonRetryable?: boolean; details?: unknown[]; nextRetryDelayMs?: number; stack?: string } = {},
): ApplicationErrorRecord {
  return {
    message,
    errorType,
    nonRetryable: options.nonRetryable ?? false,
    details: (options.details ?? []).map((d) => defaultPayloadConverter.toPayload(d)),
    nextRetryDelayMs: options.nextRetryDelayMs === undefined ? undefined : BigInt(Math.max(0, Math.round(options.nextRetryDelayMs))),
    stackTrace: options.stack ?? '',
  };
}

/** The failure a native TypeScript worker would report for `error`. */
function failure(error: unknown): ApplicationErrorRecord {
  if (error instanceof ApplicationFailure) {
    return record(error.message, error.type ?? '', {
      nonRetryable: error.nonRetryable,
      details: error.details,
      nextRetryDelayMs: error.nextRetryDelay === undefined ? undefined : msToNumber(error.nextRetryDelay),
      stack: error.stack,
    });
  }
  // The host completes a stop after a cancellation request as cancelled.
  if (error instanceof CancelledFailure) {
    return record(error.message, 'CancelledError', { details: error.details, stack: error.stack });
  }
  if (error instanceof Error) return record(error.message, error.name || 'Error', { stack: error.stack });
  return record(String(error), 'Error');
}

export function makeActivities(module: Record<string, unknown>) {
  const named = new Map<string, Activity>();
  let dynamic: Activity | undefined;
  let dynamicName = '';
  for (const [name, value] of Object.entries(module)) {
    if (typeof value !== 'function') continue;
    if ((value as { [DYNAMIC]?: true })[DYNAMIC]) {
      if (dynamic) throw new TypeError('More than one dynamic activity');
      dynamic = value as Activity;
      dynamicName = name;
    } else {
      named.set(name, value as Activity);
    }
  }
  if (named.size === 0 && !dynamic) throw new TypeError('the module exports no activity function');

  return {
    definitions() {
      const list = [...named.keys()].map((name) => ({ name, dynamic: false }));
      if (dynamic) list.push({ name: dynamicName, dynamic: true });
      return list;
    },

    async execute(name: string, args: Payload[]): Promise<Result> {
      const fn = named.get(name) ?? dynamic;
      if (!fn) {
        const available = [...named.keys()].sort().join(', ');
        return {
          tag: 'err',
          val: record(`Activity function ${name} is not registered on this worker, available activities: ${available}`, 'NotFoundError'),
        };
      }
      Context.enter();
      try {
        let values: unknown[];
        if (fn === dynamic && !named.has(name)) {
          values = [args.map((payload) => ({ payload }))];
        } else {
          try {
            values = args.map((p) => defaultPayloadConverter.fromPayload(p));
          } catch (e) {
            return { tag: 'err', val: record(`Failed decoding arguments: ${(e as Error).message}`, 'DecodeError') };
          }
        }
        const result = await fn(...values);
        return { tag: 'ok', val: defaultPayloadConverter.toPayload(result) };
      } catch (e) {
        // Never let an exception out of the export: it would trap the instance.
        return { tag: 'err', val: failure(e) };
      } finally {
        Context.exit();
      }
    },
  };
}
