/**
 * Loader for `rollout-scenario/v1` files (see docs/scenario-format.md).
 * Node-only (reads files); the engine itself never does I/O.
 */
import { readFileSync } from 'node:fs';
import type {
  CohortCounts,
  GateContext,
  LatencyHistogram,
  TelemetryTick,
} from '@tollgate/plugin-rollouts-common';

export interface ScenarioHeader {
  format: 'rollout-scenario/v1';
  name: string;
  service?: string;
  tickSeconds: number;
  maxTicks: number;
  expectedCanaryShare: number;
  slo: GateContext['slo'];
  kpis: GateContext['kpis'];
  countSignals?: GateContext['countSignals'];
  /** ladder files: the canary share of each step (docs/scenario-format.md, "Whole rollouts") */
  ladder?: number[];
}

export interface Scenario {
  file: string;
  header: ScenarioHeader;
  ctx: GateContext;
  /** ticks 1..lastTick, index t-1; a tick with no line at all has neither cohort */
  ticks: TelemetryTick[];
  maxTicks: number;
  /** ladder files: the 1-based step of each tick's lines, index t-1 (undefined: no line) */
  stepAt: Array<number | undefined>;
}

export interface Truth {
  verdict: 'rollback' | 'promote' | 'hold';
  fromTick?: number;
  note?: string;
}

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ScenarioError';
  }
}

const isNum = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v);

function parseHistogram(
  v: unknown,
  fail: (m: string) => never,
): LatencyHistogram {
  if (!v || typeof v !== 'object')
    fail('latency must be an object with le and counts');
  const o = v as { le?: unknown; counts?: unknown };
  if (!Array.isArray(o.le) || !Array.isArray(o.counts))
    fail('latency.le and latency.counts must be arrays');
  const le = (o.le as unknown[]).map((x, i) => {
    if (x === '+Inf' || x === 'Infinity' || x === Infinity) return Infinity;
    if (!isNum(x)) fail(`latency.le[${i}] must be a number or "+Inf"`);
    return x as number;
  });
  const counts = (o.counts as unknown[]).map((x, i) => {
    if (!isNum(x) || x < 0)
      fail(`latency.counts[${i}] must be a non-negative number`);
    return x as number;
  });
  if (le.length !== counts.length)
    fail('latency.le and latency.counts differ in length');
  return { le, counts };
}

/** Parse scenario text. Throws ScenarioError naming the file and line. */
export function parseScenario(text: string, file: string): Scenario {
  const lines = text.split(/\r?\n/);
  let header: ScenarioHeader | null = null;
  const byTick = new Map<number, TelemetryTick>();
  let lastTick = 0;
  const stepOf = new Map<number, number>();
  let lastStep = 1;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i].trim();
    if (!raw) continue;
    const fail = (m: string): never => {
      throw new ScenarioError(file, lineNo, m);
    };
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      fail('expected a JSON object');
    const o = obj as Record<string, unknown>;
    if (!header) {
      if (o.format !== 'rollout-scenario/v1')
        fail(
          `unsupported format ${JSON.stringify(o.format)}; expected "rollout-scenario/v1" in the header line`,
        );
      if (typeof o.name !== 'string' || !o.name)
        fail('header: name must be a non-empty string');
      if (!isNum(o.tickSeconds) || o.tickSeconds <= 0)
        fail('header: tickSeconds must be a positive number');
      if (!isNum(o.maxTicks) || o.maxTicks < 1)
        fail('header: maxTicks must be a positive number');
      if (
        !isNum(o.expectedCanaryShare) ||
        o.expectedCanaryShare <= 0 ||
        o.expectedCanaryShare >= 1
      )
        fail('header: expectedCanaryShare must be between 0 and 1');
      const slo = o.slo as Record<string, unknown> | undefined;
      if (
        !slo ||
        !isNum(slo.availability) ||
        slo.availability <= 0 ||
        slo.availability >= 1
      )
        fail('header: slo.availability must be between 0 and 1');
      const lat = slo!.latency as Record<string, unknown> | undefined;
      if (
        lat !== undefined &&
        (!isNum(lat.thresholdMs) ||
          !isNum(lat.objective) ||
          lat.objective <= 0 ||
          lat.objective >= 1)
      ) {
        fail('header: slo.latency needs thresholdMs and objective in (0, 1)');
      }
      const kpis = o.kpis ?? [];
      if (!Array.isArray(kpis)) fail('header: kpis must be an array');
      (kpis as unknown[]).forEach((k, j) => {
        const kk = k as Record<string, unknown>;
        if (!kk || typeof kk.name !== 'string')
          fail(`header: kpis[${j}].name must be a string`);
        if (kk.type !== 'proportion' && kk.type !== 'mean')
          fail(`header: kpis[${j}].type must be "proportion" or "mean"`);
        if (kk.direction !== 'increase' && kk.direction !== 'decrease')
          fail(`header: kpis[${j}].direction must be "increase" or "decrease"`);
      });
      if (o.ladder !== undefined) {
        const l = o.ladder as unknown[];
        const ok =
          Array.isArray(l) &&
          l.length > 0 &&
          l.every(
            (x, j) =>
              isNum(x) &&
              x > 0 &&
              x < 1 &&
              (j === 0 || x > (l[j - 1] as number)),
          );
        if (!ok)
          fail(
            'header: ladder must be a non-empty list of increasing canary shares between 0 and 1',
          );
        if (l[0] !== o.expectedCanaryShare)
          fail("header: expectedCanaryShare must be the ladder's first share");
      }
      header = {
        ...(o as unknown as ScenarioHeader),
        kpis: kpis as ScenarioHeader['kpis'],
      };
      continue;
    }
    if (!isNum(o.tick) || !Number.isInteger(o.tick) || o.tick < 1)
      fail('tick must be a positive integer');
    if (o.cohort !== 'baseline' && o.cohort !== 'canary')
      fail('cohort must be "baseline" or "canary"');
    const t = o.tick as number;
    if (t < lastTick)
      fail(`tick ${t} after tick ${lastTick}: tick lines must be in order`);
    lastTick = t;
    const ladder = (header as ScenarioHeader).ladder;
    if (ladder) {
      const k = o.step;
      if (!isNum(k) || !Number.isInteger(k) || k < 1 || k > ladder.length)
        fail(
          `step must be an integer from 1 to ${ladder.length} (the ladder's steps)`,
        );
      const seen = stepOf.get(t);
      if (seen !== undefined && seen !== k)
        fail(`step ${k} for tick ${t}, whose other line says step ${seen}`);
      if ((k as number) < lastStep)
        fail(`step ${k} after step ${lastStep}: steps only go up`);
      stepOf.set(t, k as number);
      lastStep = k as number;
    }
    const cc: CohortCounts = {};
    for (const f of ['requests', 'errors'] as const) {
      if (o[f] === undefined || o[f] === null) continue;
      if (!isNum(o[f]) || (o[f] as number) < 0)
        fail(`${f} must be a non-negative number`);
      cc[f] = o[f] as number;
    }
    if (o.latency !== undefined && o.latency !== null)
      cc.latency = parseHistogram(o.latency, fail);
    if (o.kpis !== undefined && o.kpis !== null) {
      if (typeof o.kpis !== 'object') fail('kpis must be an object');
      cc.kpis = o.kpis as CohortCounts['kpis'];
    }
    if (o.counts !== undefined && o.counts !== null) {
      if (typeof o.counts !== 'object') fail('counts must be an object');
      cc.counts = o.counts as CohortCounts['counts'];
    }
    let tk = byTick.get(t);
    if (!tk) {
      tk = { tick: t };
      byTick.set(t, tk);
    }
    if (tk[o.cohort as 'baseline' | 'canary'])
      fail(`duplicate ${o.cohort} line for tick ${t}`);
    tk[o.cohort as 'baseline' | 'canary'] = cc;
  }
  if (!header)
    throw new ScenarioError(
      file,
      1,
      'empty file: expected a rollout-scenario/v1 header line',
    );
  const h = header;
  const maxTicks = Math.max(h.maxTicks, lastTick);
  const ticks: TelemetryTick[] = [];
  for (let t = 1; t <= maxTicks; t++) ticks.push(byTick.get(t) ?? { tick: t });
  const ctx: GateContext = {
    service: h.service,
    tickSeconds: h.tickSeconds,
    expectedCanaryShare: h.expectedCanaryShare,
    slo: h.slo,
    kpis: h.kpis,
    countSignals: h.countSignals,
  };
  const stepAt = ticks.map(t => stepOf.get(t.tick));
  return { file, header: h, ctx, ticks, maxTicks, stepAt };
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, 0, `cannot read: ${(e as Error).message}`);
  }
  return parseScenario(text, file);
}

export function loadTruth(scenarioFile: string): Truth | null {
  try {
    return JSON.parse(
      readFileSync(scenarioFile.replace(/\.jsonl$/, '.truth.json'), 'utf8'),
    ) as Truth;
  } catch {
    return null;
  }
}
