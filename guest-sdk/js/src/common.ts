// Stands in for '@temporalio/common' inside a plugin: failures, and the
// payload converter.
export { defaultPayloadConverter, PayloadConverterError } from './converter';
export type { PayloadConverter, RawValue } from './converter';

/** Milliseconds, or a string such as '500ms', '2s', '1.5 minutes', '1h'. */
export type Duration = number | string;

const UNITS: Record<string, number> = {
  ms: 1, millisecond: 1, milliseconds: 1, msec: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

export function msToNumber(duration: Duration): number {
  if (typeof duration === 'number') return duration;
  const match = /^\s*(-?\d*\.?\d+)\s*([a-z]*)\s*$/i.exec(duration);
  const unit = match ? UNITS[(match[2] || 'ms').toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new TypeError(`invalid duration ${JSON.stringify(duration)}`);
  return Math.round(Number(match[1]) * unit);
}

export interface ApplicationFailureOptions {
  message?: string;
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  nextRetryDelay?: Duration;
  cause?: Error;
}

/** Base of the failures a workflow sees. */
export class TemporalFailure extends Error {
  public name = 'TemporalFailure';
}

/** An activity failure: a message, a type to match on, whether the server may retry, details. */
export class ApplicationFailure extends TemporalFailure {
  public name = 'ApplicationFailure';

  constructor(
    message?: string,
    public readonly type?: string,
    public readonly nonRetryable?: boolean,
    public readonly details?: unknown[],
    cause?: Error,
    public readonly nextRetryDelay?: Duration,
  ) {
    super(message ?? undefined, cause ? { cause } : undefined);
  }

  static create(options: ApplicationFailureOptions): ApplicationFailure {
    const { message, type, nonRetryable = false, details, nextRetryDelay, cause } = options;
    return new ApplicationFailure(message, type, nonRetryable, details, cause, nextRetryDelay);
  }

  static retryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', false, details);
  }

  static nonRetryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', true, details);
  }

  static fromError(error: unknown, options: ApplicationFailureOptions = {}): ApplicationFailure {
    if (error instanceof ApplicationFailure) return error;
    const e = error instanceof Error ? error : new Error(String(error));
    return ApplicationFailure.create({ message: e.message, type: e.name, cause: e, ...options });
  }
}

/** Thrown where an activity waits once the server asked it to stop. */
export class CancelledFailure extends TemporalFailure {
  public name = 'CancelledFailure';
  constructor(message = 'Cancelled', public readonly details: unknown[] = []) {
    super(message);
  }
}
