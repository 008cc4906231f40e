// Unit tests of 'activity-host/postgres' without a host: the value mapping
// and the statement classification, which decide what node-postgres code
// sees. Run: node --test guest-sdk/js/test/   (after `make js-deps`)
//
// The module is bundled with esbuild (as build.mjs does), the host's
// interface replaced by a stub: the plugin's real calls are tested against a
// server by the pg test plugins (tests/plugins/js/js_pg.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const stub = {
  name: 'host-stub',
  setup(build) {
    build.onResolve({ filter: /^activity-host:/ }, (args) => ({ path: args.path, namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export class Connection {}', loader: 'js' }));
  },
};
const bundle = await esbuild.build({
  entryPoints: [fileURLToPath(new URL('../src/postgres.ts', import.meta.url))],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  write: false,
  plugins: [stub],
});
const pg = await import(`data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`);

test('statements are classified by their main command', () => {
  const c = (sql) => {
    const { command, returnsRows } = pg.classify(sql);
    return `${command}:${returnsRows}`;
  };
  assert.equal(c('SELECT 1'), 'SELECT:true');
  assert.equal(c('  -- note\n select 1'), 'SELECT:true');
  assert.equal(c('/* x */ UPDATE t SET a = 1'), 'UPDATE:false');
  assert.equal(c("UPDATE t SET a = 'returning' WHERE b = $1"), 'UPDATE:false');
  assert.equal(c('UPDATE t SET a = 1 RETURNING a'), 'UPDATE:true');
  assert.equal(c('INSERT INTO t SELECT * FROM u'), 'INSERT:false');
  assert.equal(c('WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d'), 'SELECT:true');
  assert.equal(c('WITH d AS (SELECT 1) DELETE FROM t'), 'DELETE:false');
  assert.equal(c('WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r'), 'SELECT:true');
  assert.equal(c('CREATE TABLE x (a int)'), 'CREATE:false');
  assert.equal(c('DO $$BEGIN PERFORM 1; END$$'), 'DO:false');
  assert.equal(c('(SELECT 1) UNION (SELECT 2)'), 'SELECT:true');
  assert.equal(c('VALUES (1)'), 'VALUES:true');
});

test('parameters bind as node-postgres would send them', () => {
  const v = pg.toDbValue;
  assert.deepEqual(v(1), { tag: 'int64', val: 1n });
  assert.deepEqual(v(1.5), { tag: 'float64', val: 1.5 });
  assert.deepEqual(v(2 ** 60), { tag: 'float64', val: 2 ** 60 });
  assert.deepEqual(v(5n), { tag: 'int64', val: 5n });
  assert.deepEqual(v(undefined), { tag: 'null' });
  assert.deepEqual(v('x'), { tag: 'text', val: 'x' });
  assert.deepEqual(v(new Date(-1)), { tag: 'timestamptz', val: -1000n });
  assert.deepEqual(v(new Uint8Array([1])), { tag: 'bytea', val: new Uint8Array([1]) });
  assert.deepEqual(v({ a: 1 }), { tag: 'json', val: '{"a":1}' });
  assert.deepEqual(v([{ a: 1 }]), { tag: 'json', val: '[{"a":1}]' });
  assert.deepEqual(v([[1]]), { tag: 'json', val: '[[1]]' });
  assert.deepEqual(v([1, null, 2n]), { tag: 'array-int64', val: [1n, undefined, 2n] });
  assert.deepEqual(v([1, 2.5]), { tag: 'array-float64', val: [1, 2.5] });
  assert.deepEqual(v([null]), { tag: 'array-text', val: [undefined] });
  assert.deepEqual(v(['a', 1]), { tag: 'array-text', val: ['a', '1'] });
  assert.throws(() => v(2n ** 64n), /out of int8's range/);
  assert.throws(() => v(new Date(NaN)), /invalid Date/);
  assert.throws(() => v([new Uint8Array(1), 'x']), /mixes bytes/);
  assert.throws(() => v(Symbol('s')), TypeError);
});

test('results read as node-postgres parses them', () => {
  const f = pg.fromDbValue;
  assert.equal(f({ tag: 'int64', val: -5n }), '-5');
  assert.equal(f({ tag: 'numeric', val: '1.50' }), '1.50');
  assert.equal(f({ tag: 'time', val: 45_296_500_000n }), '12:34:56.5');
  assert.equal(f({ tag: 'time', val: 86_400_000_000n }), '24:00:00');
  assert.equal(f({ tag: 'timestamptz', val: -1n }).getTime(), -1);
  assert.equal(f({ tag: 'timestamptz', val: -1001n }).getTime(), -2);
  assert.equal(f({ tag: 'timestamp', val: 9223372036854775807n }), Infinity);
  assert.equal(f({ tag: 'date', val: -2147483648 }), -Infinity);
  assert.equal(f({ tag: 'date', val: -1 }).toISOString(), '1969-12-31T00:00:00.000Z');
  assert.deepEqual(f({ tag: 'array-int64', val: [1n, undefined] }), ['1', null]);
  assert.deepEqual(f({ tag: 'jsonb', val: '{"a":[1]}' }), { a: [1] });
  assert.ok(f({ tag: 'bytea', val: new Uint8Array([1]) }) instanceof Uint8Array);
  assert.throws(() => f({ tag: 'unsupported', val: 'interval' }), /cast the column in SQL/);
});

test('server errors are DatabaseErrors with the SQLSTATE as code', () => {
  const e = new pg.DatabaseError('duplicate key', { code: '23505', severity: 'ERROR', constraint: 't_pkey' });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'DatabaseError');
  assert.equal(e.code, '23505');
  assert.equal(e.constraint, 't_pkey');
  const refused = new pg.DatabaseError('database not granted: ...', { kind: 'not-granted' });
  assert.equal(refused.code, undefined);
  assert.equal(refused.kind, 'not-granted');
});
