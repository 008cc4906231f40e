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

// The wasi:http imports that src/fetch.ts uses (wit/plugin-http.wit's world),
// as componentize-js binds them: a WIT `result` error is thrown, its value in
// the exception's `payload`; resources are freed with [Symbol.dispose]().
declare module 'wasi:io/poll@0.2.12' {
  export class Pollable {
    ready(): boolean;
    block(): void;
  }
  export function poll(pollables: Pollable[]): Uint32Array;
}
declare module 'wasi:clocks/monotonic-clock@0.2.12' {
  import type { Pollable } from 'wasi:io/poll@0.2.12';
  export function subscribeDuration(nanoseconds: bigint): Pollable;
}
declare module 'wasi:http/types@0.2.12' {
  import type { Pollable } from 'wasi:io/poll@0.2.12';
  export type ErrorCode = { tag: string; val?: unknown };
  export type Method =
    | { tag: 'get' | 'head' | 'post' | 'put' | 'delete' | 'connect' | 'options' | 'trace' | 'patch' }
    | { tag: 'other'; val: string };
  export type Scheme = { tag: 'HTTP' | 'HTTPS' } | { tag: 'other'; val: string };
  interface IoError {
    toDebugString(): string;
  }
  export class InputStream {
    read(len: bigint): Uint8Array;
    subscribe(): Pollable;
  }
  export class OutputStream {
    blockingWriteAndFlush(contents: Uint8Array): void;
  }
  export function httpErrorCode(error: IoError): ErrorCode | undefined;
  export class Fields {
    constructor();
    append(name: string, value: Uint8Array): void;
    entries(): Array<[string, Uint8Array]>;
  }
  export class OutgoingRequest {
    constructor(headers: Fields);
    body(): OutgoingBody;
    setMethod(method: Method): void;
    setScheme(scheme: Scheme | undefined): void;
    setAuthority(authority: string | undefined): void;
    setPathWithQuery(pathWithQuery: string | undefined): void;
  }
  export class OutgoingBody {
    write(): OutputStream;
    static finish(body: OutgoingBody, trailers: Fields | undefined): void;
  }
  export class FutureIncomingResponse {
    subscribe(): Pollable;
    get(): { tag: 'ok'; val: { tag: 'ok'; val: IncomingResponse } | { tag: 'err'; val: ErrorCode } } | { tag: 'err' } | undefined;
  }
  export class IncomingResponse {
    status(): number;
    headers(): Fields;
    consume(): IncomingBody;
  }
  export class IncomingBody {
    stream(): InputStream;
    static finish(body: IncomingBody): unknown;
  }
  export class RequestOptions {}
}
declare module 'wasi:http/outgoing-handler@0.2.12' {
  import type { FutureIncomingResponse, OutgoingRequest, RequestOptions } from 'wasi:http/types@0.2.12';
  export function handle(request: OutgoingRequest, options: RequestOptions | undefined): FutureIncomingResponse;
}

// The host's `postgres` interface (wit/postgres.wit), as componentize-js
// binds it (src/postgres.ts uses it): variants are `{ tag, val }` with the
// WIT case names, s64/u64 are bigint, option<T> is T | undefined, a WIT
// `result` error is thrown with its value as the exception's `payload`.
declare module 'activity-host:plugin/postgres@0.1.0' {
  type Opt<T> = T | undefined;
  export type DbValue =
    | { tag: 'null' }
    | { tag: 'boolean'; val: boolean }
    | { tag: 'int16' | 'int32' | 'float32' | 'float64' | 'date'; val: number }
    | { tag: 'int64' | 'time' | 'timestamp' | 'timestamptz'; val: bigint }
    | { tag: 'numeric' | 'text' | 'uuid' | 'json' | 'jsonb' | 'unsupported'; val: string }
    | { tag: 'bytea'; val: Uint8Array }
    | { tag: 'array-boolean'; val: Opt<boolean>[] }
    | { tag: 'array-int16' | 'array-int32' | 'array-float32' | 'array-float64' | 'array-date'; val: Opt<number>[] }
    | { tag: 'array-int64' | 'array-time' | 'array-timestamp' | 'array-timestamptz'; val: Opt<bigint>[] }
    | { tag: 'array-numeric' | 'array-text' | 'array-uuid' | 'array-json' | 'array-jsonb'; val: Opt<string>[] }
    | { tag: 'array-bytea'; val: Opt<Uint8Array>[] };
  export interface Column {
    name: string;
    typeName: string;
  }
  export interface RowSet {
    columns: Column[];
    rows: DbValue[][];
  }
  export interface ServerError {
    sqlstate: string;
    severity: string;
    message: string;
    detail?: string;
    hint?: string;
    table?: string;
    column?: string;
    constraint?: string;
  }
  export type Error =
    | { tag: 'server'; val: ServerError }
    | { tag: 'not-granted' | 'connection-failed' | 'bad-parameter' | 'not-allowed' | 'timeout' | 'other'; val: string };
  export class Connection {
    static open(name: string): Connection;
    query(statement: string, params: DbValue[]): RowSet;
    execute(statement: string, params: DbValue[]): bigint;
    begin(): void;
    commit(): void;
    rollback(): void;
    inTransaction(): boolean;
  }
}
