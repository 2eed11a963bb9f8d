import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  releaseCtx,
  telemetryAt,
  walkRelease,
  type ReleaseSpec,
} from '@tollgate/plugin-rollouts-engine/testkit';
import { replayScenario } from './engine-runner';
import { ladderFileText, replayLadder } from './ladder-runner';
import { parseScenario } from './scenario';

const root = resolve(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const LADDER = [0.01, 0.05, 0.25, 0.5];
const base: ReleaseSpec = {
  name: 'walk',
  seed: 11,
  traffic: 20000,
  errRate: 0.002,
  slowRate: 0.004,
  conv: 0.05,
  orderMean: 60,
  orderSd: 25,
};

/** a closed-loop walk of the whole-rollout gate, written as a ladder file */
function walkFile(spec: ReleaseSpec) {
  const w = walkRelease(spec, {
    ladder: LADDER,
    stallTicks: 240,
    bakeTicks: 0,
  });
  const text = ladderFileText({
    name: spec.name,
    ctx: releaseCtx(LADDER[0]),
    ladder: LADDER,
    shares: w.shares,
    lastTick: w.tick,
    telemetry: (t, s) => telemetryAt(spec, t, s),
  });
  return { w, text };
}

const specs: ReleaseSpec[] = [
  base,
  { ...base, name: 'from-start', seed: 12, effect: { err: 3 }, onset: 1 },
  { ...base, name: 'late', seed: 13, effect: { err: 2.5 }, onset: 50 },
  { ...base, name: 'slow-traffic', seed: 14, traffic: 2000 },
];

describe('ladder files: whole-rollout replay', () => {
  it('a replay of a closed-loop walk reproduces its decisions, step by step', () => {
    for (const spec of specs) {
      const { w, text } = walkFile(spec);
      const s = parseScenario(text, `${spec.name}.jsonl`);
      expect(s.header.ladder).toEqual(LADDER);
      const lines = replayLadder(s);
      expect(lines.map(l => l.verdict)).toEqual(w.verdicts.slice(0, w.tick));
      // a promote before the last step advances: the next tick is in the next step
      const promotes = lines
        .filter(l => l.verdict === 'promote')
        .map(l => l.tick);
      for (const t of promotes.slice(0, -1))
        expect(s.stepAt[t]).toBe(s.stepAt[t - 1]! + 1);
      // full: one promote per step; a rollback or stall: fewer
      expect(promotes.length === LADDER.length).toBe(w.outcome === 'full');
    }
  });

  it('uses no lookahead: a truncated file gives the same verdicts up to its end', () => {
    const { text } = walkFile(specs[2]);
    const full = replayLadder(parseScenario(text, 'x.jsonl'));
    const cut = full[Math.floor(full.length * 0.6)].tick;
    const part = text
      .split('\n')
      .filter((l, i) => i === 0 || (l && JSON.parse(l).tick <= cut))
      .join('\n');
    const got = replayLadder(parseScenario(part, 'x.jsonl'));
    expect(got.filter(l => l.tick <= cut)).toEqual(
      full.filter(l => l.tick <= cut),
    );
  });

  it('follows the deploy system when the file stays in a step after a promote', () => {
    const { text } = walkFile(base);
    const flat = text
      .split('\n')
      .map((l, i) =>
        i === 0 || !l ? l : JSON.stringify({ ...JSON.parse(l), step: 1 }),
      )
      .join('\n');
    const warnings: string[] = [];
    const lines = replayLadder(parseScenario(flat, 'y.jsonl'), undefined, m =>
      warnings.push(m),
    );
    expect(warnings[0]).toMatch(/still in step 1 after the promote/);
    expect(lines.length).toBeGreaterThan(0);
  });

  it('npm run replay takes ladder and single-step files in one call', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ladder-'));
    const { w, text } = walkFile(specs[1]);
    writeFileSync(join(dir, 'walk.jsonl'), text);
    const single = join(
      root,
      'test',
      'fixtures',
      'scenarios',
      'err2x-c5-1.jsonl',
    );
    const res = spawnSync(
      tsx,
      [
        join(root, 'test', 'bench', 'replay.ts'),
        join(dir, 'walk.jsonl'),
        single,
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(res.status).toBe(0);
    const out = res.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l));
    const mine = out.filter(l => l.scenario === 'from-start');
    expect(mine.map(l => l.verdict)).toEqual(w.verdicts.slice(0, w.tick));
    expect(mine.at(-1).verdict).toBe('rollback');
    const s = parseScenario(readFileSync(single, 'utf8'), single);
    expect(out.filter(l => l.scenario !== 'from-start')).toEqual(
      replayScenario(s),
    );
  });

  it('rejects a bad ladder or step with the file and line', () => {
    const head = {
      format: 'rollout-scenario/v1',
      name: 'l',
      tickSeconds: 60,
      maxTicks: 3,
      expectedCanaryShare: 0.01,
      slo: { availability: 0.995 },
      kpis: [],
    };
    expect(() =>
      parseScenario(
        JSON.stringify({ ...head, ladder: [0.05, 0.01] }),
        'a.jsonl',
      ),
    ).toThrow(/^a\.jsonl:1: header: ladder/);
    const line = (tick: number, step: number, cohort = 'canary') =>
      JSON.stringify({ tick, step, cohort, requests: 1, errors: 0 });
    const l2 = JSON.stringify({ ...head, ladder: [0.01, 0.05] });
    expect(() => parseScenario([l2, line(1, 3)].join('\n'), 'b.jsonl')).toThrow(
      /^b\.jsonl:2: step must be/,
    );
    expect(() =>
      parseScenario([l2, line(1, 2), line(2, 1)].join('\n'), 'c.jsonl'),
    ).toThrow(/^c\.jsonl:3: step 1 after step 2/);
    expect(() =>
      parseScenario(
        [l2, line(1, 1), line(1, 2, 'baseline')].join('\n'),
        'd.jsonl',
      ),
    ).toThrow(/^d\.jsonl:3: step 2 for tick 1/);
  });
});
