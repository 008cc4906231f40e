// JavaScript (TypeScript) test plugin: one activity, `http_call`, that sends
// the request it is given with `fetch` and describes the response, or the
// error, as data (the contract of tests/e2e's HTTP tests), so a refused
// request is a result to check rather than a failed activity.

interface Call {
  client: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
}

export async function http_call(call: Call): Promise<unknown> {
  if (call.client !== 'fetch') {
    return { error: 'ValueError', message: `unknown client ${JSON.stringify(call.client)} (this plugin has "fetch")` };
  }
  const headers = new Headers(call.headers ?? {});
  let body: string | undefined;
  if (call.json !== undefined && call.json !== null) {
    body = JSON.stringify(call.json);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  try {
    const response = await fetch(call.url, { method: call.method, headers, body });
    const first: Record<string, string> = {};
    // (Headers joins a repeated header's values with ", "; the servers of the
    // tests send each once.)
    response.headers.forEach((value, name) => {
      first[name] = value;
    });
    return { status: response.status, headers: first, body: await response.text(), url: response.url };
  } catch (e) {
    const error = e as Error;
    return { error: error.name, message: error.message };
  }
}
