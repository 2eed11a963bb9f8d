/**
 * npm run bench:ladder [-- --verbose] [-- --seed N]
 *
 * Walks synthetic releases up a four-step ladder (1 % → 5 % → 25 % → 50 % → full) in closed loop:
 * each step's telemetry is generated at the share the method chose, from the tick it chose, until
 * rollback, stall (a step lasting longer than the harness's limit), or full plus the bake window.
 * The telemetry of a tick is a pure function of (release, tick, share), so every method sees the
 * same traffic when it makes the same choices. The gate engine runs its whole-rollout gate
 * (carried e-processes, change detection, step maximums, the post-promotion watch); the peers of
 * bench:detect run one step at a time, as they do in their own tools, and do not watch after full.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gateMath, type TelemetryTick } from '@tollgate/plugin-rollouts-engine';
import {
  regressedAt,
  releaseCtx,
  ReleaseSpec,
  telemetryAt,
  walkRelease,
} from '@tollgate/plugin-rollouts-engine/testkit';
import {
  argoStyle,
  flaggerStyle,
  kayentaStyle,
  peekingZ,
  type PeerLine,
} from './peers';
import { ladderFileText } from './ladder-runner';
import { markdownTable } from './score';
import type { Scenario } from './scenario';

export const LADDER = [0.01, 0.05, 0.25, 0.5];
/** a step lasting this long without promote/rollback is a stall (minutes) */
export const STALL_TICKS = 240;
/** the bake window after full (minutes) */
export const BAKE_TICKS = 60;

export type Family =
  | 'healthy'
  | 'regression from the start'
  | 'regression starting 20-120 min in'
  | 'small effect'
  | 'KPI drop'
  | 'latency tail'
  | 'SRM'
  | 'service-wide incident'
  | 'telemetry gap';

export interface Release {
  spec: ReleaseSpec;
  family: Family;
  kind: 'healthy' | 'regression' | 'hold';
  /** the hold condition is on at this tick */
  holdAt?: (tick: number) => boolean;
}

const pick = <T>(rng: () => number, xs: T[]): T =>
  xs[Math.floor(rng() * xs.length)];
const between = (rng: () => number, lo: number, hi: number) =>
  lo + (hi - lo) * rng();

/** The benchmark's releases, seeded. */
export function releases(seed = 2026): Release[] {
  const rng = gateMath.mulberry32(seed);
  let n = 0;
  const spec = (extra: Partial<ReleaseSpec> = {}): ReleaseSpec => ({
    name: `r${++n}`,
    seed: Math.floor(rng() * 2 ** 31),
    traffic: pick(rng, [2000, 5000, 20000, 60000]),
    diurnal: pick(rng, [0, 0, 0.4]),
    phase: between(rng, 0, 2 * Math.PI),
    errRate: between(rng, 0.0008, 0.003),
    slowRate: between(rng, 0.002, 0.006),
    conv: between(rng, 0.03, 0.08),
    orderMean: between(rng, 40, 90),
    orderSd: 25,
    ...extra,
  });
  const out: Release[] = [];
  const add = (
    count: number,
    family: Family,
    kind: Release['kind'],
    make: () => Omit<Release, 'family' | 'kind'>,
  ) => {
    for (let i = 0; i < count; i++) out.push({ ...make(), family, kind });
  };
  add(80, 'healthy', 'healthy', () => ({ spec: spec() }));
  add(24, 'regression from the start', 'regression', () => ({
    spec: spec({
      onset: 1,
      effect: pick(rng, [
        { err: 2 },
        { err: 3 },
        { err: 5 },
        { slow: 2 },
        { slow: 3 },
        { err: 2, slow: 2 },
      ]),
    }),
  }));
  add(24, 'regression starting 20-120 min in', 'regression', () => ({
    spec: spec({
      onset: Math.round(between(rng, 20, 120)),
      effect: pick(rng, [
        { err: 2 },
        { err: 3 },
        { slow: 2 },
        { slow: 3 },
        { conv: 0.8 },
      ]),
    }),
  }));
  add(12, 'small effect', 'regression', () => ({
    spec: spec({
      onset: 1,
      effect: pick(rng, [{ err: 1.25 }, { order: 0.92 }, { slow: 1.3 }]),
    }),
  }));
  add(12, 'KPI drop', 'regression', () => ({
    spec: spec({
      onset: 1,
      effect: pick(rng, [{ conv: 0.9 }, { conv: 0.8 }, { order: 0.85 }]),
    }),
  }));
  add(12, 'latency tail', 'regression', () => ({
    spec: spec({
      onset: pick(rng, [1, 1, 30]),
      effect: pick(rng, [{ slow: 1.5 }, { slow: 2.5 }]),
    }),
  }));
  add(8, 'SRM', 'hold', () => ({
    spec: spec({ srm: pick(rng, [1.25, 0.75, 1.15]) }),
    holdAt: () => true,
  }));
  add(10, 'service-wide incident', 'hold', () => {
    const from = Math.round(between(rng, 5, 60));
    const to = from + Math.round(between(rng, 30, 60));
    return {
      spec: spec({
        incident: {
          from,
          to,
          err: pick(rng, [5, 10, 20]),
          slow: pick(rng, [1, 3]),
        },
      }),
      holdAt: (t: number) => t >= from && t <= to,
    };
  });
  add(10, 'telemetry gap', 'hold', () => {
    const from = Math.round(between(rng, 5, 60));
    const to = from + Math.round(between(rng, 10, 30));
    return {
      spec: spec({ gap: { from, to } }),
      holdAt: (t: number) => t >= from && t <= to,
    };
  });
  return out;
}

export interface Walk {
  outcome: 'rollback' | 'full' | 'stalled';
  /** tick of the rollback / full / stall */
  tick: number;
  promotionsDuringHold: number;
  /** new-version requests served while regressed, to the end of the walk */
  badRequests: number;
  /** the walk's last tick (end of bake, rollback or stall) */
  endTick: number;
  /** per tick, the canary's share */
  shares: number[];
}

/** new-version requests in a tick at a share (the canary line's requests; everything once full) */
function canaryRequests(
  spec: ReleaseSpec,
  tick: number,
  share: number,
): number {
  return telemetryAt(spec, tick, share).canary?.requests ?? 0;
}

function badRequests(spec: ReleaseSpec, shares: number[]): number {
  let bad = 0;
  shares.forEach((share, i) => {
    const tick = i + 1;
    if (regressedAt(spec, tick)) bad += canaryRequests(spec, tick, share);
  });
  return bad;
}

function tollgateWalk(r: Release): Walk {
  const w = walkRelease(r.spec, {
    ladder: LADDER,
    stallTicks: STALL_TICKS,
    bakeTicks: BAKE_TICKS,
    holdAt: r.holdAt,
  });
  return {
    outcome: w.outcome,
    tick: w.tick,
    promotionsDuringHold: w.promotionsDuringHold,
    badRequests: badRequests(r.spec, w.shares),
    endTick: w.shares.length,
    shares: w.shares,
  };
}

type Peer = (s: Scenario) => PeerLine[];

/** one peer walked up the ladder: each step a fresh run of the peer on that step's telemetry */
function peerWalk(r: Release, peer: Peer): Walk {
  const shares: number[] = [];
  let promotionsDuringHold = 0;
  let start = 1;
  for (let k = 0; k < LADDER.length; k++) {
    const share = LADDER[k];
    const ticks: TelemetryTick[] = [];
    for (let i = 0; i < STALL_TICKS; i++)
      ticks.push({ ...telemetryAt(r.spec, start + i, share), tick: i + 1 });
    const ctx = releaseCtx(share);
    const s: Scenario = {
      file: r.spec.name,
      header: {
        format: 'rollout-scenario/v1',
        name: r.spec.name,
        tickSeconds: 60,
        maxTicks: STALL_TICKS,
        expectedCanaryShare: share,
        slo: ctx.slo,
        kpis: ctx.kpis,
      },
      ctx,
      ticks,
      maxTicks: STALL_TICKS,
      stepAt: [],
    };
    const fin = peer(s).find(
      l => l.verdict === 'promote' || l.verdict === 'rollback',
    );
    const steps = fin ? fin.tick : STALL_TICKS;
    for (let i = 0; i < steps; i++) shares.push(share);
    const at = start + steps - 1;
    if (!fin)
      return {
        outcome: 'stalled',
        tick: at,
        promotionsDuringHold,
        badRequests: badRequests(r.spec, shares),
        endTick: at,
        shares,
      };
    if (fin.verdict === 'rollback')
      return {
        outcome: 'rollback',
        tick: at,
        promotionsDuringHold,
        badRequests: badRequests(r.spec, shares),
        endTick: at,
        shares,
      };
    if (r.holdAt?.(at)) promotionsDuringHold++;
    start = at + 1;
  }
  const fullTick = start - 1;
  for (let i = 0; i < BAKE_TICKS; i++) shares.push(1);
  return {
    outcome: 'full',
    tick: fullTick,
    promotionsDuringHold,
    badRequests: badRequests(r.spec, shares),
    endTick: shares.length,
    shares,
  };
}

/**
 * A tollgate walk as a ladder file (rollout-scenario/v1 with `ladder` and `step`), up to the
 * rollback, the promotion to full or the stall: the file a closed-loop harness writes. Its
 * replay reproduces the walk's decisions.
 */
export function ladderFile(
  r: Release,
  w: Walk,
): { text: string; truth: object } {
  const text = ladderFileText({
    name: r.spec.name,
    ctx: releaseCtx(LADDER[0]),
    ladder: LADDER,
    shares: w.shares,
    // the file ends at the rollback, the stall or the promotion to full (the bake is not in it)
    lastTick: Math.min(w.tick, w.shares.filter(x => x < 1).length),
    telemetry: (t, s) => telemetryAt(r.spec, t, s),
  });
  const truth =
    r.kind === 'regression'
      ? {
          verdict: 'rollback',
          fromTick: r.spec.onset ?? 1,
          note: `${r.family}: ${JSON.stringify(r.spec.effect)}`,
        }
      : { verdict: r.kind === 'hold' ? 'hold' : 'promote', note: r.family };
  return { text, truth };
}

export const LADDER_METHODS: Array<{
  name: string;
  walk: (r: Release) => Walk;
}> = [
  { name: 'tollgate (this engine)', walk: tollgateWalk },
  { name: 'argo-style threshold', walk: r => peerWalk(r, s => argoStyle(s)) },
  {
    name: 'flagger-style counter',
    walk: r => peerWalk(r, s => flaggerStyle(s)),
  },
  { name: 'kayenta-style MWU', walk: r => peerWalk(r, s => kayentaStyle(s)) },
  { name: 'peeking z-test', walk: r => peerWalk(r, s => peekingZ(s)) },
];

export interface LadderRow {
  method: string;
  regressions: number;
  caught: number;
  regressionsFull: number;
  regressionsStalled: number;
  healthy: number;
  healthyFull: number;
  medianMinutesToFull: number | null;
  median20k: number | null;
  falseRollbacks: number;
  nonRegressions: number;
  stalls: number;
  holdPromoted: number;
  holdCases: number;
  badRequests: number;
}

const median = (xs: number[]) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function scoreMethod(
  name: string,
  rs: Release[],
  walks: Walk[],
): LadderRow {
  const row: LadderRow = {
    method: name,
    regressions: 0,
    caught: 0,
    regressionsFull: 0,
    regressionsStalled: 0,
    healthy: 0,
    healthyFull: 0,
    medianMinutesToFull: null,
    median20k: null,
    falseRollbacks: 0,
    nonRegressions: 0,
    stalls: 0,
    holdPromoted: 0,
    holdCases: 0,
    badRequests: 0,
  };
  const toFull: number[] = [];
  const toFull20k: number[] = [];
  rs.forEach((r, i) => {
    const w = walks[i];
    if (w.outcome === 'stalled') row.stalls++;
    if (r.kind === 'regression') {
      row.regressions++;
      const onset = r.spec.onset ?? 1;
      if (w.outcome === 'rollback' && w.tick >= onset) row.caught++;
      if (w.outcome === 'rollback' && w.tick < onset) row.falseRollbacks++;
      // reaching full and never rolled back, even by a watch after full
      if (w.outcome === 'full') row.regressionsFull++;
      if (w.outcome === 'stalled') row.regressionsStalled++;
      row.badRequests += w.badRequests;
    } else {
      row.nonRegressions++;
      if (w.outcome === 'rollback') row.falseRollbacks++;
    }
    if (r.kind === 'healthy') {
      row.healthy++;
      if (w.outcome === 'full') {
        row.healthyFull++;
        toFull.push(w.tick);
        if (r.spec.traffic === 20000) toFull20k.push(w.tick);
      }
    }
    if (r.kind === 'hold') {
      row.holdCases++;
      if (w.promotionsDuringHold > 0) row.holdPromoted++;
    }
  });
  row.medianMinutesToFull = median(toFull);
  row.median20k = median(toFull20k);
  return row;
}

export function formatLadderTable(rows: LadderRow[]): string {
  const head = [
    'method',
    'regressions caught',
    'regr. reaching full',
    'regr. stalled',
    'healthy reaching full',
    'median min to full (all / 20k rpm)',
    'false rollbacks',
    'stalls',
    'hold cases promoted',
    'bad requests served',
  ];
  const fmt = (x: number) => x.toLocaleString('en-US');
  const body = rows.map(r => [
    r.method,
    `${r.caught}/${r.regressions}`,
    `${r.regressionsFull}/${r.regressions}`,
    `${r.regressionsStalled}/${r.regressions}`,
    `${r.healthyFull}/${r.healthy}`,
    `${r.medianMinutesToFull ?? 'never'} / ${r.median20k ?? 'never'}`,
    `${r.falseRollbacks}/${r.nonRegressions + r.regressions}`,
    `${r.stalls}`,
    `${r.holdPromoted}/${r.holdCases}`,
    fmt(r.badRequests),
  ]);
  return markdownTable(head, body);
}

export function runLadderBench(seed = 2026): {
  rows: LadderRow[];
  releases: Release[];
  walks: Map<string, Walk[]>;
} {
  const rs = releases(seed);
  const walks = new Map<string, Walk[]>();
  const rows = LADDER_METHODS.map(m => {
    const ws = rs.map(r => m.walk(r));
    walks.set(m.name, ws);
    return scoreMethod(m.name, rs, ws);
  });
  return { rows, releases: rs, walks };
}

function main() {
  const args = process.argv.slice(2).filter(a => a !== '--');
  const verbose = args.includes('--verbose');
  const seedAt = args.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 2026;
  const writeAt = args.indexOf('--write');
  const t0 = Date.now();
  const { rows, releases: rs, walks } = runLadderBench(seed);
  const counts = new Map<string, number>();
  for (const r of rs) counts.set(r.family, (counts.get(r.family) ?? 0) + 1);
  console.log(
    `ladder ${LADDER.map(s => `${s * 100}%`).join(' → ')} → full; 60 s ticks; stall after ${STALL_TICKS} min in a step; bake ${BAKE_TICKS} min; seed ${seed}`,
  );
  console.log(
    `releases: ${[...counts].map(([f, c]) => `${c} ${f}`).join(', ')}`,
  );
  console.log(formatLadderTable(rows));
  if (verbose) {
    for (const [m, ws] of walks) {
      console.log(`\n${m}`);
      rs.forEach((r, i) => {
        const w = ws[i];
        console.log(
          `  ${r.spec.name.padEnd(5)} ${r.family.padEnd(34)} ${JSON.stringify(r.spec.effect ?? {}).padEnd(22)} onset=${String(r.spec.onset ?? '-').padEnd(4)} rpm=${String(r.spec.traffic).padEnd(6)} ${w.outcome.padEnd(8)} tick=${w.tick}`,
        );
      });
    }
  }
  if (writeAt >= 0) {
    // the engine's walks as ladder files (closed loop: each replays to the same decisions)
    const dir = resolve(args[writeAt + 1]);
    mkdirSync(dir, { recursive: true });
    const ws = walks.get(LADDER_METHODS[0].name)!;
    rs.forEach((r, i) => {
      const f = ladderFile(r, ws[i]);
      writeFileSync(join(dir, `${r.spec.name}.jsonl`), f.text);
      writeFileSync(
        join(dir, `${r.spec.name}.truth.json`),
        `${JSON.stringify(f.truth)}\n`,
      );
    });
    console.log(`wrote ${rs.length} ladder files to ${dir}`);
  }
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

if (require.main === module) main();
