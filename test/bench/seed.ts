/**
 * Seeding helpers for `npm run bench:api` and `npm run bench:loop`: a bench
 * database (SQLite in a temp directory or a private PostgreSQL cluster),
 * migrated with the plugin's own migrations, and filled with fast batched
 * multi-row inserts: services (catalog entities), rollouts and a decision log
 * whose hash chain is valid (`verifyDecisions` passes). The chain is computed
 * with the store's own `sealDecision` (chain version 2, as the store writes
 * now; `decisionHash`, version 1, for `legacyDecisions`) and `GENESIS_HASH`,
 * never a copy.
 * Nothing is cached in the repository: every run seeds afresh and prints the
 * seed time.
 */
import { ConfigReader } from '@backstage/config';
import type { Entity } from '@backstage/catalog-model';
import type { JsonObject } from '@backstage/types';
import {
  type DecisionEntry,
  type GateContext,
  type GateDecision,
  type RolloutStatus,
  type TelemetryTick,
  type CohortCounts,
} from '@tollgate/plugin-rollouts-common';
import { evaluateGate } from '@tollgate/plugin-rollouts-engine';
import { gateMath } from '@tollgate/plugin-rollouts-engine';
import knexFactory, { type Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decisionHash,
  decisionRow,
  figureColumns,
  gateContextFor,
  gatePolicyFor,
  GENESIS_HASH,
  JsonOnce,
  migrateRolloutsDatabase,
  PolicyResolver,
  sealDecision,
  type DecisionRow,
} from '@tollgate/plugin-rollouts-backend/testUtils';
import {
  postgresUnavailableReason,
  startPostgres,
  type PostgresServer,
} from '@tollgate/test-support';

export const DAY_MS = 86_400_000;
export const TICK_SECONDS = 60;

/** The README's `standard` policy: SLO, two KPIs, 1 → 5 → 25 → 100 %. */
export const BENCH_POLICY = {
  slo: { availability: 0.999, latency: { thresholdMs: 300, objective: 0.99 } },
  kpis: [
    {
      name: 'conversion',
      type: 'proportion',
      direction: 'increase',
      margin: 0.05,
    },
    { name: 'order_value', type: 'mean', direction: 'increase', margin: 0.05 },
  ],
  steps: [
    { weight: 1, minDurationSeconds: 600 },
    { weight: 5, minDurationSeconds: 600 },
    { weight: 25, minDurationSeconds: 1200 },
    { weight: 100 },
  ],
  gate: {
    alpha: 0.05,
    promote: { minDurationSeconds: 1200, minCanaryRequests: 1000 },
  },
};

export function benchPolicies(): PolicyResolver {
  return PolicyResolver.fromConfig(
    new ConfigReader({ rollouts: { policies: { standard: BENCH_POLICY } } }),
  );
}

// --- randomness -----------------------------------------------------------------------------

/** The engine's seeded generator, so benchmarks and engine tests draw alike. */
export const mulberry32 = gateMath.mulberry32;

// --- telemetry and evidence -----------------------------------------------------------------

/** One cohort's counts for one interval, shaped like the standard policy asks. */
function cohort(rng: () => number, n: number, errorRate: number): CohortCounts {
  const pois = (m: number) =>
    Math.max(0, Math.round(m + Math.sqrt(m) * (rng() * 2 - 1) * 1.7));
  const slow = pois(n * 0.004);
  const trials = Math.round(n * 0.1);
  const conv = Math.min(trials, pois(trials * 0.03));
  return {
    requests: n,
    errors: Math.min(n, pois(n * errorRate)),
    latency: {
      le: [50, 100, 300, 1000, Infinity],
      counts: [
        Math.round(n * 0.5),
        Math.round(n * 0.8),
        n - slow,
        n - Math.round(slow / 4),
        n,
      ],
    },
    kpis: {
      conversion: { trials, successes: conv },
      order_value: { n: conv, sum: conv * 40, sumSq: conv * 1700 },
    },
  };
}

/**
 * The loop benchmarks' telemetry: 40 series per canary weight (1/5/25 %),
 * healthy and regressing (4× the canary's errors), keyed `weight:regressing`.
 * Rollouts share series, so their verdicts are correlated (a healthy series
 * that crosses a boundary rolls back every rollout given it).
 */
export function seriesLibrary(
  rng: () => number,
  extraTicks = 0,
): Map<string, TelemetryTick[][]> {
  const library = new Map<string, TelemetryTick[][]>();
  for (const weight of [1, 5, 25]) {
    for (const regressing of [false, true]) {
      library.set(
        `${weight}:${regressing}`,
        Array.from({ length: 40 }, () =>
          telemetrySeries(
            rng,
            // eslint-disable-next-line @typescript-eslint/no-use-before-define -- read when called, long after the module has loaded
            LOOP_SEED.maxTicksInStep + 2 + extraTicks,
            4000 + Math.floor(rng() * 40000),
            weight / 100,
            regressing ? 4 : 1,
          ),
        ),
      );
    }
  }
  return library;
}

/**
 * A series of interval counts for one rollout: `traffic` requests per
 * interval, `share` of them on the canary; a regressing canary has `errorFactor` × the errors.
 */
export function telemetrySeries(
  rng: () => number,
  ticks: number,
  traffic: number,
  share: number,
  errorFactor = 1,
): TelemetryTick[] {
  const out: TelemetryTick[] = [];
  for (let t = 1; t <= ticks; t++) {
    const nc = Math.max(1, Math.round(traffic * share));
    out.push({
      tick: t,
      baseline: cohort(rng, traffic - nc, 0.0005),
      canary: cohort(rng, nc, 0.0005 * errorFactor),
    });
  }
  return out;
}

/** Real engine outputs (the evidence a decision carries), from a few telemetry shapes. */
export function evidenceTemplates(count: number, seed = 42): GateDecision[] {
  const rng = mulberry32(seed);
  const policy = benchPolicies().named('standard');
  const out: GateDecision[] = [];
  for (let i = 0; i < count; i++) {
    const weight = [1, 5, 25][i % 3];
    const ctx: GateContext = gateContextFor(
      { entityRef: `component:default/svc-${i}`, currentWeight: weight } as any,
      policy,
      TICK_SECONDS,
    );
    const regressing = i % 8 === 7;
    const ticks = telemetrySeries(
      rng,
      5 + Math.floor(rng() * 20),
      2000 + Math.floor(rng() * 40000),
      weight / 100,
      regressing ? 4 : 1,
    );
    out.push(evaluateGate(ctx, ticks, gatePolicyFor(policy)));
  }
  return out;
}

// --- the database ---------------------------------------------------------------------------

export type BenchDbKind = 'sqlite' | 'postgres';

export interface BenchDatabase {
  kind: BenchDbKind;
  label: 'SQLite' | 'PostgreSQL';
  /** A migrated knex client on the plugin's database. */
  knex: Knex;
  /** `backend.database` config that makes Backstage's database service open this same database. */
  backendDatabaseConfig: JsonObject;
  /** Destroys the client, stops PostgreSQL, removes the temp directory. */
  close(): Promise<void>;
}

/** Why a kind of bench database cannot be opened here, or undefined. */
export function benchDatabaseUnavailable(
  kind: BenchDbKind,
): string | undefined {
  return kind === 'postgres' ? postgresUnavailableReason() : undefined;
}

/**
 * Opens an empty, migrated bench database. SQLite: a file in a new temp
 * directory, opened the way Backstage's connector opens it. PostgreSQL: a
 * private cluster (`startPostgres`) with the database Backstage would use
 * for the plugin (`backstage_plugin_rollouts`).
 */
export async function openBenchDatabase(
  kind: BenchDbKind,
): Promise<BenchDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
    const knex = knexFactory({
      client: 'better-sqlite3',
      connection: { filename: join(dir, 'rollouts.sqlite') },
      useNullAsDefault: true,
    });
    await migrateRolloutsDatabase(knex);
    return {
      kind,
      label: 'SQLite',
      knex,
      backendDatabaseConfig: {
        client: 'better-sqlite3',
        connection: { directory: dir },
      },
      async close() {
        await knex.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  let pg: PostgresServer | undefined = await startPostgres();
  const stop = () => {
    pg?.stop();
    pg = undefined;
  };
  // A bench interrupted with ^C must not leave the cluster running.
  const onSignal = () => {
    stop();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await pg.createDatabase('backstage_plugin_rollouts');
    const conn = pg.connection('backstage_plugin_rollouts');
    const knex = knexFactory({ client: 'pg', connection: conn });
    await migrateRolloutsDatabase(knex);
    return {
      kind,
      label: 'PostgreSQL',
      knex,
      backendDatabaseConfig: {
        client: 'pg',
        connection: { host: conn.host, port: conn.port, user: conn.user },
      },
      async close() {
        await knex.destroy();
        stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
    };
  } catch (e) {
    stop();
    throw e;
  }
}

// --- the seed -------------------------------------------------------------------------------

export interface SeedOptions {
  services: number;
  /** Rollouts in all; the newest ones per target are the active ones. */
  rollouts: number;
  /** Active rollouts among them (at most one per target). */
  activeRollouts: number;
  /** Deploy targets per service (a service with several regions has several). */
  targetsPerService: number;
  decisions: number;
  /**
   * Share of gate decisions (continue/hold/promote/rollback) that carry a
   * full evidence snapshot (the engine's output, ≈ 5 KiB); the others carry a
   * compact one (verdict, score, per-signal estimates, ≈ 0.5 KiB).
   */
  fullEvidenceShare: number;
  /** Active rollouts have this many whole intervals in their current step: 1..maxTicksInStep. */
  maxTicksInStep: number;
  /** Active rollouts that regress (their telemetry has ×4 canary errors). */
  regressingShare: number;
  /** When false, active rollouts have no last evaluation (so the next gate tick logs each). */
  withLastEvaluation: boolean;
  /**
   * The first this many decisions are written as a log from before chain
   * version 2 (`chain_version` 1, hashed with `decisionHash`); the rest as
   * the store writes now (version 2, `sealDecision`). Default 0.
   */
  legacyDecisions?: number;
  now: Date;
  seed: number;
}

export const API_SEED: Omit<SeedOptions, 'now'> = {
  services: 1000,
  rollouts: 10_000,
  activeRollouts: 1000,
  targetsPerService: 1,
  decisions: 1_000_000,
  fullEvidenceShare: 0.1,
  maxTicksInStep: 20,
  regressingShare: 0.02,
  withLastEvaluation: true,
  seed: 1,
};

export const LOOP_SEED: Omit<SeedOptions, 'now'> = {
  services: 1000,
  rollouts: 10_000,
  activeRollouts: 10_000,
  targetsPerService: 10,
  decisions: 1_000_000,
  fullEvidenceShare: 0.1,
  maxTicksInStep: 20,
  regressingShare: 0.02,
  withLastEvaluation: false,
  seed: 2,
};

export interface SeededRollout {
  id: string;
  entityRef: string;
  target: string;
  externalId: string;
  version: string;
  previousVersion: string;
  status: RolloutStatus;
  currentStepIndex: number;
  currentWeight: number;
  startedAt: Date;
  stepStartedAt: Date;
  finishedAt?: Date;
  /** Active rollouts: whether its telemetry regresses. */
  regressing: boolean;
  /** seq of its decisions, oldest first. */
  decisionSeqs: number[];
}

export interface SeedResult {
  entities: Entity[];
  rollouts: SeededRollout[];
  decisions: number;
  bytes: { rolloutEvidence: number; decisionEvidence: number };
  ms: {
    generate: number;
    rollouts: number;
    decisions: number;
    analyze: number;
    total: number;
  };
}

export const PROVIDER_ID = 'bench';

function serviceName(i: number) {
  return `svc-${String(i).padStart(4, '0')}`;
}

export function targetOf(
  service: number,
  t: number,
  targetsPerService: number,
) {
  return targetsPerService === 1
    ? `shop/${serviceName(service)}`
    : `shop/${serviceName(service)}/r${t}`;
}

/** Catalog entities for the bench services, annotated for Tollgate. */
export function benchEntities(
  services: number,
  targetsPerService: number,
): Entity[] {
  return Array.from({ length: services }, (_, i) => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: serviceName(i),
      namespace: 'default',
      annotations: {
        'tollgate.dev/rollouts': Array.from(
          { length: targetsPerService },
          (__, t) => `${PROVIDER_ID}:${targetOf(i, t, targetsPerService)}`,
        ).join(','),
        'tollgate.dev/runbook': `https://runbooks.example/${serviceName(i)}`,
      },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: `group:default/team-${String(i % 50).padStart(2, '0')}`,
      system: `system:default/sys-${String(i % 100).padStart(2, '0')}`,
    },
  }));
}

/** The part of a gate decision a compact evidence snapshot keeps. */
function compactEvidence(d: GateDecision): Record<string, unknown> {
  return {
    verdict: d.verdict,
    rubric: d.rubric,
    score: d.score,
    tick: d.tick,
    signals: d.signals.map(s => ({
      name: s.name,
      kind: s.kind,
      baseline: s.baseline,
      canary: s.canary,
      difference: s.difference,
      rule: s.rule,
    })),
  };
}

const FINISHED: Array<[RolloutStatus, number]> = [
  ['promoted', 0.8],
  ['rolled-back', 0.12],
  ['aborted', 0.05],
  ['failed', 0.03],
];

/** The last decision of a finished rollout: how it ended, and whether its action was applied. */
function endingOf(status: RolloutStatus): {
  verdict: DecisionEntry['verdict'];
  outcome: DecisionEntry['outcome'];
} {
  if (status === 'promoted') return { verdict: 'promote', outcome: 'applied' };
  if (status === 'aborted') return { verdict: 'observe', outcome: 'none' };
  return {
    verdict: 'rollback',
    outcome: status === 'failed' ? 'failed' : 'applied',
  };
}

function pick<T>(rng: () => number, table: Array<[T, number]>): T {
  let x = rng();
  for (const [v, p] of table) {
    x -= p;
    if (x < 0) return v;
  }
  return table[table.length - 1][0];
}

/**
 * Inserts rows in multi-row `VALUES` statements (knex compiles a SQLite
 * multi-row insert to a compound SELECT capped at 500 terms); runs `produce`
 * for the next batch while the previous statement is in flight.
 */
async function insertPipelined(
  trx: Knex.Transaction,
  table: string,
  batches: number,
  produce: (b: number) => Record<string, unknown>[],
) {
  let inFlight: Promise<unknown> | undefined;
  for (let b = 0; b < batches; b++) {
    const rows = produce(b);
    if (inFlight) await inFlight;
    inFlight = undefined;
    if (!rows.length) continue;
    const columns = Object.keys(rows[0]);
    const tuple = `(${columns.map(() => '?').join(',')})`;
    const bindings: unknown[] = [];
    for (const row of rows)
      for (const c of columns) bindings.push(row[c] ?? null);
    inFlight = trx.raw(
      `insert into "${table}" (${columns.map(c => `"${c}"`).join(',')}) values ${rows.map(() => tuple).join(',')}`,
      bindings as Knex.RawBinding[],
    );
  }
  if (inFlight) await inFlight;
}

/**
 * Fills a migrated, empty database. Rollouts are spread over the last 90
 * days; decisions are spread over each rollout's lifetime and numbered in
 * time order, so `seq` order is chronological like a real log.
 */
export async function seedBenchDatabase(
  knex: Knex,
  options: SeedOptions,
): Promise<SeedResult> {
  const t0 = performance.now();
  const rng = mulberry32(options.seed);
  const now = options.now.getTime();
  const policy = benchPolicies().named('standard');
  const steps = policy.steps!;
  const templates = evidenceTemplates(48, options.seed);
  const fullJson = templates.map(t => JSON.stringify(t));
  const compact = templates.map(compactEvidence);
  // Rows are built as the store builds them; each template is serialised once.
  const rowJson = new JsonOnce();
  const entities = benchEntities(options.services, options.targetsPerService);
  const targets = options.services * options.targetsPerService;
  if (options.activeRollouts > targets)
    throw new Error(
      `at most one active rollout per target: ${options.activeRollouts} > ${targets} targets`,
    );

  // Rollouts: round-robin over targets, oldest first; the newest per target may be active.
  const perTarget = Math.ceil(options.rollouts / targets);
  const rollouts: SeededRollout[] = [];
  const templateOf: number[] = [];
  let activeLeft = options.activeRollouts;
  for (let k = 0; k < perTarget; k++) {
    for (
      let tgt = 0;
      tgt < targets && rollouts.length < options.rollouts;
      tgt++
    ) {
      const service = Math.floor(tgt / options.targetsPerService);
      const target = targetOf(
        service,
        tgt % options.targetsPerService,
        options.targetsPerService,
      );
      const newest =
        k === perTarget - 1 || rollouts.length + targets >= options.rollouts;
      const active = newest && activeLeft > 0;
      const version = `1.${k + 1}.0`;
      const base = {
        id: randomUUID(),
        entityRef: `component:default/${serviceName(service)}`,
        target,
        externalId: `${target}@${version}`,
        version,
        previousVersion: `1.${k}.0`,
        regressing: false,
        decisionSeqs: [] as number[],
      };
      if (active) {
        activeLeft--;
        const stepIndex = Math.floor(rng() * 3);
        const inStepTicks = 1 + Math.floor(rng() * options.maxTicksInStep);
        const stepStartedAt = new Date(
          now - inStepTicks * TICK_SECONDS * 1000 - 30_000,
        );
        let status: RolloutStatus = 'progressing';
        if (stepIndex === 2 && rng() < 0.3) status = 'awaiting-approval';
        else if (rng() < 0.05) status = 'paused';
        rollouts.push({
          ...base,
          status,
          currentStepIndex: stepIndex,
          currentWeight: steps[stepIndex].weight,
          startedAt: new Date(
            stepStartedAt.getTime() -
              stepIndex * 20 * 60_000 -
              rng() * 3_600_000,
          ),
          stepStartedAt,
          regressing: rng() < options.regressingShare,
        });
      } else {
        const startedAt =
          now - 90 * DAY_MS + ((k + rng()) / perTarget) * 88 * DAY_MS;
        const finishedAt = startedAt + (2 + rng() * 10) * 3_600_000;
        const status = pick(rng, FINISHED);
        const stepIndex = status === 'promoted' ? 3 : Math.floor(rng() * 3);
        let currentWeight = 0; // rolled back: no traffic
        if (status === 'promoted') currentWeight = 100;
        else if (status !== 'rolled-back')
          currentWeight = steps[stepIndex].weight;
        rollouts.push({
          ...base,
          status,
          currentStepIndex: stepIndex,
          currentWeight,
          startedAt: new Date(startedAt),
          stepStartedAt: new Date(finishedAt - rng() * 3_600_000),
          finishedAt: new Date(finishedAt),
        });
      }
      templateOf.push(Math.floor(rng() * templates.length));
    }
  }

  // Decisions: n per rollout (varying), times spread over the rollout's life, then numbered in time order.
  const n = options.decisions;
  const rolloutOf = new Uint32Array(n);
  const posOf = new Uint16Array(n);
  const countOf = new Uint16Array(rollouts.length);
  const timeOf = new Float64Array(n);
  {
    const mean = n / rollouts.length;
    let d = 0;
    for (let r = 0; r < rollouts.length && d < n; r++) {
      const left = rollouts.length - r;
      const want =
        r === rollouts.length - 1
          ? n - d
          : Math.max(
              1,
              Math.min(n - d - (left - 1), Math.round(mean * (0.5 + rng()))),
            );
      const ro = rollouts[r];
      const from = ro.startedAt.getTime();
      const to = ro.finishedAt?.getTime() ?? now - 60_000;
      for (let i = 0; i < want; i++) {
        rolloutOf[d] = r;
        posOf[d] = i;
        // evenly spaced with jitter: keeps each rollout's own order
        timeOf[d] =
          from + ((i + 0.5 + (rng() - 0.5) * 0.9) / want) * (to - from);
        d++;
      }
      countOf[r] = want;
    }
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => timeOf[a] - timeOf[b] || a - b);
  const tGenerated = performance.now();

  // The dashboard's figure columns exist from migration 20261122000000 on; the store fills them
  // whenever it writes evidence, so the seed must too.
  const figures = (await knex.schema.hasColumn('rollouts', 'burn_rate'))
    ? templates.map(t => figureColumns(t as unknown as Record<string, unknown>))
    : undefined;
  const bytes = { rolloutEvidence: 0, decisionEvidence: 0 };
  let tRollouts = 0;
  let tDecisions = 0;
  await knex.transaction(async trx => {
    const r0 = performance.now();
    const batch = 500;
    await insertPipelined(
      trx,
      'rollouts',
      Math.ceil(rollouts.length / batch),
      b =>
        rollouts.slice(b * batch, (b + 1) * batch).map((r, i) => {
          const t = templates[templateOf[b * batch + i]];
          const active = !r.finishedAt;
          const withEvidence = !active || options.withLastEvaluation;
          const evidence = withEvidence
            ? fullJson[templateOf[b * batch + i]]
            : null;
          if (evidence) bytes.rolloutEvidence += evidence.length;
          const lastEvaluation =
            active && !options.withLastEvaluation
              ? null
              : JSON.stringify({
                  verdict:
                    t.verdict === 'promote' && active ? 'continue' : t.verdict,
                  rubric: t.rubric,
                  score: t.score,
                  reasons: t.reasons,
                  evaluatedAt: new Date(
                    (r.finishedAt ?? options.now).getTime(),
                  ).toISOString(),
                });
          let figureCols: Record<string, unknown> = {};
          if (figures)
            figureCols = withEvidence
              ? figures[templateOf[b * batch + i]]
              : { burn_rate: null, kpi_deltas: null };
          return {
            id: r.id,
            entity_ref: r.entityRef,
            provider: PROVIDER_ID,
            target: r.target,
            external_id: r.externalId,
            version: r.version,
            previous_version: r.previousVersion,
            status: r.status,
            steps: JSON.stringify(steps),
            current_step_index: r.currentStepIndex,
            current_weight: r.currentWeight,
            started_at: r.startedAt.toISOString(),
            step_started_at: r.stepStartedAt.toISOString(),
            finished_at: r.finishedAt?.toISOString() ?? null,
            updated_at: (r.finishedAt ?? options.now).toISOString(),
            policy_name: policy.name,
            policy_hash: policy.hash,
            last_evaluation: lastEvaluation,
            evidence,
            last_error: null,
            pending_action: null,
            row_version: 3,
            ...figureCols,
          };
        }),
    );
    tRollouts = performance.now() - r0;

    const d0 = performance.now();
    let prevHash = GENESIS_HASH;
    const legacy = options.legacyDecisions ?? 0;
    const stepOf = new Uint8Array(rollouts.length);
    const batchRows = 1000;
    await insertPipelined(trx, 'decisions', Math.ceil(n / batchRows), b => {
      const rows: Record<string, unknown>[] = [];
      const end = Math.min(n, (b + 1) * batchRows);
      for (let o = b * batchRows; o < end; o++) {
        const d = order[o];
        const seq = o + 1;
        const r = rolloutOf[d];
        const ro = rollouts[r];
        const pos = posOf[d];
        const count = countOf[r];
        const last = pos === count - 1;
        // register first; the last entry says how it ended; promotions spread evenly in between
        let verdict: DecisionEntry['verdict'];
        let outcome: DecisionEntry['outcome'] = 'none';
        const promotions = ro.status === 'promoted' ? 3 : ro.currentStepIndex;
        const promoteEvery = Math.max(2, Math.floor(count / (promotions + 1)));
        if (pos === 0) verdict = 'register';
        else if (last && ro.finishedAt) {
          ({ verdict, outcome } = endingOf(ro.status));
        } else if (
          pos % promoteEvery === 0 &&
          stepOf[r] < promotions - (ro.status === 'promoted' ? 1 : 0)
        ) {
          verdict = 'promote';
          outcome = 'applied';
        } else verdict = rng() < 0.3 ? 'hold' : 'continue';
        const stepIndex = stepOf[r];
        if (verdict === 'promote' && outcome === 'applied' && stepOf[r] < 3)
          stepOf[r]++;
        const ti = (templateOf[r] + pos) % templates.length;
        const full =
          verdict !== 'register' &&
          verdict !== 'observe' &&
          rng() < options.fullEvidenceShare;
        let evidence: GateDecision | Record<string, unknown> | null = null;
        if (verdict !== 'register' && verdict !== 'observe')
          evidence = full ? templates[ti] : compact[ti];
        if (evidence !== null)
          bytes.decisionEvidence += rowJson.of(evidence).length;
        const entry: Omit<DecisionEntry, 'hash'> = {
          seq,
          id: randomUUID(),
          rolloutId: ro.id,
          entityRef: ro.entityRef,
          stepIndex,
          verdict,
          kind: 'automatic',
          actor: 'scheduler',
          reasons:
            verdict === 'register'
              ? [`${PROVIDER_ID} reported ${ro.version} on ${ro.target}`]
              : templates[ti].reasons,
          evidence: evidence as Record<string, unknown> | null,
          policyHash: policy.hash ?? null,
          outcome,
          createdAt: new Date(timeOf[d]).toISOString(),
          prevHash,
        };
        // The first `legacyDecisions` entries as a log written before chain version 2; the rest as the store writes now.
        let row: DecisionRow;
        if (seq <= legacy)
          row = decisionRow(
            { ...entry, hash: decisionHash(entry) },
            rowJson,
            1,
          );
        else row = sealDecision(entry, rowJson).row;
        prevHash = row.hash;
        ro.decisionSeqs.push(seq);
        rows.push(row as unknown as Record<string, unknown>);
      }
      return rows;
    });
    await trx('decision_chain')
      .where({ id: 1 })
      .update({ seq: n, hash: prevHash });
    tDecisions = performance.now() - d0;
  });

  // PostgreSQL's autovacuum would analyze the fresh tables soon after a bulk load; do it now.
  const a0 = performance.now();
  const client = String(knex.client.config.client);
  if (client === 'pg') await knex.raw('ANALYZE');
  const tAnalyze = performance.now() - a0;

  return {
    entities,
    rollouts,
    decisions: n,
    bytes,
    ms: {
      generate: tGenerated - t0,
      rollouts: tRollouts,
      decisions: tDecisions,
      analyze: tAnalyze,
      total: performance.now() - t0,
    },
  };
}

export function describeSeed(label: string, s: SeedResult): string {
  const mib = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  const active = s.rollouts.filter(r => !r.finishedAt).length;
  return (
    `${label}: seeded ${s.entities.length} services, ${s.rollouts.length} rollouts (${active} active), ` +
    `${s.decisions.toLocaleString('en-US')} decisions (evidence ${mib(s.bytes.decisionEvidence)}; rollout evidence ${mib(s.bytes.rolloutEvidence)}) ` +
    `in ${(s.ms.total / 1000).toFixed(1)} s (generate ${(s.ms.generate / 1000).toFixed(1)} s, rollouts ${(s.ms.rollouts / 1000).toFixed(1)} s, ` +
    `decisions ${(s.ms.decisions / 1000).toFixed(1)} s = ${Math.round(s.decisions / (s.ms.decisions / 1000)).toLocaleString('en-US')} rows/s` +
    `${s.ms.analyze > 1 ? `, analyze ${(s.ms.analyze / 1000).toFixed(1)} s` : ''})`
  );
}

/** Minimal `--flag value` parsing for the bench tools. */
export function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) out.set(k, v);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--'))
      out.set(k, argv[++i]);
    else out.set(k, 'true');
  }
  return out;
}

export function machineLine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map(x => x.toFixed(2))
    .join(' ');
  return `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${load}`;
}

/** Runs a benchmark on each database `--db` names (both by default), saying which are skipped and why. */
export async function forEachBenchDatabase(
  name: string,
  args: Map<string, string>,
  benchOne: (kind: BenchDbKind, args: Map<string, string>) => Promise<unknown>,
): Promise<void> {
  const which = args.get('db') ?? 'both';
  const kinds: BenchDbKind[] =
    which === 'both' ? ['sqlite', 'postgres'] : [which as BenchDbKind];
  console.log(`${name} on ${machineLine()}`);
  for (const kind of kinds) {
    const why = benchDatabaseUnavailable(kind);
    if (why) {
      console.log(`[skipped] ${kind}: ${why}`);
      continue;
    }
    await benchOne(kind, args);
  }
  console.log(
    `\nload average after: ${machineLine().split('load average ')[1]}`,
  );
}
