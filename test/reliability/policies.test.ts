/**
 * Broken policies: invalid YAML, unknown fields and out-of-range values are
 * answered with every problem at its field path (or its YAML line and
 * column), through `POST /v1/policies/validate` and through config; and a
 * broken policy holds the rollouts that use it while the gate loop carries
 * on with the others.
 */
import type { UrlReaderService } from '@backstage/backend-plugin-api';
import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import type { JsonObject } from '@backstage/types';
import { NotFoundError } from '@backstage/errors';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import knexFactory, { type Knex } from 'knex';
import {
  DatabaseRolloutsStore,
  GateLoop,
  migrateRolloutsDatabase,
  PolicyResolver,
  ProviderRegistry,
  RolloutEvents,
  validatePolicyObject,
  validatePolicyYaml,
  type EntityLookup,
} from '@tollgate/plugin-rollouts-backend/testUtils';
import {
  headers,
  OWNER,
  startReliabilityBackend,
  type ReliabilityBackend,
} from './support/backend';

const counts = {
  yamlCases: 0,
  objectCases: 0,
  configCases: 0,
  problemsChecked: 0,
};

const STANDARD = {
  slo: { availability: 0.995 },
  gate: { promote: { minDurationSeconds: 60, minCanaryRequests: 300 } },
};

/** A named policy in config with a problem in every section. */
const LEGACY = {
  slo: { availability: 1.5 },
  kpis: [{ name: 'conversion', type: 'ratio', direction: 'increase' }],
  steps: [{ weight: 5 }, { weight: 150 }],
  gate: { promote: { minDurationSeconds: -1 } },
};
const LEGACY_PROBLEMS = [
  { path: 'slo.availability', message: 'Number must be less than 1' },
  {
    path: 'kpis[0].type',
    message:
      "Invalid enum value. Expected 'proportion' | 'mean', received 'ratio'",
  },
  {
    path: 'steps[1].weight',
    message: 'Number must be less than or equal to 100',
  },
  { path: 'gate.promote.minDurationSeconds', message: 'must be >= 0' },
];

/** YAML text → the exact problems the API must answer. */
const YAML_CASES: Array<{
  what: string;
  yaml: string;
  problems: Array<{ path: string; message: string | RegExp }>;
}> = [
  {
    what: 'a duplicate key',
    yaml: 'slo:\n    availability: 0.9\n    availability: 0.8\n',
    problems: [
      { path: '(yaml line 3, column 5)', message: 'Map keys must be unique' },
    ],
  },
  {
    what: 'a tab as indentation',
    yaml: 'slo:\n\tavailability: 0.9\n',
    problems: [
      {
        path: '(yaml line 2, column 1)',
        message: 'Tabs are not allowed as indentation',
      },
    ],
  },
  {
    what: 'a mapping inside a compact mapping',
    yaml: 'slo:\n  availability: 0.999\ngate:\n  alpha: : 0.05\n',
    problems: [
      {
        path: '(yaml line 4, column 10)',
        message: 'Nested mappings are not allowed in compact mappings',
      },
    ],
  },
  {
    what: 'an unclosed flow collection',
    yaml: 'slo:\n  availability: 0.999\nkpis: [\n  { name: a, type: mean\n',
    problems: [
      {
        path: '(yaml line 5, column 1)',
        message:
          /^Flow map in block collection must be sufficiently indented and end with a \}/,
      },
      {
        path: '(yaml line 5, column 1)',
        message:
          /^Flow sequence in block collection must be sufficiently indented and end with a \]/,
      },
    ],
  },
  {
    what: 'an unresolved language tag',
    yaml: 'slo: !!python/object/apply:os.system ["id"]\n',
    problems: [
      {
        path: '(yaml line 1, column 6)',
        message:
          'Unresolved tag: tag:yaml.org,2002:python/object/apply:os.system',
      },
    ],
  },
  {
    what: 'two documents',
    yaml: 'slo: {availability: 0.9}\n---\nslo: {}\n',
    problems: [
      {
        path: '(yaml line 2, column 1)',
        message: /^Source contains multiple documents/,
      },
    ],
  },
  {
    what: 'an alias bomb (billion laughs)',
    yaml: [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      '',
    ].join('\n'),
    problems: [
      { path: '(yaml)', message: /^cannot be read: Excessive alias count/ },
    ],
  },
  {
    what: 'flow sequences nested 20,000 levels deep',
    yaml: `slo:\n  availability: 0.9\ngate: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
    problems: [
      {
        path: '(yaml line 3, column 74)',
        message: 'nested more than 64 levels deep',
      },
    ],
  },
  {
    what: 'block sequences nested 5,000 levels deep on one line',
    yaml: `steps:\n  ${'- '.repeat(5_000)}x\n`,
    problems: [
      {
        path: '(yaml line 2, column 129)',
        message: 'nested more than 64 levels deep',
      },
    ],
  },
  {
    what: 'a scalar',
    yaml: '42',
    problems: [{ path: '(root)', message: 'a policy must be a YAML mapping' }],
  },
  {
    what: 'nothing',
    yaml: '',
    problems: [{ path: '(root)', message: 'a policy must be a YAML mapping' }],
  },
  {
    what: 'unknown fields at every level',
    yaml: 'sloo: 1\nslo:\n  availability: 0.99\n  availabilty: 0.9\ngate:\n  promte: {}\n  promote: { minDurationSeconds: -1, bogus: 1 }\n',
    problems: [
      { path: 'slo.availabilty', message: 'unknown field' },
      { path: 'sloo', message: 'unknown field' },
      { path: 'gate.promote.minDurationSeconds', message: 'must be >= 0' },
      { path: 'gate.promote.bogus', message: 'unknown field' },
      { path: 'gate.promte', message: 'unknown field' },
    ],
  },
  {
    what: 'out-of-range values in every section',
    yaml: [
      'slo:',
      '  availability: 1.5',
      '  latency: { thresholdMs: -3, objective: 0 }',
      'kpis:',
      '  - { name: conversion, type: ratio, direction: up, margin: 1.5 }',
      'steps:',
      '  - { weight: 5 }',
      '  - { weight: 150 }',
      'gate:',
      '  alpha: 2',
      '  promote: { minDurationSeconds: -1 }',
      '  burn: { windows: [{ name: page, longSeconds: 60, shortSeconds: 600, factor: 2 }] }',
      '',
    ].join('\n'),
    problems: [
      { path: 'slo.availability', message: 'Number must be less than 1' },
      {
        path: 'slo.latency.thresholdMs',
        message: 'Number must be greater than 0',
      },
      {
        path: 'slo.latency.objective',
        message: 'Number must be greater than 0',
      },
      {
        path: 'kpis[0].type',
        message:
          "Invalid enum value. Expected 'proportion' | 'mean', received 'ratio'",
      },
      {
        path: 'kpis[0].direction',
        message:
          "Invalid enum value. Expected 'increase' | 'decrease', received 'up'",
      },
      {
        path: 'kpis[0].margin',
        message: 'Number must be less than or equal to 1',
      },
      {
        path: 'steps[1].weight',
        message: 'Number must be less than or equal to 100',
      },
      { path: 'gate.alpha', message: 'must be between 0 and 1 (exclusive)' },
      {
        path: 'gate.burn.windows[0].shortSeconds',
        message: 'shortSeconds must not exceed longSeconds',
      },
      { path: 'gate.promote.minDurationSeconds', message: 'must be >= 0' },
    ],
  },
  {
    what: 'a gate KPI named twice',
    yaml: 'gate:\n  kpis:\n    - { name: conversion, margin: 0.1 }\n    - { name: conversion, margin: 0.2 }\n',
    problems: [
      { path: 'gate.kpis[1].name', message: 'duplicate name "conversion"' },
    ],
  },
  {
    what: 'a gate that is not a mapping',
    yaml: 'gate: 5\n',
    problems: [{ path: 'gate', message: 'Expected object, received number' }],
  },
];

/** Policy objects (as `{ policy }`) → the exact problems. */
/** A case's problem message: the text itself, or any text matching the pattern. */
const messageLike = (message: string | RegExp) =>
  typeof message === 'string' ? message : expect.stringMatching(message);

const OBJECT_CASES: Array<{
  what: string;
  policy: unknown;
  problems: Array<{ path: string; message: string }>;
}> = [
  {
    what: 'wrong types',
    policy: {
      slo: { availability: '0.9' },
      kpis: 'conversion',
      steps: [{ weight: 1 }, { weight: 101, extra: 1 }],
    },
    problems: [
      { path: 'slo.availability', message: 'Expected number, received string' },
      { path: 'kpis', message: 'Expected array, received string' },
      {
        path: 'steps[1].weight',
        message: 'Number must be less than or equal to 100',
      },
      { path: 'steps[1].extra', message: 'unknown field' },
    ],
  },
  {
    what: 'the config policy with a problem in every section',
    policy: LEGACY,
    problems: LEGACY_PROBLEMS,
  },
  {
    what: 'prototype keys',
    policy: JSON.parse(
      '{"slo":{"availability":0.9},"__proto__":{"polluted":1},"gate":{"constructor":{"prototype":{"polluted":1}}}}',
    ),
    problems: [
      { path: '__proto__', message: 'unknown field' },
      { path: 'gate.constructor', message: 'unknown field' },
    ],
  },
  {
    what: 'null',
    policy: null,
    problems: [{ path: '(root)', message: 'Expected object, received null' }],
  },
];

describe('policy problems name their field path', () => {
  let b: ReliabilityBackend;
  beforeAll(async () => {
    // A broken named policy in config no longer stops the plugin from starting.
    b = await startReliabilityBackend({
      config: { policies: { standard: STANDARD, legacy: LEGACY } },
    });
  });
  afterAll(async () => {
    await b?.stop();
  });

  it.each(YAML_CASES)(
    'POST /v1/policies/validate with $what',
    async ({ yaml, problems }) => {
      const res = await b.call(
        'POST',
        '/v1/policies/validate',
        headers.user(OWNER),
        { yaml },
      );
      expect(res.status, res.text).toBe(200);
      expect(res.json.valid).toBe(false);
      expect(res.json.problems).toEqual(
        problems.map(p => ({ path: p.path, message: messageLike(p.message) })),
      );
      // The same text through the function the config and URL policies use.
      expect(validatePolicyYaml(yaml).problems).toEqual(res.json.problems);
      counts.yamlCases++;
      counts.problemsChecked += problems.length;
    },
  );

  it.each(OBJECT_CASES)(
    'POST /v1/policies/validate with a policy object: $what',
    async ({ policy, problems }) => {
      const res = await b.send({
        method: 'POST',
        path: '/v1/policies/validate',
        headers: {
          Authorization: headers.user(OWNER),
          'Content-Type': 'application/json',
        },
        // raw, so `__proto__` stays a key
        body: `{"policy":${rawJson(policy)}}`,
      });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ valid: false, problems });
      expect(({} as any).polluted).toBeUndefined();
      counts.objectCases++;
      counts.problemsChecked += problems.length;
    },
  );

  it('accepts a valid policy and hashes it', async () => {
    const yaml =
      'slo:\n  availability: 0.999\nkpis:\n  - { name: conversion, type: proportion, direction: increase, margin: 0.05 }\nsteps:\n  - { weight: 1 }\n  - { weight: 100 }\ngate:\n  alpha: 0.05\n';
    const res = await b.call(
      'POST',
      '/v1/policies/validate',
      headers.user(OWNER),
      { yaml },
    );
    expect(res.json).toEqual({
      valid: true,
      problems: [],
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('refuses to register a rollout under the broken config policy, naming its problems', async () => {
    const res = await b.call('POST', '/v1/rollouts', headers.service(), {
      entityRef: 'component:default/checkout',
      provider: 'fake',
      target: 'shop/checkout',
      version: '3.0.0',
      policy: 'legacy',
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toBe(
      `policy: the policy "legacy" (rollouts.policies.legacy) is invalid: ${LEGACY_PROBLEMS.map(p => `${p.path}: ${p.message}`).join('; ')}`,
    );
    const verify = await b.call(
      'GET',
      '/v1/decisions/verify',
      headers.service(),
    );
    expect(verify.json).toEqual({ ok: true, checked: 0 });
  });
});

/** JSON text for a value parsed from JSON (keeps own `__proto__` keys as keys). */
function rawJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(rawJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .map(k => `${JSON.stringify(k)}:${rawJson((value as any)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('policies from config', () => {
  const resolver = (policies: JsonObject, defaultPolicy?: string) =>
    PolicyResolver.fromConfig(
      new ConfigReader({
        rollouts: { policies, ...(defaultPolicy ? { defaultPolicy } : {}) },
      }),
    );

  it('keeps a broken named policy with every problem at its field path, and the rest usable', () => {
    const r = resolver({
      standard: STANDARD,
      legacy: LEGACY,
      scalar: 5,
      typo: { slo: { availability: 0.99 }, gaet: {} },
    });
    expect(r.brokenPolicies()).toEqual([
      {
        name: 'legacy',
        where: 'rollouts.policies.legacy',
        problems: LEGACY_PROBLEMS,
      },
      {
        name: 'scalar',
        where: 'rollouts.policies.scalar',
        problems: [{ path: '(root)', message: 'a policy must be a mapping' }],
      },
      {
        name: 'typo',
        where: 'rollouts.policies.typo',
        problems: [{ path: 'gaet', message: 'unknown field' }],
      },
    ]);
    expect(r.named('standard').slo.availability).toBe(0.995);
    expect(() => r.named('legacy')).toThrow(
      'the policy "legacy" (rollouts.policies.legacy) is invalid: slo.availability: Number must be less than 1; kpis[0].type: Invalid enum value',
    );
    expect(() => r.named('typo')).toThrow(
      'the policy "typo" (rollouts.policies.typo) is invalid: gaet: unknown field',
    );
    counts.configCases += 3;
  });

  it('names rollouts.defaultPolicy when it names no policy at all', () => {
    expect(() => resolver({ standard: STANDARD }, 'strict')).toThrow(
      'rollouts.defaultPolicy: no policy named "strict" under rollouts.policies',
    );
    counts.configCases++;
  });

  it('starts with a broken default policy, and every rollout that uses it will hold', async () => {
    const r = resolver({ standard: LEGACY });
    await expect(r.forAnnotations({})).rejects.toThrow(
      'the policy "standard" (rollouts.policies.standard) is invalid: slo.availability',
    );
    await expect(
      r.forAnnotations({ 'tollgate.dev/policy': 'default:nope' }),
    ).rejects.toThrow(
      'tollgate.dev/policy: no policy named "nope" under rollouts.policies',
    );
    counts.configCases++;
  });

  it('validates a policy object the same way the API does', () => {
    expect(validatePolicyObject({ name: 'x', ...LEGACY }).problems).toEqual(
      LEGACY_PROBLEMS,
    );
  });
});

/** 60 ten-second ticks, 10% of the traffic on the canary, at the given error rates. */
function ticks(
  canaryErrorRate: number,
  baselineErrorRate = 0.001,
): TelemetryTick[] {
  return Array.from({ length: 60 }, (_, tick) => ({
    tick,
    baseline: {
      requests: 900,
      errors: Math.round(900 * baselineErrorRate * (tick % 2 ? 1.5 : 0.5)),
    },
    canary: {
      requests: 100,
      errors: Math.round(100 * canaryErrorRate * (tick % 2 ? 1.5 : 0.5)),
    },
  }));
}

describe('a broken policy holds its rollout instead of crashing the loop', () => {
  let knex: Knex;
  afterAll(async () => {
    await knex?.destroy();
  });

  it('holds each rollout whose policy is broken, says why, and promotes the healthy one', async () => {
    knex = knexFactory({
      client: 'better-sqlite3',
      connection: ':memory:',
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    const store = DatabaseRolloutsStore.fromKnex(knex);

    const services: Record<string, Record<string, string>> = {
      healthy: {},
      'broken-config': { 'tollgate.dev/policy': 'default:legacy' },
      'unknown-name': { 'tollgate.dev/policy': 'default:nope' },
      'broken-yaml': {
        'tollgate.dev/policy': 'https://git.example/shop/broken.yaml',
      },
      'deep-yaml': {
        'tollgate.dev/policy': 'https://git.example/shop/deep.yaml',
      },
      unreadable: {
        'tollgate.dev/policy': 'https://git.example/shop/missing.yaml',
      },
    };
    const files: Record<string, string> = {
      'https://git.example/shop/broken.yaml':
        'slo:\n  availability: 0.999\n  latency: { thresholdMs: 300, objective: 0.99 }\nkpis:\n  - name: conversion\n    type: ratio\n    direction: increase\n',
      'https://git.example/shop/deep.yaml': `slo: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`,
    };
    const reader = {
      readUrl: async (url: string) => {
        if (!(url in files)) throw new NotFoundError(`${url} does not exist`);
        return { buffer: async () => Buffer.from(files[url]) };
      },
    } as unknown as UrlReaderService;
    const policies = PolicyResolver.fromConfig(
      new ConfigReader({
        rollouts: { policies: { standard: STANDARD, legacy: LEGACY } },
      }),
      reader,
    );

    const deploy = new FakeDeployProvider('fake');
    for (const name of Object.keys(services)) {
      deploy.add({
        target: `shop/${name}`,
        version: '2.0.0',
        steps: [{ weight: 10 }, { weight: 50 }, { weight: 100 }],
      });
    }
    const telemetry = new FakeTelemetryProvider('fake', () => ticks(0.001));
    const providers = new ProviderRegistry();
    providers.addDeploy(deploy);
    providers.addTelemetry(telemetry);
    const byRef = new Map(
      Object.entries(services).map(([name, annotations]) => [
        `component:default/${name}`,
        { entityRef: `component:default/${name}`, annotations },
      ]),
    );
    const entities: EntityLookup = {
      byTarget: async (provider: string, target: string) =>
        provider === 'fake'
          ? byRef.get(`component:default/${target.replace('shop/', '')}`)
          : undefined,
      byRef: async (ref: string) => byRef.get(ref),
      all: async () => [...byRef.values()],
    };
    const logger = mockServices.logger.mock();
    const clock = { t: Date.now() + 20 * 60_000 };
    const loop = new GateLoop({
      store,
      providers,
      entities,
      policies,
      events: new RolloutEvents({ logger: mockServices.logger.mock() }),
      logger,
      telemetryStepSeconds: 10,
      retry: { attempts: 1, initialBackoffMs: 1 },
      now: () => new Date(clock.t),
    });

    const first = await loop.run();
    expect(first).toMatchObject({ evaluated: 6, actions: 1, failures: 0 });
    expect(logger.error).not.toHaveBeenCalled();

    const rollouts = new Map(
      (await store.listRollouts({})).map(r => [
        r.entityRef.replace('component:default/', ''),
        r,
      ]),
    );
    const reasonOf = (name: string) =>
      rollouts.get(name)!.lastEvaluation?.reasons[0];
    const expected: Record<string, string> = {
      'broken-config': `policy cannot be used: the policy "legacy" (rollouts.policies.legacy) is invalid: ${LEGACY_PROBLEMS.map(p => `${p.path}: ${p.message}`).join('; ')}`,
      'unknown-name':
        'policy cannot be used: tollgate.dev/policy: no policy named "nope" under rollouts.policies',
      'broken-yaml':
        "policy cannot be used: policy https://git.example/shop/broken.yaml is invalid: kpis[0].type: Invalid enum value. Expected 'proportion' | 'mean', received 'ratio'",
      'deep-yaml':
        'policy cannot be used: policy https://git.example/shop/deep.yaml is invalid: (yaml line 1, column 70): nested more than 64 levels deep',
      unreadable:
        'policy cannot be used: https://git.example/shop/missing.yaml does not exist',
    };
    for (const [name, reason] of Object.entries(expected)) {
      const r = rollouts.get(name)!;
      expect(r.lastEvaluation?.verdict, name).toBe('hold');
      expect(reasonOf(name), name).toBe(reason);
      expect(r.lastError?.message, name).toBe(reason);
      expect(r.currentStepIndex, name).toBe(0);
      const log = (await store.listDecisions({ rolloutId: r.id, limit: 10 }))
        .items;
      expect(
        log.map(d => d.verdict),
        name,
      ).toEqual(['hold', 'register']);
      expect(log[0].reasons, name).toEqual([reason]);
    }
    // The healthy rollout went on as usual: promoted to the next step.
    const healthy = rollouts.get('healthy')!;
    expect(healthy.currentStepIndex).toBe(1);
    expect(healthy.currentWeight).toBe(50);
    const healthyLog = (
      await store.listDecisions({ rolloutId: healthy.id, limit: 10 })
    ).items;
    expect(healthyLog[0]).toMatchObject({
      verdict: 'promote',
      outcome: 'applied',
      actor: 'scheduler',
    });
    expect(deploy.calls.map(c => `${c.method} ${c.target}`)).toEqual([
      'setStep shop/healthy',
    ]);

    // Next run: still no crash, the holds are not logged again, and the
    // deploy system was asked to move nothing that holds.
    clock.t += 10_000;
    const second = await loop.run();
    expect(second.failures).toBe(0);
    expect(second.evaluated).toBe(6);
    for (const name of Object.keys(expected)) {
      const r = (
        await store.listRollouts({ entityRefs: [`component:default/${name}`] })
      )[0];
      expect(
        (await store.listDecisions({ rolloutId: r.id, limit: 10 })).items.map(
          d => d.verdict,
        ),
        name,
      ).toEqual(['hold', 'register']);
    }
    expect(deploy.calls.filter(c => c.target !== 'shop/healthy')).toEqual([]);
    expect((await store.verifyDecisions()).ok).toBe(true);
    console.log(
      `[reliability] policies: gate loop over 6 rollouts, 5 with broken policies (config, unknown name, invalid YAML, YAML nested 50,000 deep, unreadable URL): ` +
        `run 1 evaluated ${first.evaluated}, acted ${first.actions}, failed ${first.failures}; run 2 evaluated ${second.evaluated}, failed ${second.failures}; 5 held with the reason, 1 promoted, 0 crashes`,
    );
  });
});

afterAll(() => {
  console.log(
    `[reliability] policies: ${counts.yamlCases} YAML texts and ${counts.objectCases} policy objects through POST /v1/policies/validate, ` +
      `${counts.configCases} config cases; ${counts.problemsChecked} problems matched exactly by field path or YAML line and column`,
  );
});
