// The activities as the host runs them: `make test` builds the plugin, then
// calls each case through `host call` (the Temporal SDK imports resolve to
// the plugin's own, so the module does not run under plain node).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const host = process.env.HOST ?? '{{host}}';
const plugins = fileURLToPath(new URL('.', import.meta.url));
const call = (activity, ...args) =>
  promisify(execFile)(host, ['call', '--plugins', plugins, activity, ...args.map((a) => JSON.stringify(a))]);

test('composes the greeting', async () => {
  const { stdout } = await call('composeGreeting', { greeting: 'Hello', name: 'World' });
  assert.equal(JSON.parse(stdout), 'Hello, World!');
});

test('an empty name fails for good', async () => {
  await assert.rejects(call('composeGreeting', { greeting: 'Hello', name: '' }), (error) => {
    assert.equal(error.code, 1);
    assert.match(error.stderr, /type: InvalidInput/);
    assert.match(error.stderr, /non-retryable: true/);
    return true;
  });
});
