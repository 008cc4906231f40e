// 'activity-host/postgres': PostgreSQL through the host's connection pools,
// with node-postgres' shape.
//
//   import { connect } from 'activity-host/postgres';
//   const db = connect('orders');                      // granted as [postgres.orders]
//   const { rows } = await db.query('SELECT id, name FROM customers WHERE id = $1', [id]);
//   await db.query('BEGIN');
//   await db.query('UPDATE customers SET name = $2 WHERE id = $1', [id, name]);
//   await db.query('COMMIT');
//   db.release();
//
// Why not node-postgres itself: it needs sockets and TLS that a component
// does not have, and the host holds the URL and the password anyway. So
// this is a small client over the host's `activity-host:plugin/postgres`
// interface that answers as node-postgres does: rows as objects keyed by
// column name (or arrays with rowMode: 'array'), `rowCount`, `fields`,
// node-postgres' default type parsing (int8 and numeric as strings, dates as
// Date, json parsed), `DatabaseError` with `code` = SQLSTATE, and
// BEGIN/COMMIT/ROLLBACK through `query`.
//
// Differences: statements are single statements; parameters are typed here,
// from the JavaScript value (see `toDbValue`), rather than sent as text, and
// the host encodes each for its placeholder's type (a number binds to an
// int4 or numeric column, a string to a uuid or json one); BEGIN takes no
// modes (ISOLATION LEVEL ...); SAVEPOINT and ROLLBACK TO work inside a
// transaction; a column of a type the host does not carry (interval, inet,
// ...) fails the query, naming the column: cast it in SQL (::text).
import {
  Connection,
  type Column,
  type DbValue,
  type Error as HostError,
} from 'activity-host:plugin/postgres@0.1.0';

const dispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');

/**
 * A failed database call; node-postgres' (pg-protocol's) `DatabaseError`.
 * From the server it has the SQLSTATE as `code` and the server's fields.
 * From the host (the database is not granted, no connection could be had,
 * a parameter does not fit its placeholder, transaction control sent as
 * SQL, time ran out) `code` is undefined and `kind` says which.
 */
export class DatabaseError extends Error {
  override name = 'DatabaseError';
  /** The SQLSTATE: '23505' for a unique violation, '42601' for a syntax error, ... */
  code: string | undefined;
  /** 'ERROR', 'FATAL', ... */
  severity: string | undefined;
  /** Set when the host refused, not the server. */
  kind?: HostErrorKind;
  detail?: string;
  hint?: string;
  table?: string;
  column?: string;
  constraint?: string;
  // node-postgres has these too; the host does not pass them on.
  position?: string;
  schema?: string;
  dataType?: string;
  where?: string;

  constructor(message: string, fields: Partial<DatabaseError> = {}) {
    super(message);
    this.kind = fields.kind;
    this.code = fields.code;
    this.severity = fields.severity;
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.table = fields.table;
    this.column = fields.column;
    this.constraint = fields.constraint;
  }
}

/** Why the host, not the server, refused: the WIT error's case. */
export type HostErrorKind = 'not-granted' | 'connection-failed' | 'bad-parameter' | 'not-allowed' | 'timeout' | 'other';

const HOST_ERROR_WORDS: Record<string, string> = {
  'not-granted': 'database not granted',
  'connection-failed': 'connection failed',
  'bad-parameter': 'bad parameter',
  'not-allowed': 'statement not allowed',
  timeout: 'timed out',
  other: 'postgres',
};

/** A WIT error as a DatabaseError (anything else thrown by the binding, unchanged). */
function hostError(e: unknown): Error {
  const p = e !== null && typeof e === 'object' && 'payload' in e ? (e as { payload: HostError }).payload : undefined;
  if (!p || typeof p !== 'object' || !('tag' in p)) return e instanceof Error ? e : new Error(String(e));
  if (p.tag === 'server') {
    const s = p.val;
    return new DatabaseError(s.message, {
      code: s.sqlstate,
      severity: s.severity,
      detail: s.detail,
      hint: s.hint,
      table: s.table,
      column: s.column,
      constraint: s.constraint,
    });
  }
  return new DatabaseError(`${HOST_ERROR_WORDS[p.tag] ?? p.tag}: ${p.val}`, { kind: p.tag });
}

// ---------------------------------------------------------------------------
// Parameters: JavaScript values to the host's typed values.

const isBytes = (v: unknown): v is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(v) || v instanceof ArrayBuffer;

function bytesOf(v: ArrayBufferView | ArrayBuffer): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function dateMicros(d: Date): bigint {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new TypeError('an invalid Date cannot be bound');
  return BigInt(ms) * 1000n;
}

function int64(v: bigint): bigint {
  if (BigInt.asIntN(64, v) !== v) throw new RangeError(`${v} is out of int8's range`);
  return v;
}

/** A scalar (not an array or a JSON document), as node-postgres would send it. */
function isScalar(v: unknown): boolean {
  return v === null || v === undefined || ['boolean', 'number', 'bigint', 'string'].includes(typeof v) || v instanceof Date || isBytes(v);
}

/**
 * A parameter's typed value. As node-postgres: null/undefined → NULL,
 * boolean, number (int8 when it is a safe integer, else float8), bigint →
 * int8, string → text, Date → timestamptz, Uint8Array/Buffer → bytea, an
 * array of scalars → an array of their type, any other object or array → json.
 */
export function toDbValue(v: unknown): DbValue {
  if (v === null || v === undefined) return { tag: 'null' };
  switch (typeof v) {
    case 'boolean':
      return { tag: 'boolean', val: v };
    case 'number':
      return Number.isSafeInteger(v) ? { tag: 'int64', val: BigInt(v) } : { tag: 'float64', val: v };
    case 'bigint':
      return { tag: 'int64', val: int64(v) };
    case 'string':
      return { tag: 'text', val: v };
    case 'object':
      if (v instanceof Date) return { tag: 'timestamptz', val: dateMicros(v) };
      if (isBytes(v)) return { tag: 'bytea', val: bytesOf(v) };
      if (Array.isArray(v) && v.every(isScalar)) return arrayValue(v);
      return { tag: 'json', val: JSON.stringify(v) };
  }
  throw new TypeError(`a ${typeof v} cannot be bound to a statement parameter`);
}

/** An array of scalars as the host's array of the elements' common type (text when they differ, as node-postgres' array literal would leave it to the server). */
function arrayValue(items: unknown[]): DbValue {
  const present = items.filter((i) => i !== null && i !== undefined);
  const all = (test: (i: unknown) => boolean) => present.length > 0 && present.every(test);
  const each = <T>(f: (i: unknown) => T) => items.map((i) => (i === null || i === undefined ? undefined : f(i)));
  if (all((i) => typeof i === 'boolean')) return { tag: 'array-boolean', val: each((i) => i as boolean) };
  if (all((i) => typeof i === 'bigint' || Number.isSafeInteger(i))) {
    return { tag: 'array-int64', val: each((i) => int64(BigInt(i as number | bigint))) };
  }
  if (all((i) => typeof i === 'number')) return { tag: 'array-float64', val: each((i) => i as number) };
  if (all((i) => i instanceof Date)) return { tag: 'array-timestamptz', val: each((i) => dateMicros(i as Date)) };
  if (all(isBytes)) return { tag: 'array-bytea', val: each((i) => bytesOf(i as ArrayBuffer)) };
  if (present.some(isBytes)) throw new TypeError('an array mixes bytes with other values');
  return { tag: 'array-text', val: each((i) => (i instanceof Date ? i.toISOString() : String(i))) };
}

// ---------------------------------------------------------------------------
// Results: the host's values as node-postgres' default parsers return them.

const MICROS_PER_DAY = 86_400_000_000n;

/** Microseconds to a Date (whole milliseconds, as node-postgres keeps); PostgreSQL's infinities as ±Infinity. */
function microsDate(m: bigint): Date | number {
  if (m === 9223372036854775807n) return Infinity;
  if (m === -9223372036854775808n) return -Infinity;
  const floor = m >= 0n ? m / 1000n : -((-m + 999n) / 1000n);
  return new Date(Number(floor));
}

function dayDate(days: number): Date | number {
  if (days === 2147483647) return Infinity;
  if (days === -2147483648) return -Infinity;
  return new Date(days * 86_400_000);
}

/** PostgreSQL's text form of a time: 13:45:07, 13:45:07.25. */
function timeText(m: bigint): string {
  const micros = Number(((m % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY) + (m === MICROS_PER_DAY ? 86_400_000_000 : 0);
  const secs = Math.floor(micros / 1e6);
  const two = (n: number) => String(n).padStart(2, '0');
  const text = `${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}`;
  const frac = micros % 1e6;
  return frac ? `${text}.${String(frac).padStart(6, '0').replace(/0+$/, '')}` : text;
}

const scalarParsers: Record<string, (v: never) => unknown> = {
  boolean: (v: boolean) => v,
  int16: (v: number) => v,
  int32: (v: number) => v,
  int64: (v: bigint) => v.toString(),
  float32: (v: number) => v,
  float64: (v: number) => v,
  numeric: (v: string) => v,
  text: (v: string) => v,
  // A copy: the bindings' Uint8Array comes from another global, so it would
  // fail `instanceof Uint8Array` in the plugin's code.
  bytea: (v: Uint8Array) => new Uint8Array(v),
  uuid: (v: string) => v,
  json: (v: string) => JSON.parse(v),
  jsonb: (v: string) => JSON.parse(v),
  date: (v: number) => dayDate(v),
  time: (v: bigint) => timeText(v),
  timestamp: (v: bigint) => microsDate(v),
  timestamptz: (v: bigint) => microsDate(v),
};

export function fromDbValue(value: DbValue): unknown {
  if (value.tag === 'null') return null;
  const { tag, val } = value as { tag: string; val: unknown };
  // The host names the type (it reads columns in the binary format, which
  // it cannot turn into text for a type it does not know): no value to hand out.
  if (tag === 'unsupported') throw new TypeError(`the host does not carry values of type ${val}: cast the column in SQL (::text)`);
  if (tag.startsWith('array-')) {
    const parse = scalarParsers[tag.slice(6)];
    return (val as unknown[]).map((i) => (i === undefined || i === null ? null : parse(i as never)));
  }
  const parse = scalarParsers[tag];
  if (!parse) throw new TypeError(`unknown value type ${tag}`);
  return parse(val as never);
}

// The built-in types' OIDs (pg_type.oid; fixed since PostgreSQL 7), so that
// `fields[i].dataTypeID` compares as it does with node-postgres.
const TYPE_OIDS: Record<string, number> = {
  bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114,
  xml: 142, float4: 700, float8: 701, money: 790, inet: 869, cidr: 650, macaddr: 829, bpchar: 1042,
  varchar: 1043, date: 1082, time: 1083, timestamp: 1114, timestamptz: 1184, interval: 1186, timetz: 1266,
  bit: 1560, varbit: 1562, numeric: 1700, uuid: 2950, jsonb: 3802, _bool: 1000, _bytea: 1001, _int2: 1005,
  _int4: 1007, _text: 1009, _bpchar: 1014, _varchar: 1015, _int8: 1016, _float4: 1021, _float8: 1022,
  _oid: 1028, _timestamp: 1115, _date: 1182, _time: 1183, _timestamptz: 1185, _interval: 1187,
  _numeric: 1231, _uuid: 2951, _json: 199, _jsonb: 3807,
};

/** A result column, with node-postgres' field names (and the type's name). */
export interface FieldDef {
  name: string;
  tableID: number;
  columnID: number;
  /** The type's OID for PostgreSQL's built-in types; 0 for others (see typeName). */
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: 'text' | 'binary';
  /** pg_type.typname: 'int4', '_text', 'timestamptz', ... */
  typeName: string;
}

function field(c: Column): FieldDef {
  return {
    name: c.name,
    tableID: 0,
    columnID: 0,
    dataTypeID: TYPE_OIDS[c.typeName] ?? 0,
    dataTypeSize: -1,
    dataTypeModifier: -1,
    format: 'text',
    typeName: c.typeName,
  };
}

export interface QueryResult<R = Record<string, unknown>> {
  /** 'SELECT', 'INSERT', 'UPDATE', 'BEGIN', ... */
  command: string;
  /** Rows returned or affected; null for BEGIN/COMMIT/ROLLBACK. */
  rowCount: number | null;
  rows: R[];
  fields: FieldDef[];
  oid: number | null;
  rowAsArray: boolean;
}

export interface QueryConfig {
  text: string;
  values?: unknown[];
  /** 'array': each row an array of values, in column order. */
  rowMode?: 'array';
  /** Accepted for node-postgres compatibility; the host prepares and caches every statement anyway. */
  name?: string;
}

type Callback<R> = (err: Error | null, result?: QueryResult<R>) => void;

// ---------------------------------------------------------------------------
// Which host call a statement needs.

/**
 * The words of a statement outside strings, quoted identifiers, comments
 * and parentheses, uppercased: enough to tell what it is and whether it
 * returns rows, without a parser.
 */
function topLevelWords(sql: string, limit = 64): string[] {
  const words: string[] = [];
  // A statement that opens with a parenthesis is a query: `(SELECT ...) UNION ...`.
  let first = true;
  let depth = 0;
  let i = 0;
  while (i < sql.length && words.length < limit) {
    const c = sql[i];
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c ? 2 : 1;
      i = j + 1;
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? sql.length : end + tag.length;
    } else if (c === '(') {
      if (first) words.push('SELECT');
      first = false;
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      if (depth === 0) words.push(sql.slice(i, j).toUpperCase());
      first = false;
      i = j;
    } else {
      i++;
    }
  }
  return words;
}

const ROW_STATEMENTS = new Set(['SELECT', 'VALUES', 'TABLE', 'SHOW', 'EXPLAIN', 'FETCH']);
const MAIN_STATEMENTS = new Set([...ROW_STATEMENTS, 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** The statement's command (for WITH: the main statement's) and whether it returns rows. */
export function classify(sql: string): { command: string; returnsRows: boolean } {
  const words = topLevelWords(sql);
  let command = words[0] ?? '';
  if (command === 'WITH') command = words.find((w) => MAIN_STATEMENTS.has(w)) ?? 'SELECT';
  const returnsRows = ROW_STATEMENTS.has(command) || (MAIN_STATEMENTS.has(command) && words.includes('RETURNING'));
  return { command, returnsRows };
}

const BEGIN = /^\s*(?:BEGIN(?:\s+(?:WORK|TRANSACTION))?|START\s+TRANSACTION)\b\s*(.*?)[\s;]*$/is;
const COMMIT = /^\s*(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?[\s;]*$/i;
const ROLLBACK = /^\s*(?:ROLLBACK|ABORT)(?:\s+(?:WORK|TRANSACTION))?[\s;]*$/i;

// ---------------------------------------------------------------------------

/**
 * One pooled connection (node-postgres' `Client`, or a `PoolClient` from
 * `pool.connect()`), held until `release()`/`end()` or the end of the
 * execution; the host rolls back a transaction still open then.
 */
export class Client {
  #conn: Connection | undefined;

  /** @internal Use `connect(name)`. */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  #connection(): Connection {
    if (!this.#conn) throw new Error('Client was closed and is not queryable');
    return this.#conn;
  }

  /** Whether a transaction is open on this connection. */
  get inTransaction(): boolean {
    return this.#conn?.inTransaction() ?? false;
  }

  query<R = Record<string, unknown>>(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult<R>>;
  query<R = Record<string, unknown>>(text: string | QueryConfig, callback: Callback<R>): void;
  query<R = Record<string, unknown>>(text: string | QueryConfig, values: unknown[] | undefined, callback: Callback<R>): void;
  query<R = Record<string, unknown>>(
    text: string | QueryConfig,
    values?: unknown[] | Callback<R>,
    callback?: Callback<R>,
  ): Promise<QueryResult<R>> | void {
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const config: QueryConfig = typeof text === 'string' ? { text, values } : { ...text, values: values ?? text.values };
    const run = async () => this.#run(config) as QueryResult<R>;
    if (!callback) return run();
    const cb = callback;
    run().then(
      (r) => cb(null, r),
      (e) => cb(e),
    );
  }

  #run(config: QueryConfig): QueryResult<unknown> {
    const conn = this.#connection();
    const { text } = config;
    if (typeof text !== 'string') throw new TypeError('the query text must be a string');
    const control = (command: string, act: () => void): QueryResult<unknown> => {
      try {
        act();
      } catch (e) {
        throw hostError(e);
      }
      return { command, rowCount: null, rows: [], fields: [], oid: null, rowAsArray: config.rowMode === 'array' };
    };
    const begin = BEGIN.exec(text);
    if (begin) {
      // The host's begin() takes no modes, and refuses SET TRANSACTION (it
      // could make a read-only grant's transaction read-write).
      if (begin[1]) {
        throw new DatabaseError(
          `statement not allowed: ${text.trim()}: a transaction's modes (ISOLATION LEVEL, READ ONLY, ...) cannot be set; BEGIN starts one with the server's defaults`,
          { kind: 'not-allowed' },
        );
      }
      // As the server does: BEGIN inside a transaction only warns.
      return control('BEGIN', () => conn.inTransaction() || conn.begin());
    }
    // COMMIT or ROLLBACK with no transaction open only warns, too.
    if (COMMIT.test(text)) return control('COMMIT', () => conn.inTransaction() && conn.commit());
    if (ROLLBACK.test(text)) return control('ROLLBACK', () => conn.inTransaction() && conn.rollback());

    const params = (config.values ?? []).map((v, i) => {
      try {
        return toDbValue(v);
      } catch (e) {
        const error = e as Error;
        error.message = `parameter $${i + 1}: ${error.message}`;
        throw error;
      }
    });
    const { command, returnsRows } = classify(text);
    const rowAsArray = config.rowMode === 'array';
    if (!returnsRows) {
      let count: bigint;
      try {
        count = conn.execute(text, params);
      } catch (e) {
        throw hostError(e);
      }
      return { command, rowCount: Number(count), rows: [], fields: [], oid: null, rowAsArray };
    }
    let set;
    try {
      set = conn.query(text, params);
    } catch (e) {
      throw hostError(e);
    }
    const fields = set.columns.map(field);
    const parse = (v: DbValue, i: number) => {
      try {
        return fromDbValue(v);
      } catch (e) {
        (e as Error).message = `column ${JSON.stringify(fields[i].name)}: ${(e as Error).message}`;
        throw e;
      }
    };
    const rows = set.rows.map((values) => {
      if (rowAsArray) return values.map(parse);
      const row: Record<string, unknown> = {};
      values.forEach((v, i) => {
        // defineProperty: a column named __proto__ is a column, not the row's prototype.
        Object.defineProperty(row, fields[i].name, { value: parse(v, i), enumerable: true, writable: true, configurable: true });
      });
      return row;
    });
    return { command, rowCount: rows.length, rows, fields, oid: null, rowAsArray };
  }

  /** Returns the connection to the host's pool (node-postgres' `PoolClient.release()`). */
  release(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    (conn as unknown as Record<symbol, () => void> | undefined)?.[dispose]?.();
  }

  /** The same as `release()` (node-postgres' `Client.end()`). */
  async end(): Promise<void> {
    this.release();
  }
}

/**
 * Opens the database the plugin's manifest grants as `name` (`[postgres.NAME]`),
 * taking a connection from the host's pool. Throws if it is not granted or
 * no connection can be had.
 */
export function connect(name: string): Client {
  try {
    return new Client(Connection.open(name));
  } catch (e) {
    throw hostError(e);
  }
}
