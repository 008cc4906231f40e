// The host's `context` interface (wit/activity.wit), as componentize-js binds it.
declare module 'activity-host:plugin/context@0.1.0' {
  export interface Payload {
    metadata: Array<[string, Uint8Array]>;
    data: Uint8Array;
  }
  export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
  export interface ActivityInfo {
    activityId: string;
    activityType: string;
    attempt: number;
    namespace: string;
    taskQueue: string;
    workflowId?: string;
    workflowRunId?: string;
    workflowType?: string;
    heartbeatDetails: Payload[];
    scheduledTimeMs: bigint;
    currentAttemptScheduledTimeMs: bigint;
    startedTimeMs: bigint;
    scheduleToCloseTimeoutMs?: bigint;
    startToCloseTimeoutMs?: bigint;
    heartbeatTimeoutMs?: bigint;
    isLocal: boolean;
  }
  export function info(): ActivityInfo;
  export function heartbeat(details: Payload[]): void;
  export function isCancelled(): boolean;
  export function log(level: LogLevel, message: string): void;
}
