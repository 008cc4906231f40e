// JavaScript (TypeScript) test plugin: the PostgreSQL contract
// (/work/shared-notes/pg_contract.md) through the SDK's
// 'activity-host/postgres' (node-postgres' shape): pg_roundtrip, pg_run,
// pg_error and pg_open. Errors a test wants to look at come back as data;
// pg_run's `end` chooses how an execution with an open transaction ends.
import { connect, type FieldDef, type Client } from 'activity-host/postgres';
// Only for end = "trap": the SDK offers no way to trap (a thrown error is a
// failed activity, never a trap), so this breaks a wasi:http rule instead.
import { Fields, OutgoingRequest } from 'wasi:http/types@0.2.12';

const dispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return same(ka, kb) && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

const show = (v: unknown) =>
  JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes[${[...x]}]` : x));

/** `SELECT $1::TYPE` with `value` bound; "ok" if it reads back as `expected` (default: the value itself). */
async function roundtrip(db: Client, type: string, value: unknown, expected: unknown = value): Promise<string> {
  const sql = `SELECT $1::${type} AS v`;
  try {
    const { rows } = await db.query(sql, [value]);
    const back = rows[0].v;
    return same(back, expected) ? 'ok' : `${sql}: sent ${show(value)}, expected ${show(expected)}, got ${show(back)}`;
  } catch (e) {
    const error = e as Error & { code?: string };
    return `${sql}: ${error.name}${error.code ? ` ${error.code}` : ''}: ${error.message}`;
  }
}

export async function pg_roundtrip(name: string): Promise<Record<string, string>> {
  const db = connect(name);
  const date = new Date(Date.UTC(2024, 1, 29));
  const instant = new Date(Date.UTC(2024, 1, 29, 13, 45, 7, 250));
  const uuid = '4f9c3c1e-8a3b-4c1d-9e2f-0123456789ab';
  const doc = { a: [1, 2.5, 'x', null, true], b: { c: 'é' } };
  const bytes = new Uint8Array([0, 1, 2, 255]);
  const out: Record<string, string> = {};
  const cases: Array<[string, unknown, unknown?]> = [
    ['bool', true],
    ['int2', -12345],
    ['int4', 2_000_000_000],
    // node-postgres reads int8 as a string (it may not fit a number).
    ['int8', 9_007_199_254_740_993n, '9007199254740993'],
    ['float4', 1.5],
    ['float8', 0.1],
    ['numeric', '12345678901234567890.000000000001'],
    ['text', "héllo, 'world' \u{1F600}"],
    ['bytea', bytes],
    ['uuid', uuid],
    ['json', doc],
    ['jsonb', doc],
    ['date', date],
    ['time', '13:45:07.250001'],
    ['timestamp', instant],
    ['timestamptz', instant],
    ['bool[]', [true, null, false]],
    ['int2[]', [1, null, -3]],
    ['int4[]', [1, null, -2147483648]],
    ['int8[]', [1n, null, 9223372036854775807n], ['1', null, '9223372036854775807']],
    ['float4[]', [0.5, null]],
    ['float8[]', [-2.25, null, 1e300]],
    ['numeric[]', ['1.50', null, '-0.001']],
    ['text[]', ['a', null, 'b,"c"']],
    ['bytea[]', [new Uint8Array([1, 2]), null, new Uint8Array()]],
    ['uuid[]', [uuid, null]],
    ['date[]', [date, null, new Date(Date.UTC(1969, 6, 20))]],
    ['time[]', ['13:45:07.250001', null]],
    ['timestamp[]', [instant, null]],
    ['timestamptz[]', [instant, null]],
    // JSON documents in an array are strings, as with node-postgres (an
    // array of objects binds as one json document).
    ['jsonb[]', [JSON.stringify(doc), null], [doc, null]],
  ];
  for (const [type, value, expected] of cases) out[type] = await roundtrip(db, type, value, expected === undefined ? value : expected);
  out.null = await roundtrip(db, 'int4', null);
  db.release();
  return out;
}

// ---------------------------------------------------------------------------

const hex = (b: Uint8Array) => '\\x' + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
const two = (n: number) => String(n).padStart(2, '0');

function isoDateTime(d: Date): string {
  const ms = d.getUTCMilliseconds();
  const base = `${String(d.getUTCFullYear()).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return ms ? `${base}.${String(ms * 1000).padStart(6, '0')}` : base;
}

/** One value as the contract's JSON, by its column's type. */
function contractValue(v: unknown, type: string): unknown {
  if (v === null) return null;
  if (type.startsWith('_') && Array.isArray(v)) return v.map((x) => contractValue(x, type.slice(1)));
  if (v === Infinity) return 'infinity';
  if (v === -Infinity) return '-infinity';
  switch (type) {
    case 'int8':
      return Number(v);
    case 'bytea':
      return hex(v as Uint8Array);
    case 'date':
      return isoDateTime(v as Date).slice(0, 10);
    case 'timestamp':
      return isoDateTime(v as Date);
    case 'timestamptz':
      return `${isoDateTime(v as Date)}+00:00`;
    case 'time': {
      const [hms, frac] = String(v).split('.');
      return frac ? `${hms}.${frac.padEnd(6, '0')}` : hms;
    }
  }
  return v;
}

function rowsOf(rows: unknown[][], fields: FieldDef[]): unknown[][] {
  return rows.map((row) => row.map((v, i) => contractValue(v, fields[i].typeName)));
}

interface Step {
  sql: string;
  params?: unknown[];
}

export async function pg_run(name: string, steps: Step[], end: string): Promise<unknown[]> {
  const db = connect(name);
  await db.query('BEGIN');
  const results = [];
  for (const step of steps) {
    const r = await db.query({ text: step.sql, values: step.params ?? [], rowMode: 'array' });
    results.push({ rowcount: r.rowCount, rows: rowsOf(r.rows as unknown as unknown[][], r.fields) });
  }
  switch (end) {
    case 'commit':
      await db.query('COMMIT');
      break;
    case 'rollback':
      await db.query('ROLLBACK');
      break;
    case 'return':
      // The connection stays open, with its transaction, until the instance ends.
      break;
    case 'raise':
      throw new Error('raised with the transaction open');
    case 'trap': {
      // wasi:http refuses to drop a body while its stream lives: a trap.
      const body = new OutgoingRequest(new Fields()).body();
      const stream = body.write();
      (body as unknown as Record<symbol, () => void>)[dispose]();
      throw new Error(`did not trap (${String(stream)})`);
    }
    case 'hang':
      for (;;) await new Promise((resolve) => setTimeout(resolve, 3_600_000));
    default:
      throw new TypeError(`unknown end ${JSON.stringify(end)}`);
  }
  return results;
}

export async function pg_error(name: string, sql: string, params: unknown[]): Promise<unknown> {
  try {
    const db = connect(name);
    const r = await db.query(sql, params);
    db.release();
    return { error: null, rowcount: r.rowCount };
  } catch (e) {
    const error = e as Error & { code?: string };
    return { error: error.constructor.name, sqlstate: error.code ?? null, message: error.message };
  }
}

export async function pg_open(name: string): Promise<unknown> {
  try {
    connect(name).release();
    return { ok: true };
  } catch (e) {
    const error = e as Error;
    return { error: error.constructor.name, message: error.message };
  }
}
