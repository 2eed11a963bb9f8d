/**
 * Fuzzes every route of the rollouts API with malformed and hostile input:
 * wrong types, missing and unknown fields, bodies over and just under the
 * 256 kB limit, JSON nested 10,000 levels deep, text that is not JSON,
 * wrong content types, unicode (RTL, zero-width, emoji, lone surrogates,
 * NUL), SQL/NoSQL/path-traversal/prototype-pollution strings, in query
 * strings, path parameters and bodies, and repeated query parameters.
 *
 * The generator is seeded (TOLLGATE_FUZZ_SEED replays a run; the seed is
 * printed). What is asserted:
 *
 * - no 5xx, ever;
 * - every case built to be refused gets a 4xx, and every 4xx carries
 *   `{ error: { name, message } }` whose message names what is wrong:
 *     - a body that cannot be read (not JSON, too large, wrong type or
 *       charset or encoding): the message starts with `body:`;
 *     - a body or query that parses but breaks the schema: it starts with
 *       `invalid body:` / `invalid query:` and names each broken field as
 *       `<path>:` (`steps[1].weight:`), or quotes an unknown field's name;
 *     - a path parameter: it starts with `<param>:` (`id:`, `action:`,
 *       `hook:`), or with `path:` when the path cannot be percent-decoded or
 *       no route serves it;
 *     - the Flagger token: it names `metadata.token`;
 *     - a lookup that finds nothing: it names the looked-up field
 *       (`id: no rollout with id …`, `target: no catalog entity claims …`);
 *   and the message is at most 4,096 characters (nothing hostile is echoed
 *   back in full);
 * - nothing is written: the decision log (its length and its hash chain),
 *   the rollouts, the deploy provider's calls and the successful auditor
 *   events are the same after every hostile request as before;
 * - no prototype was polluted in this process (the backend runs in it).
 *
 * A second test sends hostile text that is legal (SQL in a version, RTL
 * and emoji in a reason) and checks it is stored and returned verbatim.
 */
import {
  decisionLog,
  headers,
  OWNER,
  PAYMENTS_OWNER,
  registerRollout,
  rolloutIds,
  startReliabilityBackend,
  type ReliabilityBackend,
  type Response,
} from './support/backend';

const SEED = Number(process.env.TOLLGATE_FUZZ_SEED ?? 20261122);
/** Random cases per route (on top of the fixed structural cases). */
const PER_ROUTE = Number(process.env.TOLLGATE_FUZZ_CASES ?? 400);
const CONCURRENCY = 6;
const BODY_LIMIT = 256 * 1024;

// ---------------------------------------------------------------------------
// Deterministic randomness

class Gen {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  /** mulberry32 */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#a ^ (this.#a >>> 15), 1 | this.#a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  uuid(): string {
    const h = () => this.int(0, 15).toString(16);
    const s = (n: number) => Array.from({ length: n }, h).join('');
    return `${s(8)}-${s(4)}-4${s(3)}-${this.pick(['8', '9', 'a', 'b'])}${s(3)}-${s(12)}`;
  }
}

// ---------------------------------------------------------------------------
// Hostile material

const HOSTILE: readonly string[] = [
  // SQL
  "' OR '1'='1",
  "'; DROP TABLE decisions; --",
  '" OR ""="',
  '1 UNION SELECT hash FROM decision_chain --',
  "') OR 1=1 --",
  "x' AND (SELECT COUNT(*) FROM sqlite_master) > 0 --",
  '1; SELECT pg_sleep(5)',
  // NoSQL
  '{"$gt": ""}',
  '{"$ne": null}',
  '$where: sleep(1000)',
  '[$regex]=.*',
  // path traversal
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '....//....//etc/passwd',
  '/etc/passwd\u0000.yaml',
  'file:///etc/passwd',
  '..',
  '.',
  // prototype pollution
  '__proto__',
  'constructor',
  'prototype',
  '__proto__.polluted',
  'constructor.prototype.polluted',
  'toString',
  'hasOwnProperty',
  '__defineGetter__',
  // templates, shells, markup
  '${7*7}',
  '{{7*7}}',
  '$(cat /etc/passwd)',
  '`id`',
  '| id',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  // eslint-disable-next-line no-script-url -- a hostile input the API must refuse, never run
  'javascript:alert(1)',
  // header and log injection
  'x\r\nX-Injected: 1',
  'line1\nline2',
  '\t\u000b\f',
  // unicode
  '\u202egnp.exe',
  'مرحبا بالعالم',
  'שָׁלוֹם',
  '\u200b\u200c\u200d\u2060\ufeff',
  '🦄🔥💥',
  '👩‍👩‍👧‍👦',
  'e\u0301\u0301\u0301',
  'Ω≈ç√∫˜µ≤≥÷',
  '𝕿𝖔𝖑𝖑𝖌𝖆𝖙𝖊',
  '\u0085next-line',
  '\u00a0nbsp',
  // broken unicode and control characters
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\udc00\ud800',
  '\u0000',
  'nul\u0000byte',
  '\u0007\u001b[31mred',
  '\u007f',
  // numbers as strings, and emptiness
  '',
  ' ',
  '   \t',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '0x10',
  '9007199254740993',
  'true',
];

const CODE_POINT_RANGES: Array<[number, number]> = [
  [0x20, 0x7e], // ASCII
  [0x20, 0x7e],
  [0x00, 0x1f], // C0 controls
  [0x80, 0x9f], // C1 controls
  [0xa0, 0xff], // Latin-1
  [0x300, 0x36f], // combining marks
  [0x590, 0x5ff], // Hebrew
  [0x600, 0x6ff], // Arabic
  [0x200b, 0x200f], // zero-width and marks
  [0x202a, 0x202e], // bidi overrides
  [0x4e00, 0x4e80], // CJK
  [0x1f300, 0x1faff], // emoji (surrogate pairs)
  [0xd800, 0xdfff], // lone surrogates
  [0xfff0, 0xffff], // specials
];

function randomUnicode(g: Gen, maxLength = 40): string {
  const n = g.int(1, maxLength);
  let out = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = g.pick(CODE_POINT_RANGES);
    const cp = g.int(lo, hi);
    out +=
      cp >= 0xd800 && cp <= 0xdfff
        ? String.fromCharCode(cp)
        : String.fromCodePoint(cp);
  }
  return out;
}

function hostileString(g: Gen): string {
  const r = g.next();
  if (r < 0.6) return g.pick(HOSTILE);
  if (r < 0.85) return randomUnicode(g);
  return g.pick(HOSTILE) + randomUnicode(g, 8) + g.pick(HOSTILE);
}

/** A JSON fragment written as is (so bodies can hold what JS objects cannot, e.g. a `__proto__` key). */
class Raw {
  constructor(readonly text: string) {}
}

const WRONG_TYPES: readonly Raw[] = [
  '42',
  '-1',
  '0',
  '3.14',
  '1e308',
  '-0.0',
  'true',
  'false',
  'null',
  '[]',
  '["x"]',
  '[[[[[]]]]]',
  '{}',
  '{"$gt":""}',
  '{"$ne":null}',
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
].map(t => new Raw(t));

function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const deepObject = (levels: number) =>
  `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const deepArray = (levels: number) =>
  `${'['.repeat(levels)}${']'.repeat(levels)}`;

/** Percent-encodes anything, lone surrogates included (as bytes that are not UTF-8). */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (
        c >= 0xd800 &&
        c <= 0xdbff &&
        i + 1 < s.length &&
        s.charCodeAt(i + 1) >= 0xdc00 &&
        s.charCodeAt(i + 1) <= 0xdfff
      ) {
        out += encodeURIComponent(s.slice(i, i + 2));
        i++;
      } else if (c >= 0xd800 && c <= 0xdfff) {
        out +=
          `%${(0xe0 | (c >> 12)).toString(16)}%${(0x80 | ((c >> 6) & 0x3f)).toString(16)}%${(0x80 | (c & 0x3f)).toString(16)}`.toUpperCase();
      } else {
        out += encodeURIComponent(s[i]);
      }
    }
    return out;
  }
}

const query = (pairs: Array<[string, string]>) =>
  pairs.length
    ? `?${pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')}`
    : '';

const isWellFormed = (s: string) =>
  !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(
    s,
  );

// ---------------------------------------------------------------------------
// What the API accepts (the test's own statement of the documented rules)

const ENTITY_REF = /^[a-z0-9_-]+:([a-z0-9_.-]+\/)?[a-z0-9_.-]+$/i;
const PROVIDER_ID = /^[a-z0-9-]+$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]+$/;
const ACTIONS = ['promote', 'pause', 'resume', 'approve', 'rollback'];
const HOOKS = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'rollback',
  'post-rollout',
];
const STATUSES = [
  'active',
  'finished',
  'pending',
  'progressing',
  'paused',
  'awaiting-approval',
  'promoted',
  'rolled-back',
  'aborted',
  'failed',
];

const legal = {
  label: (v: unknown, max: number, min = 1) =>
    typeof v === 'string' &&
    v.length >= min &&
    v.length <= max &&
    // eslint-disable-next-line no-control-regex -- the oracle's rule: no control characters
    !/[\u0000-\u001f\u007f-\u009f]/.test(v) &&
    isWellFormed(v),
  entityRef: (v: unknown) =>
    typeof v === 'string' && v.length <= 512 && ENTITY_REF.test(v),
  provider: (v: unknown) =>
    typeof v === 'string' &&
    v.length >= 1 &&
    v.length <= 64 &&
    PROVIDER_ID.test(v),
  reason: (v: unknown) =>
    typeof v === 'string' &&
    v.trim().length >= 1 &&
    v.trim().length <= 2000 &&
    // eslint-disable-next-line no-control-regex -- the oracle's rule: no control characters but tab and line breaks
    !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(v) &&
    isWellFormed(v),
  idempotencyKey: (v: unknown) =>
    typeof v === 'string' &&
    v.length >= 8 &&
    v.length <= 128 &&
    IDEMPOTENCY_KEY.test(v),
  /** A query-string number: one non-empty string that reads as a number in range. */
  queryNumber: (
    v: unknown,
    o: { int?: boolean; min?: number; max?: number; gt?: number; lt?: number },
  ) => {
    if (typeof v !== 'string' || v.trim() === '') return false;
    const n = Number(v);
    if (!Number.isFinite(n)) return false;
    if (o.int && !Number.isInteger(n)) return false;
    if (o.min !== undefined && n < o.min) return false;
    if (o.max !== undefined && n > o.max) return false;
    if (o.gt !== undefined && n <= o.gt) return false;
    if (o.lt !== undefined && n >= o.lt) return false;
    return true;
  },
};

// ---------------------------------------------------------------------------
// Cases

interface Case {
  route: string;
  klass: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** reject: must be a 4xx; read: any status but 5xx; ok: must be a 200. */
  expect: 'reject' | 'read' | 'ok';
  /** What a 4xx message must name (see `mentions`). */
  names: string[];
  /** Status codes the case must get, when it is that precise. */
  status?: number[];
}

const ROUTES = [
  'GET /health',
  'GET /v1/rollouts',
  'POST /v1/rollouts',
  'GET /v1/rollouts/:id',
  'GET /v1/rollouts/:id/decisions',
  'POST /v1/rollouts/:id/actions/:action',
  'POST /v1/policies/validate',
  'GET /v1/decisions/verify',
  'GET /v1/summary',
  'GET /v1/summary/services',
  'GET /v1/judge',
  'POST /v1/webhooks/flagger/:hook',
] as const;
type Route = (typeof ROUTES)[number];

/** Whether a 4xx message names `name`, as the header comment defines it. */
function mentions(message: string, name: string): boolean {
  if (name === 'body') return /^(invalid )?body: /.test(message);
  if (name === 'query') return /^(invalid )?query: /.test(message);
  if (name === 'path') return /^path: /.test(message);
  if (name.startsWith('"')) {
    // an unknown field is quoted (`unknown field(s) "x"`), or named like any other (`x: …`)
    return (
      message.includes(name) ||
      mentions(message, (JSON.parse(name) as string).replace(/…$/, ''))
    );
  }
  if (name === 'metadata.token') return message.startsWith('metadata.token: ');
  return new RegExp(
    `(^|[ ;(])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `,
  ).test(message);
}

/** How the API quotes an unknown field's name. */
const unknownKey = (k: string) =>
  JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}…` : k);

const json = (auth?: string): Record<string, string> => ({
  'Content-Type': 'application/json',
  ...(auth ? { Authorization: auth } : {}),
});

/** One value that breaks a field, by construction (checked against the rule). */
function breaking(
  g: Gen,
  isLegal: (v: unknown) => boolean,
  extra: () => unknown = () => hostileString(g),
): { value: unknown; klass: string } {
  for (let i = 0; i < 50; i++) {
    const r = g.next();
    let value: unknown;
    let klass: string;
    if (r < 0.35) {
      value = g.pick(WRONG_TYPES);
      klass = 'wrong type';
    } else if (r < 0.8) {
      value = extra();
      klass = 'hostile string';
    } else if (r < 0.95) {
      value = 'x'.repeat(g.pick([129, 257, 513, 2001, 4097, 10_000]));
      klass = 'too long';
    } else {
      value = '';
      klass = 'empty';
    }
    const plain = value instanceof Raw ? JSON.parse(value.text) : value;
    if (!isLegal(plain)) return { value, klass };
  }
  return { value: new Raw('null'), klass: 'wrong type' };
}

interface Fixture {
  rolloutId: string;
}

/** Structural cases every body-taking route gets: not JSON, too big, too deep, wrong content type. */
function structuralCases(
  route: Route,
  method: string,
  path: string,
  auth: string,
): Case[] {
  const base = {
    route,
    method,
    path,
    expect: 'reject' as const,
    names: ['body'],
  };
  const withType = (
    type: string | undefined,
    body: string | Buffer,
    klass: string,
    status?: number[],
    extraHeaders: Record<string, string> = {},
  ): Case => ({
    ...base,
    klass,
    headers: {
      Authorization: auth,
      ...(type ? { 'Content-Type': type } : {}),
      ...extraHeaders,
    },
    body,
    status,
  });
  const J = 'application/json';
  return [
    withType(J, '{', 'invalid JSON', [400]),
    withType(J, '{"reason": "x",}', 'invalid JSON', [400]),
    withType(J, "{'reason': 'x'}", 'invalid JSON', [400]),
    withType(J, '{"reason": NaN}', 'invalid JSON', [400]),
    withType(J, '{"a": 1} // comment', 'invalid JSON', [400]),
    withType(J, '{"a": 1}{"b": 2}', 'invalid JSON', [400]),
    withType(J, '\ufeff{}', 'invalid JSON', [400]),
    withType(
      J,
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      'invalid UTF-8',
      [400],
    ),
    withType(J, '42', 'scalar JSON', [400]),
    withType(J, '"a string"', 'scalar JSON', [400]),
    withType(J, 'null', 'scalar JSON', [400]),
    withType(J, 'true', 'scalar JSON', [400]),
    withType(J, '[]', 'array JSON', [400]),
    withType(J, '[{}]', 'array JSON', [400]),
    withType(J, deepArray(10_000), 'deep JSON', [400]),
    withType(J, deepArray(100_000), 'deep JSON', [400]),
    withType(J, `{"deep":${deepObject(10_000)}}`, 'deep JSON', [400]),
    withType(J, `{"a":"${'x'.repeat(BODY_LIMIT)}"}`, 'huge body', [413]),
    withType(J, `{"a":"${'x'.repeat(4 * 1024 * 1024)}"}`, 'huge body', [413]),
    withType(J, `[${'{},'.repeat(100_000)}{}]`, 'huge body', [413]),
    withType(
      'text/plain',
      '{"reason":"x","idempotencyKey":"abcdefgh"}',
      'content type',
      [415],
    ),
    withType(
      'application/x-www-form-urlencoded',
      'reason=x&idempotencyKey=abcdefgh',
      'content type',
      [415],
    ),
    withType(
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="reason"\r\n\r\nx\r\n--x--',
      'content type',
      [415],
    ),
    withType('application/xml', '<reason>x</reason>', 'content type', [415]),
    withType(undefined, '{"reason":"x"}', 'content type', [415]),
    withType('application/json; charset=latin1', '{}', 'content type', [415]),
    withType('application/json; charset=ebcdic', '{}', 'content type', [415]),
    withType(J, 'not gzip at all', 'content encoding', [400], {
      'Content-Encoding': 'gzip',
    }),
    withType(J, '{}', 'content encoding', [415], {
      'Content-Encoding': 'br;q=1, x-evil',
    }),
  ];
}

function listCase(g: Gen): Case {
  const route: Route = 'GET /v1/rollouts';
  const auth = headers.user(OWNER);
  const pairs: Array<[string, string]> = [];
  const r = g.next();
  let names: string[] = [];
  let klass = 'hostile string';
  let expectReject = true;
  if (r < 0.3) {
    const v = g.chance(0.2)
      ? `component:default/${'a'.repeat(520)}`
      : hostileString(g);
    pairs.push(['entityRef', v]);
    names = ['query', 'entityRef'];
    expectReject = !legal.entityRef(v);
  } else if (r < 0.5) {
    pairs.push(['status', hostileString(g)]);
    names = ['query', 'status'];
    expectReject = !STATUSES.includes(pairs[0][1]);
  } else if (r < 0.7) {
    const v = g.pick([
      hostileString(g),
      '0',
      '1001',
      '1.5',
      '-1',
      '1e309',
      '',
      ' ',
      '5abc',
    ]);
    pairs.push(['limit', v]);
    names = ['query', 'limit'];
    expectReject = !legal.queryNumber(v, { int: true, min: 1, max: 1000 });
  } else if (r < 0.85) {
    const field = g.pick(['entityRef', 'status', 'limit']);
    const shape = g.pick(['repeat', 'brackets', 'object']);
    klass = 'array parameter';
    names = ['query', field];
    if (shape === 'repeat')
      pairs.push([field, 'component:default/checkout'], [field, '10']);
    else if (shape === 'brackets') pairs.push([`${field}[]`, '10']);
    else
      pairs.push([
        `${field}[${g.pick(['$gt', '$ne', '__proto__x', 'a'])}]`,
        '1',
      ]);
  } else {
    const key = g.pick([
      'where',
      '$where',
      'select',
      'sort',
      'order',
      'admin',
      'debug',
      'callback',
      'constructor',
      'toString',
      'valueOf',
      'filter',
    ]);
    pairs.push([key, hostileString(g)]);
    klass = 'unknown parameter';
    names = ['query', unknownKey(key)];
  }
  return {
    route,
    klass,
    method: 'GET',
    path: `/v1/rollouts${query(pairs)}`,
    headers: { Authorization: auth },
    expect: expectReject ? 'reject' : 'read',
    names,
  };
}

const REGISTER_BASE = {
  entityRef: 'component:default/checkout',
  provider: 'fake',
  target: 'shop/checkout',
  version: '9.9.9-fuzz',
  previousVersion: '9.9.8',
  steps: [{ weight: 1, minDurationSeconds: 60 }, { weight: 100 }],
  policy: 'standard',
};

function stepsCase(g: Gen): { value: unknown; names: string[]; klass: string } {
  const r = g.next();
  const steps: any[] = [{ weight: 1 }, { weight: 5 }, { weight: 100 }];
  const i = g.int(0, steps.length - 1);
  if (r < 0.15)
    return {
      value: g.pick([
        new Raw('"1,5,100"'),
        new Raw('{}'),
        new Raw('42'),
        new Raw('null'),
      ]),
      names: ['steps'],
      klass: 'wrong type',
    };
  if (r < 0.25) return { value: [], names: ['steps'], klass: 'out of range' };
  if (r < 0.3)
    return {
      value: Array.from({ length: 51 }, () => ({ weight: 1 })),
      names: ['steps'],
      klass: 'out of range',
    };
  if (r < 0.6) {
    const bad = breaking(
      g,
      v => typeof v === 'number' && v >= 0 && v <= 100,
      () => g.pick([101, 150, -1, -0.001, 1e308, 100.0001]),
    );
    steps[i] = { weight: bad.value };
    return { value: steps, names: [`steps[${i}].weight`], klass: bad.klass };
  }
  if (r < 0.75) {
    const bad = breaking(
      g,
      v =>
        typeof v === 'number' &&
        Number.isInteger(v) &&
        v >= 0 &&
        v <= 7 * 86400,
      () => g.pick([-1, 1.5, 604801, 1e12]),
    );
    steps[i] = { weight: 5, minDurationSeconds: bad.value };
    return {
      value: steps,
      names: [`steps[${i}].minDurationSeconds`],
      klass: bad.klass,
    };
  }
  if (r < 0.85) {
    const bad = breaking(
      g,
      v => typeof v === 'boolean',
      () => g.pick(['true', 'yes', 1, 0]),
    );
    steps[i] = { weight: 5, requiresApproval: bad.value };
    return {
      value: steps,
      names: [`steps[${i}].requiresApproval`],
      klass: bad.klass,
    };
  }
  steps[i] = {
    weight: 5,
    [g.pick(['__proto__', 'constructor', 'wieght', 'approve', '$set'])]: 1,
  };
  if (
    Object.prototype.hasOwnProperty.call(steps[i], '__proto__') ||
    !('weight' in steps[i])
  )
    steps[i] = new Raw('{"weight":5,"__proto__":{"polluted":"yes"}}');
  return { value: steps, names: [`steps[${i}]`], klass: 'unknown field' };
}

function registerCase(g: Gen): Case {
  const route: Route = 'POST /v1/rollouts';
  const body: Record<string, unknown> = { ...REGISTER_BASE };
  const r = g.next();
  let names: string[];
  let klass: string;
  if (r < 0.7) {
    const field = g.pick([
      'entityRef',
      'provider',
      'target',
      'version',
      'previousVersion',
      'policy',
      'steps',
    ]);
    if (field === 'steps') {
      const s = stepsCase(g);
      body.steps = s.value;
      names = ['body', ...s.names];
      klass = s.klass;
    } else {
      const rule: Record<string, (v: unknown) => boolean> = {
        entityRef: legal.entityRef,
        provider: legal.provider,
        target: v => legal.label(v, 256),
        version: v => legal.label(v, 128),
        previousVersion: v => legal.label(v, 128),
        policy: v => legal.label(v, 128),
      };
      const bad = breaking(g, rule[field]);
      body[field] = bad.value;
      names = ['body', field];
      klass = bad.klass;
    }
  } else if (r < 0.8) {
    const field = g.pick(['entityRef', 'provider', 'target', 'version']);
    delete body[field];
    names = ['body', field];
    klass = 'missing field';
  } else if (r < 0.9) {
    const key = hostileString(g).slice(0, 60);
    const raw = `{${toJson(body).slice(1, -1)},${JSON.stringify(key)}:${toJson(g.pick(WRONG_TYPES))}}`;
    if (Object.prototype.hasOwnProperty.call(REGISTER_BASE, key)) {
      return registerCase(g);
    }
    return {
      route,
      klass: 'unknown field',
      method: 'POST',
      path: '/v1/rollouts',
      headers: json(headers.service()),
      body: raw,
      expect: 'reject',
      names: ['body', unknownKey(key)],
    };
  } else {
    // A legal name for a policy that does not exist: refused after the permission check.
    let name = hostileString(g);
    if (!legal.label(name, 128) || name === 'standard')
      name = `no-such-policy-${g.int(0, 1e6)}`;
    body.policy = name;
    names = ['policy'];
    klass = 'unknown policy';
  }
  return {
    route,
    klass,
    method: 'POST',
    path: '/v1/rollouts',
    headers: json(headers.service()),
    body: toJson(body),
    expect: 'reject',
    names,
  };
}

function idCase(
  g: Gen,
  route: Route,
  fx: Fixture,
  suffix: (id: string) => string,
  method: string,
  body?: string,
): Case {
  const auth = headers.user(OWNER);
  const r = g.next();
  if (r < 0.2) {
    // A well-formed id nobody has.
    return {
      route,
      klass: 'unknown id',
      method,
      path: suffix(g.uuid()),
      headers: body ? json(auth) : { Authorization: auth },
      body,
      expect: 'reject',
      names: ['id'],
      status: [404],
    };
  }
  const id =
    r < 0.3
      ? `${fx.rolloutId}${g.pick(["'", ' OR 1=1', '%00', '/..', '\u0000', '"'])}`
      : hostileString(g);
  const encoded = enc(id);
  let names = ['id'];
  let status: number[] | undefined = [400];
  if (id === '') {
    if (route === 'GET /v1/rollouts/:id') {
      // `/v1/rollouts/` is the list
      return {
        route,
        klass: 'path parameter',
        method,
        path: suffix(''),
        headers: { Authorization: auth },
        expect: 'read',
        names: ['query'],
      };
    }
    names = ['path'];
    status = [404];
  } else if (!isWellFormed(id)) {
    names = ['path'];
  }
  return {
    route,
    klass: 'path parameter',
    method,
    path: suffix(encoded),
    headers: body ? json(auth) : { Authorization: auth },
    body,
    expect: 'reject',
    names,
    status,
  };
}

function detailCase(g: Gen, fx: Fixture): Case {
  const route: Route = 'GET /v1/rollouts/:id';
  if (g.chance(0.2)) {
    // Parameters this route does not take are ignored.
    return {
      route,
      klass: 'ignored parameter',
      method: 'GET',
      path: `/v1/rollouts/${fx.rolloutId}${query([[hostileString(g), hostileString(g)]])}`,
      headers: { Authorization: headers.user(OWNER) },
      expect: 'read',
      names: ['query'],
    };
  }
  return idCase(g, route, fx, id => `/v1/rollouts/${id}`, 'GET');
}

function decisionsCase(g: Gen, fx: Fixture): Case {
  const route: Route = 'GET /v1/rollouts/:id/decisions';
  if (g.chance(0.4))
    return idCase(g, route, fx, id => `/v1/rollouts/${id}/decisions`, 'GET');
  const auth = { Authorization: headers.user(OWNER) };
  const r = g.next();
  if (r < 0.75) {
    const field = g.pick(['limit', 'before']);
    const v = g.pick([
      hostileString(g),
      '0',
      '501',
      '1.5',
      '-1',
      '1e309',
      '',
      'Infinity',
    ]);
    const ok = legal.queryNumber(
      v,
      field === 'limit'
        ? { int: true, min: 1, max: 500 }
        : { int: true, min: 1 },
    );
    const pairs: Array<[string, string]> = g.chance(0.3)
      ? [
          [field, v],
          [field, '5'],
        ]
      : [[field, v]];
    return {
      route,
      klass: pairs.length > 1 ? 'array parameter' : 'hostile string',
      method: 'GET',
      path: `/v1/rollouts/${fx.rolloutId}/decisions${query(pairs)}`,
      headers: auth,
      expect: ok && pairs.length === 1 ? 'read' : 'reject',
      names: ['query', field],
    };
  }
  const key = g.pick(['cursor', 'rolloutId', 'where', 'order', 'offset']);
  return {
    route,
    klass: 'unknown parameter',
    method: 'GET',
    path: `/v1/rollouts/${fx.rolloutId}/decisions${query([[key, hostileString(g)]])}`,
    headers: auth,
    expect: 'reject',
    names: ['query', unknownKey(key)],
  };
}

function actionCase(g: Gen, fx: Fixture): Case {
  const route: Route = 'POST /v1/rollouts/:id/actions/:action';
  const valid = {
    reason: 'fuzzing the action route',
    idempotencyKey: `fuzz-${g.int(1e6, 9e6)}`,
  };
  const r = g.next();
  if (r < 0.25) {
    return idCase(
      g,
      route,
      fx,
      id => `/v1/rollouts/${id}/actions/${g.pick(ACTIONS)}`,
      'POST',
      JSON.stringify(valid),
    );
  }
  const auth = headers.user(OWNER);
  if (r < 0.45) {
    let action = g.chance(0.3)
      ? g.pick([
          'ROLLBACK',
          'rollback ',
          ' promote',
          'promote%00',
          'Pause',
          'rollback\u0000',
          'approve/../rollback',
        ])
      : hostileString(g);
    if (ACTIONS.includes(action)) action = `${action}!`;
    const names = action !== '' && isWellFormed(action) ? ['action'] : ['path'];
    const status = action === '' ? [404] : [400];
    return {
      route,
      klass: 'path parameter',
      method: 'POST',
      path: `/v1/rollouts/${fx.rolloutId}/actions/${enc(action)}`,
      headers: json(auth),
      body: JSON.stringify(valid),
      expect: 'reject',
      names,
      status,
    };
  }
  const body: Record<string, unknown> = { ...valid };
  let names: string[];
  let klass: string;
  if (r < 0.8) {
    const field = g.pick(['reason', 'idempotencyKey']);
    const bad = breaking(
      g,
      field === 'reason' ? legal.reason : legal.idempotencyKey,
      () =>
        field === 'reason' && g.chance(0.15)
          ? 'r'.repeat(BODY_LIMIT - 200)
          : hostileString(g),
    );
    body[field] = bad.value;
    names = ['body', field];
    klass =
      typeof bad.value === 'string' && bad.value.length > 100_000
        ? 'large string under the limit'
        : bad.klass;
  } else if (r < 0.9) {
    const field = g.pick(['reason', 'idempotencyKey']);
    delete body[field];
    names = ['body', field];
    klass = 'missing field';
  } else {
    const key = g.pick([
      '__proto__',
      'constructor',
      'force',
      'actor',
      'rolloutId',
      'status',
      '$set',
      hostileString(g).slice(0, 60),
    ]);
    if (key in valid) return actionCase(g, fx);
    const raw = `{${toJson(body).slice(1, -1)},${JSON.stringify(key)}:${toJson(g.pick(WRONG_TYPES))}}`;
    return {
      route,
      klass: 'unknown field',
      method: 'POST',
      path: `/v1/rollouts/${fx.rolloutId}/actions/pause`,
      headers: json(auth),
      body: raw,
      expect: 'reject',
      names: ['body', unknownKey(key)],
    };
  }
  return {
    route,
    klass,
    method: 'POST',
    path: `/v1/rollouts/${fx.rolloutId}/actions/${g.pick(ACTIONS)}`,
    headers: json(auth),
    body: toJson(body),
    expect: 'reject',
    names,
  };
}

const POLICY_YAML = `slo:
  availability: 0.999
  latency: { thresholdMs: 300, objective: 0.99 }
kpis:
  - { name: conversion, type: proportion, direction: increase, margin: 0.05 }
  - name: order_value
    type: mean
    direction: increase
steps:
  - { weight: 1, minDurationSeconds: 600 }
  - { weight: 25, requiresApproval: true }
  - { weight: 100 }
telemetry:
  queries:
    errors: checkout-errors
gate:
  alpha: 0.05
  promote: { minDurationSeconds: 1200, minCanaryRequests: 1000 }
`;

function mutateYaml(g: Gen): string {
  let text = POLICY_YAML;
  const n = g.int(1, 4);
  for (let k = 0; k < n; k++) {
    const r = g.next();
    const at = g.int(0, text.length);
    if (r < 0.25) text = text.slice(0, at) + text.slice(at + g.int(1, 5));
    else if (r < 0.5)
      text =
        text.slice(0, at) +
        g.pick([
          '[',
          ']',
          '{',
          '}',
          ':',
          '- ',
          '#',
          '&a ',
          '*a',
          '!!binary ',
          '!!js/function ',
          '|',
          '>',
          "'",
          '"',
          '\t',
          '\n',
          '%YAML 1.1\n',
          '---\n',
          '? ',
          '<<: *a\n',
          '\u0000',
          '\ud800',
        ]) +
        text.slice(at);
    else if (r < 0.7) {
      const lines = text.split('\n');
      const i = g.int(0, lines.length - 1);
      lines[i] = g.chance(0.5)
        ? ` ${lines[i]}`
        : lines[i].replace(/: .*$/, `: ${JSON.stringify(hostileString(g))}`);
      text = lines.join('\n');
    } else if (r < 0.8)
      text = text.replace(
        /0\.999|300|0\.99|0\.05|600|100|1200|1000/,
        g.pick([
          '-1',
          '1.5',
          '"high"',
          '[]',
          '{}',
          'null',
          '.inf',
          '.nan',
          '0x10',
          '1e999',
        ]),
      );
    else if (r < 0.88)
      text += g.pick([
        'unknown: 1\n',
        'slo:\n  availability: 0.9\n',
        'kpis: {}\n',
        'gate: { bogus: true }\n',
        '---\nsecond: doc\n',
      ]);
    else if (r < 0.94)
      text = `${g.pick(['a: &a [x, x, x, x, x, x, x, x, x]\n', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n', ''])}${text}`;
    else
      text = g.pick([
        deepArray(g.int(60, 30_000)),
        `${'- '.repeat(g.int(60, 5_000))}x`,
        `${'{a: '.repeat(g.int(60, 3_000))}1${'}'.repeat(3_000)}`,
        'x: &a [*a]',
        '!!python/object/apply:os.system ["id"]',
      ]);
  }
  return text;
}

function mutatePolicyObject(g: Gen): unknown {
  const policy: any = {
    slo: {
      availability: 0.999,
      latency: { thresholdMs: 300, objective: 0.99 },
    },
    kpis: [
      {
        name: 'conversion',
        type: 'proportion',
        direction: 'increase',
        margin: 0.05,
      },
    ],
    steps: [{ weight: 1 }, { weight: 100 }],
    gate: { alpha: 0.05, promote: { minDurationSeconds: 1200 } },
  };
  const value = () =>
    g.pick([
      ...WRONG_TYPES.map(w => JSON.parse(w.text)),
      hostileString(g),
      -1,
      2,
      1e308,
    ]);
  const spots: Array<() => void> = [
    () => (policy.slo.availability = value()),
    () => (policy.slo.latency = value()),
    () => (policy.kpis[0].type = value()),
    () => (policy.kpis[0].name = value()),
    () => (policy.kpis = value()),
    () => (policy.steps[1].weight = value()),
    () => (policy.gate.alpha = value()),
    () => (policy.gate.promote.minDurationSeconds = value()),
    () => (policy.gate[hostileString(g)] = value()),
    () => (policy[hostileString(g)] = value()),
    () => (policy.telemetry = { queries: { errors: value() } }),
  ];
  g.pick(spots)();
  return g.chance(0.1) ? value() : policy;
}

function validateCase(g: Gen): Case {
  const route: Route = 'POST /v1/policies/validate';
  const auth = headers.user(OWNER);
  const r = g.next();
  if (r < 0.45) {
    return {
      route,
      klass: 'hostile YAML',
      method: 'POST',
      path: '/v1/policies/validate',
      headers: json(auth),
      body: toJson({ yaml: mutateYaml(g) }),
      expect: 'ok',
      names: [],
    };
  }
  if (r < 0.75) {
    return {
      route,
      klass: 'hostile policy object',
      method: 'POST',
      path: '/v1/policies/validate',
      headers: json(auth),
      body: toJson({ policy: mutatePolicyObject(g) }),
      expect: 'ok',
      names: [],
    };
  }
  if (r < 0.85) {
    const bad = breaking(
      g,
      v => typeof v === 'string',
      () => g.pick(WRONG_TYPES),
    );
    return {
      route,
      klass: 'wrong type',
      method: 'POST',
      path: '/v1/policies/validate',
      headers: json(auth),
      body: toJson({ yaml: bad.value }),
      expect: 'reject',
      names: ['body', 'yaml'],
    };
  }
  if (r < 0.92) {
    const key = g.pick([
      'polcy',
      'yml',
      '__proto__',
      'constructor',
      hostileString(g).slice(0, 60),
    ]);
    if (key === 'yaml' || key === 'policy') return validateCase(g);
    const raw = `{"yaml":"slo: {}",${JSON.stringify(key)}:1}`;
    return {
      route,
      klass: 'unknown field',
      method: 'POST',
      path: '/v1/policies/validate',
      headers: json(auth),
      body: raw,
      expect: 'reject',
      names: ['body', unknownKey(key)],
    };
  }
  if (r < 0.96) {
    return {
      route,
      klass: 'both fields',
      method: 'POST',
      path: '/v1/policies/validate',
      headers: json(auth),
      body: toJson({ yaml: 'slo: {}', policy: {} }),
      expect: 'reject',
      names: ['body', 'policy'],
    };
  }
  return {
    route,
    klass: 'missing field',
    method: 'POST',
    path: '/v1/policies/validate',
    headers: json(auth),
    body: '{}',
    expect: 'reject',
    names: ['body'],
  };
}

function readOnlyCase(g: Gen, route: Route, path: string, auth?: string): Case {
  const pairs: Array<[string, string]> = Array.from(
    { length: g.int(1, 3) },
    () => [hostileString(g), hostileString(g)] as [string, string],
  );
  return {
    route,
    klass: 'ignored parameter',
    method: 'GET',
    path: `${path}${query(pairs)}`,
    headers: auth ? { Authorization: auth } : {},
    expect: route === 'GET /health' ? 'ok' : 'read',
    names: ['query'],
  };
}

function summaryCase(g: Gen): Case {
  const route: Route = 'GET /v1/summary';
  const auth = { Authorization: headers.user(OWNER) };
  const r = g.next();
  if (r < 0.55) {
    const field = g.pick(['owner', 'system']);
    const v = hostileString(g);
    return {
      route,
      klass: 'hostile string',
      method: 'GET',
      path: `/v1/summary${query([[field, v]])}`,
      headers: auth,
      expect: legal.entityRef(v) ? 'read' : 'reject',
      names: ['query', field],
    };
  }
  if (r < 0.8) {
    const v = g.pick([hostileString(g), '0', '366', '7.5', '-30', '1e309', '']);
    return {
      route,
      klass: 'hostile string',
      method: 'GET',
      path: `/v1/summary${query([['days', v]])}`,
      headers: auth,
      expect: legal.queryNumber(v, { int: true, min: 1, max: 365 })
        ? 'read'
        : 'reject',
      names: ['query', 'days'],
    };
  }
  if (r < 0.9) {
    const field = g.pick(['owner', 'system', 'days']);
    return {
      route,
      klass: 'array parameter',
      method: 'GET',
      path: `/v1/summary${query([
        [field, '7'],
        [field, '30'],
      ])}`,
      headers: auth,
      expect: 'reject',
      names: ['query', field],
    };
  }
  const key = g.pick(['team', 'where', 'from', 'to', 'groupBy']);
  return {
    route,
    klass: 'unknown parameter',
    method: 'GET',
    path: `/v1/summary${query([[key, hostileString(g)]])}`,
    headers: auth,
    expect: 'reject',
    names: ['query', unknownKey(key)],
  };
}

const SERVICE_SORTS = [
  'budgetSpent',
  'budgetBurnRate',
  'rolledBack',
  'activeRollouts',
  'entityRef',
];

function summaryServicesCase(g: Gen): Case {
  const route: Route = 'GET /v1/summary/services';
  const auth = { Authorization: headers.user(OWNER) };
  const path = '/v1/summary/services';
  const r = g.next();
  const one = (field: string, v: string, legalValue: boolean): Case => ({
    route,
    klass: 'hostile string',
    method: 'GET',
    path: `${path}${query([[field, v]])}`,
    headers: auth,
    expect: legalValue ? 'read' : 'reject',
    names: ['query', field],
  });
  if (r < 0.25) {
    const field = g.pick(['sort', 'order', 'active', 'budgeted']);
    const good: Record<string, string[]> = {
      sort: SERVICE_SORTS,
      order: ['asc', 'desc'],
      active: ['true', 'false'],
      budgeted: ['true', 'false'],
    };
    const v = g.chance(0.3) ? g.pick(good[field]) : hostileString(g);
    return one(field, v, good[field].includes(v));
  }
  if (r < 0.55) {
    const field = g.pick(['limit', 'offset']);
    const v = g.pick([
      hostileString(g),
      '0',
      '1',
      '100',
      '101',
      '-1',
      '2.5',
      '1e309',
      '',
      '1000001',
    ]);
    return one(
      field,
      v,
      field === 'limit'
        ? legal.queryNumber(v, { int: true, min: 1, max: 100 })
        : legal.queryNumber(v, { int: true, min: 0, max: 1_000_000 }),
    );
  }
  if (r < 0.7) {
    const v = g.pick(['checkout', ' cart ', '', '   ', 'x'.repeat(201)]);
    return one('q', v, v.trim().length >= 1 && v.trim().length <= 200);
  }
  if (r < 0.85) {
    const field = g.pick(['sort', 'limit', 'active', 'q']);
    return {
      route,
      klass: 'array parameter',
      method: 'GET',
      path: `${path}${query([
        [field, '20'],
        [field, 'true'],
      ])}`,
      headers: auth,
      expect: 'reject',
      names: ['query', field],
    };
  }
  const key = g.pick(['page', 'pageSize', 'where', 'fields', 'groupBy']);
  return {
    route,
    klass: 'unknown parameter',
    method: 'GET',
    path: `${path}${query([[key, hostileString(g)]])}`,
    headers: auth,
    expect: 'reject',
    names: ['query', unknownKey(key)],
  };
}

function judgeCase(g: Gen): Case {
  const route: Route = 'GET /v1/judge';
  const auth = { Authorization: headers.service() };
  const params: Record<string, string> = {
    provider: 'argo-rollouts',
    target: 'shop/cart',
    version: `fuzz-${g.int(0, 1e6)}`,
    weight: '10',
  };
  const r = g.next();
  let names: string[];
  let klass = 'hostile string';
  let status: number[] | undefined;
  const toPairs = () => Object.entries(params) as Array<[string, string]>;
  if (r < 0.25) {
    const v = hostileString(g);
    params.target = v;
    if (legal.label(v, 256)) {
      names = ['target']; // no catalog entity claims it: 404, nothing registered
      status = [404];
    } else names = ['query', 'target'];
  } else if (r < 0.4) {
    let v = hostileString(g);
    if (legal.label(v, 128)) v = `${v}\u0000`; // a legal version would register a revision
    params.version = v;
    names = ['query', 'version'];
  } else if (r < 0.55) {
    const v = hostileString(g);
    params.provider = v;
    if (legal.provider(v)) {
      names = ['target'];
      status = [404];
    } else names = ['query', 'provider'];
  } else if (r < 0.75) {
    let v = g.pick([hostileString(g), '0', '100', '-5', '1e309', 'NaN', '']);
    if (legal.queryNumber(v, { gt: 0, lt: 100 })) v = '100';
    params.weight = v;
    names = ['query', 'weight'];
  } else if (r < 0.85) {
    const field = g.pick(['target', 'version', 'weight', 'provider']);
    klass = 'array parameter';
    names = ['query', field];
    const pairs = toPairs().filter(([k]) => k !== field);
    pairs.push(
      g.chance(0.5) ? [`${field}[]`, params[field]] : [field, params[field]],
      [field, params[field]],
    );
    return {
      route,
      klass,
      method: 'GET',
      path: `/v1/judge${query(pairs)}`,
      headers: auth,
      expect: 'reject',
      names,
    };
  } else if (r < 0.92) {
    const field = g.pick(['target', 'version']);
    delete params[field];
    klass = 'missing field';
    names = ['query', field];
  } else {
    const key = g.pick(['namespace', 'rollout', 'analysis', 'where']);
    params[key] = hostileString(g);
    klass = 'unknown parameter';
    names = ['query', unknownKey(key)];
  }
  return {
    route,
    klass,
    method: 'GET',
    path: `/v1/judge${query(toPairs())}`,
    headers: auth,
    expect: 'reject',
    names,
    status,
  };
}

function flaggerCase(g: Gen): Case {
  const route: Route = 'POST /v1/webhooks/flagger/:hook';
  const token = headers.service().slice('Bearer '.length);
  const body: Record<string, unknown> = {
    name: 'podinfo',
    namespace: 'test',
    phase: 'Progressing',
    checksum: `fuzz${g.int(0, 1e6)}`,
    metadata: { token },
  };
  let hook = g.pick(HOOKS);
  const r = g.next();
  let names: string[];
  let klass = 'hostile string';
  let status: number[] | undefined;
  let hdrs = json();
  if (r < 0.15) {
    hook = hostileString(g);
    if (HOOKS.includes(hook)) hook = `${hook}-now`;
    names = hook !== '' && isWellFormed(hook) ? ['hook'] : ['path'];
    status = hook === '' ? [404] : [400];
    klass = 'path parameter';
    if (hook === '') hdrs = json(headers.service()); // an unrouted path needs a header token
  } else if (r < 0.35) {
    const userToken = headers.user(OWNER).slice('Bearer '.length);
    const bad = breaking(
      g,
      v => v === token,
      () =>
        g.pick([
          hostileString(g),
          userToken,
          'mock-service-token:{',
          'mock-user-token:{"sub":1',
          'Bearer x',
          'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
        ]),
    );
    body.metadata = g.chance(0.2) ? bad.value : { token: bad.value };
    names = ['metadata.token'];
    status = [401];
    klass = `token: ${bad.klass}`;
  } else if (r < 0.75) {
    const field = g.pick(['name', 'namespace', 'phase', 'checksum']);
    const limits: Record<string, [number, number]> = {
      name: [1, 253],
      namespace: [1, 63],
      phase: [0, 64],
      checksum: [0, 128],
    };
    const v = hostileString(g);
    if (legal.label(v, limits[field][1], limits[field][0])) {
      if (field === 'name' || field === 'namespace') {
        body[field] = v; // a legal name nobody claims: 404 naming the target
        names = ['target'];
        status = [404];
      } else {
        body[field] = `${v}\u0000`;
        names = ['body', field];
      }
    } else {
      const bad = breaking(
        g,
        x => legal.label(x, limits[field][1], limits[field][0]),
        () => v,
      );
      body[field] = bad.value;
      klass = bad.klass;
      names = ['body', field];
    }
  } else if (r < 0.85) {
    (body.metadata as any)[g.pick(['ref', 'eventType', '__proto__x'])] =
      g.pick(WRONG_TYPES);
    const key = Object.keys(body.metadata as object).find(k => k !== 'token')!;
    names = ['body', `metadata.${key}`];
    klass = 'wrong type';
  } else if (r < 0.93) {
    const field = g.pick(['name', 'namespace']);
    delete body[field];
    names = ['body', field];
    klass = 'missing field';
  } else {
    // Flagger adds fields across versions: unknown ones are ignored, so this
    // one names a service nobody claims and must find nothing.
    const raw = `{${toJson({ ...body, name: `nobody-${g.int(0, 1e6)}` }).slice(1, -1)},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}`;
    return {
      route,
      klass: 'unknown field',
      method: 'POST',
      path: `/v1/webhooks/flagger/${enc(hook)}`,
      headers: hdrs,
      body: raw,
      expect: 'reject',
      names: ['target'],
      status: [404],
    };
  }
  return {
    route,
    klass,
    method: 'POST',
    path: `/v1/webhooks/flagger/${enc(hook)}`,
    headers: hdrs,
    body: toJson(body),
    expect: 'reject',
    names,
    status,
  };
}

/** Paths and methods no route serves: a JSON 404 naming the path. */
function unroutedCase(g: Gen, fx: Fixture): Case {
  const auth = { Authorization: headers.user(OWNER) };
  const h = enc(hostileString(g) || 'x');
  const [method, path] = g.pick<[string, string]>([
    ['GET', `/${h}`],
    ['GET', `/v1/${h}`],
    ['GET', `/v2/rollouts`],
    ['GET', `/v1/rollouts/${fx.rolloutId}/${h}`],
    ['POST', `/v1/rollouts/${fx.rolloutId}/actions/rollback/${h}`],
    ['PUT', `/v1/rollouts/${fx.rolloutId}`],
    ['DELETE', `/v1/rollouts/${fx.rolloutId}`],
    ['PATCH', `/v1/rollouts`],
    ['DELETE', `/v1/decisions/verify`],
    ['POST', `/health`],
    ['GET', `/v1/webhooks/flagger/rollback`],
  ]);
  const undecodable = !isWellFormed(decodeURIComponentSafe(path));
  return {
    route: 'GET /health',
    klass: 'unrouted',
    method,
    path,
    headers: auth,
    expect: 'reject',
    names: ['path'],
    status: undecodable ? [400, 404] : [404],
  };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '\ud800';
  }
}

function buildCases(g: Gen, fx: Fixture): Array<Case & { unrouted?: boolean }> {
  const cases: Array<Case & { unrouted?: boolean }> = [];
  const each = (n: number, make: () => Case) => {
    for (let i = 0; i < n; i++) cases.push(make());
  };
  each(PER_ROUTE / 4, () => readOnlyCase(g, 'GET /health', '/health'));
  each(PER_ROUTE, () => listCase(g));
  each(PER_ROUTE, () => registerCase(g));
  each(PER_ROUTE, () => detailCase(g, fx));
  each(PER_ROUTE, () => decisionsCase(g, fx));
  each(PER_ROUTE, () => actionCase(g, fx));
  each(PER_ROUTE, () => validateCase(g));
  each(PER_ROUTE / 4, () =>
    readOnlyCase(
      g,
      'GET /v1/decisions/verify',
      '/v1/decisions/verify',
      headers.service(),
    ),
  );
  each(PER_ROUTE, () => summaryCase(g));
  each(PER_ROUTE, () => summaryServicesCase(g));
  each(PER_ROUTE, () => judgeCase(g));
  each(PER_ROUTE, () => flaggerCase(g));
  each(PER_ROUTE / 4, () => ({ ...unroutedCase(g, fx), unrouted: true }));
  const user = headers.user(OWNER);
  cases.push(
    ...structuralCases(
      'POST /v1/rollouts',
      'POST',
      '/v1/rollouts',
      headers.service(),
    ),
    ...structuralCases(
      'POST /v1/rollouts/:id/actions/:action',
      'POST',
      `/v1/rollouts/${fx.rolloutId}/actions/rollback`,
      user,
    ),
    ...structuralCases(
      'POST /v1/policies/validate',
      'POST',
      '/v1/policies/validate',
      user,
    ),
    ...structuralCases(
      'POST /v1/webhooks/flagger/:hook',
      'POST',
      '/v1/webhooks/flagger/rollback',
      headers.service(),
    ),
    // GET routes parse a JSON body too, and must refuse an unreadable one the same way.
    ...structuralCases('GET /v1/rollouts', 'GET', '/v1/rollouts', user)
      .slice(0, 4)
      .map(c => ({ ...c, method: 'GET' })),
  );
  // Shuffle, so routes interleave under concurrency.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = g.int(0, i);
    [cases[i], cases[j]] = [cases[j], cases[i]];
  }
  return cases;
}

// ---------------------------------------------------------------------------
// Running and judging

interface Stats {
  requests: number;
  fiveHundreds: number;
  fourHundreds: number;
  named: number;
  byRoute: Map<string, number>;
  byClass: Map<string, number>;
  unrouted: number;
  failures: string[];
}

function show(c: Case): string {
  const body =
    c.body === undefined
      ? ''
      : ` body=${JSON.stringify(String(c.body).slice(0, 160))}`;
  return `${c.method} ${c.path.slice(0, 200)} [${c.klass}]${body}`;
}

function judgeResponse(c: Case, res: Response, stats: Stats) {
  stats.requests++;
  if (res.status >= 500) {
    stats.fiveHundreds++;
    stats.failures.push(
      `5xx ${res.status} for ${show(c)}: ${res.text.slice(0, 300)}`,
    );
    return;
  }
  if (c.expect === 'ok' && res.status !== 200) {
    stats.failures.push(
      `expected 200, got ${res.status} for ${show(c)}: ${res.text.slice(0, 300)}`,
    );
  }
  if (c.expect === 'reject' && !(res.status >= 400 && res.status < 500)) {
    stats.failures.push(
      `accepted (${res.status}) ${show(c)}: ${res.text.slice(0, 300)}`,
    );
  }
  if (c.status && !c.status.includes(res.status)) {
    stats.failures.push(
      `expected ${c.status.join('/')}, got ${res.status} for ${show(c)}: ${res.text.slice(0, 300)}`,
    );
  }
  if (res.status >= 400 && res.status < 500) {
    stats.fourHundreds++;
    const error = res.json?.error;
    if (typeof error?.name !== 'string' || typeof error?.message !== 'string') {
      stats.failures.push(
        `4xx without a JSON error body (${res.status}) for ${show(c)}: ${res.text.slice(0, 200)}`,
      );
      return;
    }
    const missing = c.names.filter(n => !mentions(error.message, n));
    if (missing.length > 0 || c.names.length === 0) {
      stats.failures.push(
        `${res.status} does not name ${missing.join(', ') || '(nothing expected)'} for ${show(c)}: ${error.message.slice(0, 300)}`,
      );
    } else {
      stats.named++;
    }
    if (error.message.length > 4096) {
      stats.failures.push(
        `${res.status} message of ${error.message.length} characters for ${show(c)}`,
      );
    }
  }
  if (
    c.expect === 'ok' &&
    c.route === 'POST /v1/policies/validate' &&
    res.status === 200
  ) {
    const problems = res.json?.problems;
    const good =
      typeof res.json?.valid === 'boolean' &&
      Array.isArray(problems) &&
      res.json.valid === (problems.length === 0) &&
      problems.every(
        (p: any) =>
          typeof p.path === 'string' &&
          p.path.length > 0 &&
          typeof p.message === 'string' &&
          p.message.length > 0,
      );
    if (!good)
      stats.failures.push(
        `validate answered without a path per problem for ${show(c)}: ${res.text.slice(0, 300)}`,
      );
  }
}

async function runAll(
  b: ReliabilityBackend,
  cases: Array<Case & { unrouted?: boolean }>,
  stats: Stats,
) {
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      const res = await b.send({
        method: c.method,
        path: c.path,
        headers: c.headers,
        body: c.body,
      });
      judgeResponse(c, res, stats);
      if (c.unrouted) stats.unrouted++;
      else stats.byRoute.set(c.route, (stats.byRoute.get(c.route) ?? 0) + 1);
      stats.byClass.set(c.klass, (stats.byClass.get(c.klass) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function snapshot(b: ReliabilityBackend) {
  return {
    log: await decisionLog(b),
    rollouts: await rolloutIds(b),
    providerCalls: b.deploy.calls.length,
    auditSuccesses: b.auditEvents.filter(
      e => e.outcome === 'success' && e.eventId !== 'decision-log-verify',
    ).length,
  };
}

const fmt = (n: number) => n.toLocaleString('en-US');

describe('fuzzing every route with malformed and hostile input', () => {
  let b: ReliabilityBackend;
  let fx: Fixture;

  beforeAll(async () => {
    b = await startReliabilityBackend();
    fx = { rolloutId: await registerRollout(b, 'checkout', '2.1.0') };
  });
  afterAll(async () => {
    await b?.stop();
  });

  it('never answers 5xx, names what is wrong in every 4xx, and writes nothing', async () => {
    console.log(
      `[reliability] fuzz: seed ${SEED} (replay with TOLLGATE_FUZZ_SEED=${SEED}), ${PER_ROUTE} random cases per route`,
    );
    const started = Date.now();
    const g = new Gen(SEED);
    const cases = buildCases(g, fx);
    const before = await snapshot(b);
    const stats: Stats = {
      requests: 0,
      fiveHundreds: 0,
      fourHundreds: 0,
      named: 0,
      byRoute: new Map(),
      byClass: new Map(),
      unrouted: 0,
      failures: [],
    };
    await runAll(b, cases, stats);
    const after = await snapshot(b);

    const pct = stats.fourHundreds
      ? ((100 * stats.named) / stats.fourHundreds).toFixed(
          stats.named === stats.fourHundreds ? 0 : 2,
        )
      : '100';
    console.log(
      `[reliability] fuzz: ${fmt(stats.requests)} requests fuzzed (${fmt(stats.requests - stats.unrouted)} over ${stats.byRoute.size} routes, ${fmt(stats.unrouted)} to unrouted paths), ` +
        `5xx seen = ${stats.fiveHundreds}, 4xx naming the field = ${pct}% (${fmt(stats.named)}/${fmt(stats.fourHundreds)}), ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(
      `[reliability] fuzz: per route: ${[...stats.byRoute].map(([r, n]) => `${r} ${fmt(n)}`).join('; ')}`,
    );
    console.log(
      `[reliability] fuzz: per class: ${[...stats.byClass]
        .sort((x, y) => y[1] - x[1])
        .map(([k, n]) => `${k} ${fmt(n)}`)
        .join('; ')}`,
    );
    console.log(
      `[reliability] fuzz: nothing written: decision log ${before.log.checked} → ${after.log.checked} entries (chain ok: ${after.log.ok}), ` +
        `rollouts ${before.rollouts.length} → ${after.rollouts.length}, provider calls ${before.providerCalls} → ${after.providerCalls}, ` +
        `successful audited actions ${before.auditSuccesses} → ${after.auditSuccesses}`,
    );
    if (stats.failures.length)
      console.log(
        `[reliability] fuzz: ${stats.failures.length} failures, first ones:\n  ${stats.failures.slice(0, 25).join('\n  ')}`,
      );

    expect(stats.byRoute.size).toBe(ROUTES.length);
    expect(stats.requests).toBeGreaterThanOrEqual(3000);
    expect(stats.fiveHundreds).toBe(0);
    expect(stats.failures).toEqual([]);
    expect(after).toEqual(before);
    expect(after.log.ok).toBe(true);
    // The backend runs in this process: a polluted prototype would show here.
    expect(({} as any).polluted).toBeUndefined();
    expect((Object.prototype as any).polluted).toBeUndefined();
  });

  it('answers an oversized URL in Node before the app, without a 5xx', async () => {
    // Node's HTTP parser refuses headers over 16 KiB with a bare 431: the
    // one 4xx that carries no JSON body, because no route sees it.
    const res = await b.send({
      method: 'GET',
      path: `/v1/rollouts?entityRef=${'a'.repeat(20_000)}`,
      headers: { Authorization: headers.user(OWNER) },
    });
    expect(res.status).toBe(431);
  });

  it('stores and returns legal hostile text verbatim: injection strings are data', async () => {
    const texts = [
      "'; DROP TABLE decisions; --",
      '1 UNION SELECT hash FROM decision_chain --',
      '{"$gt": ""}',
      '../../../../etc/passwd',
      '__proto__',
      'constructor.prototype.polluted',
      '${7*7} {{7*7}} $(id)',
      '<script>alert(1)</script>',
      '\u202egnp.exe',
      'مرحبا بالعالم',
      '\u200b\u200c\u200d\ufeff',
      '🦄🔥💥 👩‍👩‍👧‍👦',
      'e\u0301\u0301 Ω≈ç√',
      '𝕿𝖔𝖑𝖑𝖌𝖆𝖙𝖊',
    ];
    const before = await decisionLog(b);
    const ids: string[] = [];
    for (const [i, text] of texts.entries()) {
      const res = await b.call('POST', '/v1/rollouts', headers.service(), {
        entityRef: 'component:default/payments',
        provider: 'fake',
        target: 'shop/payments',
        version: `${text}#${i}`,
        previousVersion: text,
      });
      expect(res.status, res.text).toBe(201);
      ids.push(res.json.id);
      const detail = await b.call(
        'GET',
        `/v1/rollouts/${res.json.id}`,
        headers.user(OWNER),
      );
      expect(detail.json).toMatchObject({
        version: `${text}#${i}`,
        previousVersion: text,
        target: 'shop/payments',
      });
    }
    // The deploy system now runs the last registered release (an action is
    // sent only while it runs the rollout's own release).
    b.deploy.add({
      target: 'shop/payments',
      version: `${texts[texts.length - 1]}#${texts.length - 1}`,
      previousVersion: texts[texts.length - 1],
    });
    // A reason in every script: written to the decision log as given (trimmed).
    const reason = texts.join(' | ');
    const paused = await b.call(
      'POST',
      `/v1/rollouts/${ids[ids.length - 1]}/actions/pause`,
      headers.user(PAYMENTS_OWNER),
      {
        reason: `  ${reason}\n`,
        idempotencyKey: 'fuzz-legal-0001',
      },
    );
    expect(paused.status, paused.text).toBe(200);
    const decisions = await b.call(
      'GET',
      `/v1/rollouts/${ids[ids.length - 1]}/decisions`,
      headers.user(OWNER),
    );
    expect(decisions.json.items[0]).toMatchObject({
      verdict: 'pause',
      actor: PAYMENTS_OWNER,
    });
    expect(decisions.json.items[0].reasons).toContain(
      `reason given: ${reason}`,
    );
    // The same text through the judge: a revision registered under that name.
    const judged = await b.call('POST', '/v1/judge', headers.service(), {
      target: 'shop/cart',
      version: texts[0],
    });
    expect(judged.status, judged.text).toBe(200);
    expect(judged.json.version).toBe(texts[0]);

    const after = await decisionLog(b);
    // one register per rollout and one pause, then the judged revision's register and verdict
    expect(after.ok).toBe(true);
    expect(after.checked).toBeGreaterThanOrEqual(
      before.checked + texts.length + 2,
    );
    console.log(
      `[reliability] fuzz: ${texts.length} legal hostile strings stored and read back verbatim (versions, reasons, judge revisions); chain ok over ${after.checked} entries`,
    );
  });
});
