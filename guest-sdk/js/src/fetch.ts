// `fetch` over the host's wasi:http, replacing the engine's own for http: and
// https: URLs.
//
// Why: StarlingMonkey's fetch reads the host's `error-code` when a request
// fails and throws it away (its wasi-0.2 host API turns every code into one
// internal number), so a plugin only ever saw "NetworkError when attempting
// to fetch resource", whether the manifest did not grant the host, nothing
// listened there, or the certificate was not trusted. The code cannot be
// recovered afterwards (the response future yields it once), and asking again
// would send the request twice. So the request goes out here, through the
// same wasi:http imports, and a failure reads as Node's does:
//
//   TypeError: fetch failed: GET http://10.0.0.1/: HTTP-request-denied (not granted by the plugin's manifest)
//
// with `cause.code` the WIT name of the code (`HTTP-request-denied`,
// `connection-refused`, `TLS-certificate-error`, ...).
//
// What a caller sees otherwise is the standard API: the engine's own Request,
// Headers and Response (streaming body), redirects followed as `redirect`
// says (at most 20), `signal` aborting the request or the body at any point.
// While it waits, the event loop keeps running (timers, cancellation).
import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import {
  Fields,
  IncomingBody,
  OutgoingBody,
  OutgoingRequest,
  httpErrorCode,
  type ErrorCode,
  type FutureIncomingResponse,
  type IncomingResponse,
  type Method,
} from 'wasi:http/types@0.2.12';
import { poll, type Pollable } from 'wasi:io/poll@0.2.12';
import { subscribeDuration } from 'wasi:clocks/monotonic-clock@0.2.12';

const dispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');
const release = (resource: unknown) => (resource as Record<symbol, () => void> | undefined)?.[dispose]?.();

/** How long one wait blocks before the event loop gets a turn. */
const WAIT_SLICE_NS = 10_000_000n;
const MAX_REDIRECTS = 20;
const WRITE_CHUNK = 4096;
const READ_CHUNK = 65536n;
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const BODY_HEADERS = ['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length'];
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** What a binding throws for a WIT `result` error: the error value as `payload`. */
function payloadOf(e: unknown): unknown {
  return e !== null && typeof e === 'object' && 'payload' in e ? (e as { payload: unknown }).payload : undefined;
}

/** The WIT name of an error code, with what it carries or, for a refusal, why. */
export function describeErrorCode(code: ErrorCode): string {
  const val = (code as { val?: unknown }).val;
  switch (code.tag) {
    case 'HTTP-request-denied':
      return `${code.tag} (not granted by the plugin's manifest)`;
    case 'TLS-certificate-error':
      return `${code.tag} (the server's certificate is not trusted)`;
  }
  if (val === undefined || val === null) return code.tag;
  const parts = typeof val === 'object' ? Object.values(val).filter((v) => v !== undefined && v !== null) : [val];
  return parts.length ? `${code.tag} (${parts.join(' ')})` : code.tag;
}

function failed(what: string, reason: string, code?: ErrorCode): TypeError {
  const cause = new Error(reason) as Error & { code?: string; errorCode?: ErrorCode };
  if (code) {
    cause.code = code.tag;
    cause.errorCode = code;
  }
  return new TypeError(`fetch failed: ${what}: ${reason}`, { cause });
}

function codeFailure(what: string, code: ErrorCode): TypeError {
  return failed(what, describeErrorCode(code), code);
}

/** A stream error: the host's error code if it gave one, else its text. */
function streamFailure(what: string, error: unknown): TypeError {
  const p = payloadOf(error) as { tag: string; val?: { toDebugString(): string } } | undefined;
  if (p?.tag === 'last-operation-failed' && p.val) {
    const code = httpErrorCode(p.val as never);
    const reason = code ? describeErrorCode(code) : p.val.toDebugString();
    release(p.val);
    return code ? codeFailure(what, code) : failed(what, reason);
  }
  return failed(what, p?.tag === 'closed' ? 'the stream closed' : String(error));
}

const sleep0 = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Waits for `pollable` in slices, so timers and other tasks run meanwhile. */
async function wait(pollable: Pollable, signal: AbortSignal | null): Promise<void> {
  while (!pollable.ready()) {
    if (signal?.aborted) throw signal.reason;
    const slice = subscribeDuration(WAIT_SLICE_NS);
    try {
      poll([pollable, slice]);
    } finally {
      release(slice);
    }
    if (!pollable.ready()) await sleep0();
  }
  if (signal?.aborted) throw signal.reason;
}

/** Header values are byte strings: one char per byte, either way. */
const toBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const fromBytes = (b: Uint8Array) => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};

const METHODS: Record<string, Method['tag']> = {
  GET: 'get', HEAD: 'head', POST: 'post', PUT: 'put', DELETE: 'delete',
  CONNECT: 'connect', OPTIONS: 'options', TRACE: 'trace', PATCH: 'patch',
};

/** Starts the request and writes its body; the future says how it went. */
function send(what: string, method: string, url: URL, headers: [string, string][], body: Uint8Array | null): FutureIncomingResponse {
  const fields = new Fields();
  for (const [name, value] of headers) {
    try {
      fields.append(name, toBytes(value));
    } catch (e) {
      // Connection, Host, Transfer-Encoding and the like are the host's to
      // set; a browser drops such headers silently too.
      if ((payloadOf(e) as { tag?: string } | undefined)?.tag === 'forbidden') continue;
      release(fields);
      throw failed(what, `header ${name} refused by wasi:http`);
    }
  }
  // Without a length the body goes out chunked, which many servers (Python's
  // http.server among them) read as empty; fetch sends 0 for an empty POST/PUT.
  if ((body !== null || method === 'POST' || method === 'PUT') && !headers.some(([n]) => n === 'content-length')) {
    fields.append('content-length', toBytes(String(body?.length ?? 0)));
  }
  const request = new OutgoingRequest(fields);
  const tag = METHODS[method];
  request.setMethod(tag ? ({ tag } as Method) : { tag: 'other', val: method });
  request.setScheme({ tag: url.protocol === 'https:' ? 'HTTPS' : 'HTTP' });
  request.setAuthority(url.host);
  request.setPathWithQuery(`${url.pathname || '/'}${url.search}`);
  const outgoing = request.body();
  let future: FutureIncomingResponse;
  try {
    future = handle(request, undefined);
  } catch (e) {
    release(outgoing);
    const code = payloadOf(e) as ErrorCode | undefined;
    throw code ? codeFailure(what, code) : e;
  }
  // A write fails when the host dropped the request (refused it, could not
  // connect) or the server answered early: the response, or the error code
  // in its place, says more, so it decides.
  try {
    const stream = outgoing.write();
    try {
      for (let at = 0; body && at < body.length; at += WRITE_CHUNK) {
        stream.blockingWriteAndFlush(body.subarray(at, at + WRITE_CHUNK));
      }
    } finally {
      release(stream);
    }
  } catch {
    // see above
  }
  try {
    OutgoingBody.finish(outgoing, undefined);
  } catch {
    // see above
  }
  return future;
}

async function receive(what: string, future: FutureIncomingResponse, signal: AbortSignal | null): Promise<IncomingResponse> {
  const pollable = future.subscribe();
  try {
    await wait(pollable, signal);
    const result = future.get();
    if (result?.tag !== 'ok') throw failed(what, 'no response');
    if (result.val.tag === 'err') throw codeFailure(what, result.val.val);
    return result.val.val;
  } finally {
    // Dropping the future before it resolves cancels the request.
    release(pollable);
    release(future);
  }
}

/** The response body, read from the host as the caller reads it. */
function bodyStream(what: string, response: IncomingResponse, signal: AbortSignal | null): ReadableStream<Uint8Array> | null {
  const incoming = response.consume();
  const stream = incoming.stream();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    // Children before parents: wasi:http traps otherwise.
    release(stream);
    release(IncomingBody.finish(incoming));
    release(response);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          let chunk: Uint8Array;
          try {
            chunk = stream.read(READ_CHUNK);
          } catch (e) {
            if ((payloadOf(e) as { tag?: string } | undefined)?.tag === 'closed') {
              close();
              controller.close();
              return;
            }
            throw streamFailure(`${what}: reading the body`, e);
          }
          if (chunk.length) {
            controller.enqueue(chunk);
            return;
          }
          const ready = stream.subscribe();
          try {
            await wait(ready, signal);
          } finally {
            release(ready);
          }
        }
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel() {
      close();
    },
  });
}

const engineFetch = globalThis.fetch;

/** `fetch`, with the host's reason when a request fails. */
export async function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init);
  let url = new URL(request.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return engineFetch(input, init);
  const signal = init?.signal ?? request.signal ?? null;
  if (signal?.aborted) throw signal.reason;
  const mode = init?.redirect ?? request.redirect ?? 'follow';
  let method = request.method.toUpperCase();
  let headers: [string, string][] = [...request.headers];
  let body: Uint8Array | null = method === 'GET' || method === 'HEAD' ? null : new Uint8Array(await request.arrayBuffer());
  let redirected = false;

  for (let redirects = 0; ; redirects++) {
    const what = `${method} ${url.href}`;
    const response = await receive(what, send(what, method, url, headers, body), signal);
    const status = response.status();
    const fields = response.headers();
    const entries = fields.entries();
    release(fields);
    const location = entries.find(([name]) => name === 'location');

    if (REDIRECT_STATUS.has(status) && location && mode !== 'manual') {
      release(response);
      if (mode === 'error') throw failed(what, `redirected (${status}) while redirect is "error"`);
      if (redirects === MAX_REDIRECTS) throw failed(what, `more than ${MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(fromBytes(location[1]), url);
      } catch {
        throw failed(what, `redirect to an invalid URL: ${fromBytes(location[1])}`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw failed(what, `redirect to ${next.protocol} URL`);
      if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
        method = 'GET';
        body = null;
        headers = headers.filter(([name]) => !BODY_HEADERS.includes(name));
      }
      // A credential goes only where it was meant to.
      if (next.origin !== url.origin) headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.includes(name));
      url = next;
      redirected = true;
      continue;
    }

    const responseHeaders = new Headers();
    for (const [name, value] of entries) responseHeaders.append(name, fromBytes(value));
    let stream: ReadableStream<Uint8Array> | null = null;
    if (method === 'HEAD' || NULL_BODY_STATUS.has(status)) release(response);
    else stream = bodyStream(what, response, signal);
    const result = new Response(stream, { status, headers: responseHeaders });
    Object.defineProperty(result, 'url', { value: url.href, enumerable: true });
    Object.defineProperty(result, 'redirected', { value: redirected, enumerable: true });
    return result;
  }
}

globalThis.fetch = fetch as typeof globalThis.fetch;
