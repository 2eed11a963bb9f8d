/**
 * npm run bench:loop [-- --db sqlite|postgres|both] [--decisions 1000000] [--batch 500] [--verify] [--appends-only] [--append-runs 1] [--append-batch 500] [--shards 4]
 *
 * Gate-loop ticks (`GateLoop.run()`: sync from the deploy provider, then
 * telemetry → gate engine → writes for every active rollout) over 10,000
 * active rollouts on a seeded database (1,000 services × 10 targets, and a
 * decision log of `--decisions` entries behind them). Providers are in-memory
 * (`FakeDeployProvider` / `FakeTelemetryProvider` from
 * `@tollgate/plugin-rollouts-node/testUtils`, answering precomputed interval
 * counts, 1–20 intervals per rollout's current step), so the figures are
 * Tollgate's own cost: the engine, the database writes, the loop's bookkeeping.
 *
 * Tick 1 is the first run after a start: every gate state is built from the
 * whole step and, as no rollout has a last evaluation, every rollout logs a
 * decision (with the engine's evidence, ≈ 6 KiB); 2% regress and are rolled
 * back (an action each). Tick 2 runs a minute later: one new interval per
 * rollout, folded into the kept gate states. Then two ticks in `--shards`
 * shards from cold gate states: one replica running every shard, then two
 * replicas (two GateLoops, each with its own store) running half each at
 * the same time, in this one process. Then `store.appendDecisions`
 * alone: 10,000 decisions in batches of 500, with engine evidence and with
 * small evidence (each batch one transaction; `--append-batch` sets its size,
 * `--append-runs` repeats the measurements), each by the store's path and by
 * a baseline in the same run: on PostgreSQL the store's binary COPY against
 * the plain multi-row INSERT of the same rows, on SQLite the store's WAL
 * journal against the DELETE journal Backstage leaves it in; each line gives
 * rows/s and, per row, Node's CPU, PostgreSQL's CPU (its server's processes,
 * from /proc, on Linux) and the wall time. `--appends-only` skips the
 * two ticks (the append figures alone, for quick iterations); `--verify`
 * checks the whole chain at the end.
 */
import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type { TelemetryTick } from '@tollgate/plugin-rollouts-common';
import {
  FakeDeployProvider,
  FakeTelemetryProvider,
} from '@tollgate/plugin-rollouts-node/testUtils';
import {
  DatabaseRolloutsStore,
  EntityIndex,
  GateLoop,
  preferSqliteWal,
  ProviderRegistry,
  RolloutEvents,
  type GateLoopRunResult,
  type RolloutsStore,
} from '@tollgate/plugin-rollouts-backend/testUtils';
import {
  benchPolicies,
  describeSeed,
  evidenceTemplates,
  LOOP_SEED,
  mulberry32,
  openBenchDatabase,
  parseArgs,
  PROVIDER_ID,
  seedBenchDatabase,
  seriesLibrary,
  TICK_SECONDS,
  type BenchDbKind,
  forEachBenchDatabase,
  machineLine,
} from './seed';
import { PostgresCpu } from './serverCpu';

const ENGINE_TARGET_MS = 1000;

interface TickFigures {
  label: string;
  result: GateLoopRunResult;
  wallMs: number;
  cpuMs: number;
  written: number;
}

const fmt = (ms: number) =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`;
const ROWS_TARGET = 20_000;

/** Wraps an object so the time spent in each async method is summed by name. */
function timed<T extends object>(
  target: T,
  into: Map<string, { ms: number; calls: number }>,
): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const out = value.apply(obj, args);
        if (!(out instanceof Promise)) return out;
        return out.finally(() => {
          const slot = into.get(String(prop)) ?? { ms: 0, calls: 0 };
          slot.ms += performance.now() - t0;
          slot.calls++;
          into.set(String(prop), slot);
        });
      };
    },
  });
}

async function benchOne(kind: BenchDbKind, args: Map<string, string>) {
  const decisions = Number(args.get('decisions') ?? LOOP_SEED.decisions);
  const db = await openBenchDatabase(kind);
  try {
    const now = new Date();
    let clock = now;
    const seed = await seedBenchDatabase(db.knex, {
      ...LOOP_SEED,
      decisions,
      now,
    });
    console.log(describeSeed(db.label, seed));

    // Providers: the deploy side reports exactly the seeded active rollouts; telemetry answers
    // precomputed interval counts (a series per weight, healthy or regressing), sliced to the window.
    const deploy = new FakeDeployProvider(PROVIDER_ID);
    const seriesOf = new Map<string, TelemetryTick[]>();
    const rng = mulberry32(7);
    const library = seriesLibrary(rng);
    const active = seed.rollouts.filter(r => !r.finishedAt);
    for (const r of active) {
      deploy.add({
        target: r.target,
        externalId: r.externalId,
        version: r.version,
        previousVersion: r.previousVersion,
        status: r.status,
        currentStepIndex: r.currentStepIndex,
        currentWeight: r.currentWeight,
        steps: benchPolicies().named('standard').steps,
        startedAt: r.startedAt,
        stepStartedAt: r.stepStartedAt,
      });
      const variants = library.get(`${r.currentWeight}:${r.regressing}`)!;
      seriesOf.set(r.target, variants[Math.floor(rng() * variants.length)]);
    }
    const telemetry = new FakeTelemetryProvider(PROVIDER_ID, req => {
      const series = seriesOf.get(req.target) ?? [];
      const whole = Math.floor(
        (req.end.getTime() - req.start.getTime()) / (req.stepSeconds * 1000),
      );
      return series.slice(0, Math.max(0, whole));
    });

    const timings = new Map<string, { ms: number; calls: number }>();
    const providerTimings = new Map<string, { ms: number; calls: number }>();
    const providers = new ProviderRegistry();
    providers.addDeploy(timed(deploy, providerTimings));
    providers.addTelemetry(timed(telemetry, providerTimings));
    const store: RolloutsStore = timed(
      DatabaseRolloutsStore.fromKnex(db.knex),
      timings,
    );
    const entities = new EntityIndex(
      catalogServiceMock({ entities: seed.entities }),
      mockServices.auth(),
    );
    await entities.refresh(true);
    const logger = mockServices.rootLogger({ level: 'warn' });
    const newLoop = (on: RolloutsStore = store) =>
      new GateLoop({
        store: on,
        providers,
        entities,
        policies: benchPolicies(),
        events: new RolloutEvents({ logger }),
        logger,
        telemetryStepSeconds: TICK_SECONDS,
        retry: { attempts: 1, initialBackoffMs: 1 },
        now: () => clock,
        batchSize: args.has('batch') ? Number(args.get('batch')) : undefined,
      });
    const loop = newLoop();

    const count = async () =>
      Number((await db.knex('decisions').count({ n: '*' }))[0].n);
    const rolledBack = new Set<string>();
    const regressingTargets = new Set(
      active.filter(r => r.regressing).map(r => r.target),
    );
    const ticks: TickFigures[] = [];
    // Tick 1: the first run after a start: every gate state is built from the whole step, and every
    // rollout logs a decision (none has a last evaluation). Tick 2: a minute later, one new interval each.
    const tickPlan = args.has('appends-only')
      ? []
      : ([
          ['tick 1 (cold)', now],
          ['tick 2 (+1 min)', new Date(now.getTime() + TICK_SECONDS * 1000)],
        ] as const);
    for (const [label, at] of tickPlan) {
      clock = at;
      timings.clear();
      const before = await count();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const result: GateLoopRunResult = await loop.run();
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const written = (await count()) - before;
      const t = result.timings;
      const immediate = timings.get('appendDecision')?.ms ?? 0;
      ticks.push({
        label,
        result,
        wallMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        written,
      });
      console.log(
        `\n${db.label}: ${label}, one gate-loop run over ${active.length.toLocaleString('en-US')} active rollouts`,
      );
      console.log(
        `  evaluated ${result.evaluated}, acted ${result.actions} (rollbacks), failed ${result.failures}; decisions written ${written.toLocaleString('en-US')} (${t.decisionsWritten} batched with their rollout rows, ${written - t.decisionsWritten} by actions)`,
      );
      console.log(
        `  total ${fmt(wallMs)} wall (${fmt((cpu.user + cpu.system) / 1000)} process CPU) = sync ${fmt(t.syncMs)} + evaluate ${fmt(t.evaluateMs)} + batched writes ${fmt(t.writeMs)} + actions ${fmt(t.actionMs)}`,
      );
      console.log(
        `  engine time (telemetry → gate engine → verdict, all rollouts): ${fmt(t.evaluateMs)} [of which gate engine ${fmt(t.engineMs)}, telemetry provider ${fmt(t.telemetryMs)}; gate states kept ${t.engineStateHits}, built ${t.engineStateMisses}]  target ≤ ${ENGINE_TARGET_MS} ms: ${t.evaluateMs <= ENGINE_TARGET_MS ? 'met' : 'missed'}`,
      );
      if (t.rowsWritten) {
        const rate = t.decisionsWritten / (t.writeMs / 1000);
        const rows = t.decisionsWritten
          ? `, ${Math.round(rate).toLocaleString('en-US')} decision rows/s  target ≥ ${ROWS_TARGET.toLocaleString('en-US')}: ${rate >= ROWS_TARGET ? 'met' : 'missed'}`
          : '';
        console.log(
          `  batched writes: ${t.rowsWritten.toLocaleString('en-US')} rollout rows + ${t.decisionsWritten.toLocaleString('en-US')} decisions in ${fmt(t.writeMs)} = ${Math.round(t.rowsWritten / (t.writeMs / 1000)).toLocaleString('en-US')} evaluations/s${rows}`,
        );
      }
      console.log(
        `  heap after the run: ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB (the loop keeps one gate state per active rollout)`,
      );
      console.log(
        `  actions: ${fmt(t.actionMs)} for ${result.actions} rollbacks (claim, provider call, record: ${fmt(immediate)} in single decision appends)`,
      );
      if (db.kind === 'postgres') {
        const stats = await db.knex.raw(
          `select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname = 'rollouts'`,
        );
        const { n_tup_upd: upd, n_tup_hot_upd: hot } = stats.rows[0] ?? {};
        console.log(
          `  PostgreSQL rollouts updates so far: ${upd}, of which HOT (no index writes): ${hot}`,
        );
      }
      console.log(
        `  store time by method: ${[...timings.entries()]
          .sort((a, b) => b[1].ms - a[1].ms)
          .map(([n, v]) => `${n} ${fmt(v.ms)}/${v.calls}`)
          .join(', ')}`,
      );
      // Who was rolled back: regressing rollouts, or healthy ones — and on how many distinct
      // telemetry series (rollouts share 40 per weight and health, so false rollbacks come in groups).
      const rolledNow = (
        await db
          .knex('rollouts')
          .where({ status: 'rolled-back' })
          .select('target')
      ).map((r: { target: string }) => r.target);
      const fresh = rolledNow.filter(tg => !rolledBack.has(tg));
      fresh.forEach(tg => rolledBack.add(tg));
      const healthy = fresh.filter(tg => !regressingTargets.has(tg));
      const healthySeries = new Set(healthy.map(tg => seriesOf.get(tg)));
      console.log(
        `  rolled back in this run: ${fresh.length} (${fresh.length - healthy.length} regressing, ${healthy.length} healthy on ${healthySeries.size} distinct healthy series)`,
      );
    }

    // Replicas: the active rollouts in SHARDS shards (schedule.shards), each shard one run. One
    // replica runs every shard; two replicas (two GateLoop instances, each with its own store on
    // the database) run half the shards each, at the same time. Both ticks start from cold gate
    // states (new loops), so they compare like with like. The two replicas share this one Node
    // process, so the engine's CPU work still takes turns; separate processes would not.
    if (!args.has('appends-only')) {
      const SHARDS = Math.max(2, Number(args.get('shards') ?? 4));
      const replicaTicks: Array<[string, number]> = [];
      for (const replicas of [1, 2]) {
        clock = new Date(now.getTime() + (1 + replicas) * TICK_SECONDS * 1000);
        const loops = Array.from({ length: replicas }, () =>
          newLoop(DatabaseRolloutsStore.fromKnex(db.knex)),
        );
        const t0 = performance.now();
        const results = await Promise.all(
          loops.map(async (l, r) => {
            const out: GateLoopRunResult[] = [];
            for (let index = r; index < SHARDS; index += replicas) {
              out.push(await l.run({ index, count: SHARDS }));
            }
            return out;
          }),
        );
        const wallMs = performance.now() - t0;
        const runs = results.flat();
        const evaluated = runs.reduce((n, x) => n + x.evaluated, 0);
        const perReplica = results.map(
          rs =>
            `${rs.reduce((n, x) => n + x.evaluated, 0).toLocaleString('en-US')} evaluated in ${rs.length} shard runs`,
        );
        replicaTicks.push([
          `${replicas} replica${replicas > 1 ? 's' : ''}`,
          wallMs,
        ]);
        console.log(
          `\n${db.label}: tick with ${replicas} replica${replicas > 1 ? 's' : ''}, ${SHARDS} shards, cold gate states: ${evaluated.toLocaleString('en-US')} rollouts evaluated in ${fmt(wallMs)} wall (${perReplica.join('; ')})`,
        );
      }
      console.log(
        `  ${db.label}: ${active.length.toLocaleString('en-US')}-rollout tick: ${replicaTicks.map(([w, ms]) => `${w} ${fmt(ms)}`).join(', ')} (two replicas in one process share its CPU)`,
      );
    }

    // The store's batch append alone: decisions carrying the engine's evidence, and compact ones.
    // Each batch spreads over the rollouts, as the loop's do (each rollout's decisions are indexed by rollout).
    // "engine evidence" shares 16 snapshot objects between the decisions (as measured before chain v2);
    // "own engine evidence" gives every decision its own snapshot object, as the gate loop does, so each
    // one is serialised once per decision.
    // The fast path is what the store does (PostgreSQL: one binary COPY per append); the baseline, on
    // PostgreSQL, is the plain path on the same rows in the same run: multi-row INSERT statements of
    // 100 rows. SQLite has one path (prepared single-row inserts); its baseline is the journal mode
    // Backstage leaves it in (DELETE), then the store's WAL (`preferSqliteWal`, as `create` sets it).
    const fastStore = DatabaseRolloutsStore.fromKnex(db.knex);
    const plainStore = DatabaseRolloutsStore.fromKnex(db.knex, {
      pgDecisionInsert: 'values',
    });
    const full = evidenceTemplates(16);
    const appendBatch = Math.max(1, Number(args.get('append-batch') ?? 500));
    // PostgreSQL's own CPU per row beside Node's (Linux /proc): where a row's time goes
    const serverCpu =
      db.kind === 'postgres' ? await PostgresCpu.of(db.knex) : undefined;
    const appendRate = async (
      rawStore: RolloutsStore,
      evidenceOf: (i: number) => Record<string, unknown>,
    ) => {
      const n = 10_000;
      const batch = Array.from({ length: n }, (_, i) => ({
        rolloutId: active[i % active.length].id,
        entityRef: active[i % active.length].entityRef,
        stepIndex: 0,
        verdict: 'continue' as const,
        kind: 'automatic' as const,
        actor: 'scheduler',
        reasons: ['bench'],
        evidence: evidenceOf(i),
        policyHash: null,
        outcome: 'none' as const,
      }));
      const cpu0 = process.cpuUsage();
      const server0 = serverCpu?.ms();
      const t0 = performance.now();
      for (let i = 0; i < n; i += appendBatch)
        await rawStore.appendDecisions(batch.slice(i, i + appendBatch));
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const server1 = serverCpu?.ms();
      return {
        n,
        ms,
        cpuMs: (cpu.user + cpu.system) / 1000,
        serverCpuMs:
          server0 === undefined || server1 === undefined
            ? undefined
            : server1 - server0,
        bytes: JSON.stringify(evidenceOf(0)).length,
      };
    };
    const runs = Math.max(1, Number(args.get('append-runs') ?? 1));
    const paths: Array<[string, RolloutsStore, () => Promise<unknown>]> =
      db.kind === 'postgres'
        ? [
            ['plain INSERT (baseline)', plainStore, async () => {}],
            ['binary COPY (the store)', fastStore, async () => {}],
          ]
        : [
            [
              'journal DELETE (baseline)',
              fastStore,
              () => db.knex.raw('pragma journal_mode = DELETE'),
            ],
            [
              'journal WAL (the store)',
              fastStore,
              () => preferSqliteWal(db.knex),
            ],
          ];
    const results: Array<
      [string, string, Awaited<ReturnType<typeof appendRate>>]
    > = [];
    for (let run = 0; run < runs; run++) {
      for (const [path, on, setUp] of paths) {
        await setUp();
        results.push([
          path,
          'engine evidence',
          await appendRate(
            on,
            i => full[i % full.length] as unknown as Record<string, unknown>,
          ),
        ]);
        results.push([
          path,
          'own engine evidence',
          await appendRate(
            on,
            i =>
              structuredClone(full[i % full.length]) as unknown as Record<
                string,
                unknown
              >,
          ),
        ]);
        results.push([
          path,
          'small evidence',
          await appendRate(on, i => ({
            verdict: 'continue',
            score: full[i % full.length].score,
            tick: full[i % full.length].tick,
          })),
        ]);
      }
    }
    console.log(
      `\n${db.label}: store.appendDecisions, 10,000 decisions in batches of ${appendBatch}, delivery figures folded (load average ${machineLine().split('load average ')[1]})`,
    );
    for (const [path, what, r] of results) {
      const rate = r.n / (r.ms / 1000);
      console.log(
        `  ${path}, ${what} (${(r.bytes / 1024).toFixed(1)} KiB each): ${fmt(r.ms)} = ${Math.round(rate).toLocaleString('en-US')} rows/s, ${Math.round((r.cpuMs * 1000) / r.n)} µs Node CPU per row${r.serverCpuMs === undefined ? '' : ` + ${Math.round((r.serverCpuMs * 1000) / r.n)} µs PostgreSQL CPU`} (${Math.round((r.ms * 1000) / r.n)} µs wall)  target ≥ ${ROWS_TARGET.toLocaleString('en-US')}: ${rate >= ROWS_TARGET ? 'met' : 'missed'}`,
      );
    }
    if (args.has('verify')) {
      const v0 = performance.now();
      const verification = await DatabaseRolloutsStore.fromKnex(
        db.knex,
      ).verifyDecisions();
      console.log(
        `  verifyDecisions: ${JSON.stringify(verification)} in ${((performance.now() - v0) / 1000).toFixed(1)} s`,
      );
    }
    return ticks;
  } finally {
    await db.close();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  await forEachBenchDatabase('bench:loop', args, benchOne);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    e => {
      console.error(e);
      process.exit(1);
    },
  );
}
