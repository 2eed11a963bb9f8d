import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseScenario, ScenarioError } from './scenario';
import { replayScenario } from './engine-runner';

const root = resolve(__dirname, '..', '..');
const scenarios = resolve(root, 'test', 'fixtures', 'scenarios');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

const header = {
  format: 'rollout-scenario/v1',
  name: 'tiny',
  service: 's',
  tickSeconds: 60,
  maxTicks: 4,
  expectedCanaryShare: 0.05,
  slo: { availability: 0.995 },
  kpis: [],
};
const line = (tick: number, cohort: string, requests: number, errors: number) =>
  JSON.stringify({ tick, cohort, requests, errors });

describe('scenario parser', () => {
  it('groups lines by tick and keeps missing ticks missing', () => {
    const text = [
      JSON.stringify(header),
      line(1, 'baseline', 1900, 4),
      line(1, 'canary', 100, 0),
      line(3, 'baseline', 1900, 3),
    ].join('\n');
    const s = parseScenario(text, 'x.jsonl');
    expect(s.ticks.map(t => t.tick)).toEqual([1, 2, 3, 4]);
    expect(s.ticks[1].baseline).toBeUndefined();
    expect(s.ticks[2].canary).toBeUndefined();
    expect(s.ticks[2].baseline).toEqual({ requests: 1900, errors: 3 });
  });
  it('names the file and line of bad input', () => {
    expect(() =>
      parseScenario(
        [JSON.stringify(header), line(1, 'baseline', 1, 0), '{oops'].join('\n'),
        'f.jsonl',
      ),
    ).toThrow(/^f\.jsonl:3: not valid JSON/);
    expect(() =>
      parseScenario(JSON.stringify({ ...header, format: 'v2' }), 'g.jsonl'),
    ).toThrow(/^g\.jsonl:1: unsupported format/);
    expect(() =>
      parseScenario(
        [JSON.stringify(header), JSON.stringify({ tick: 1, cohort: 'x' })].join(
          '\n',
        ),
        'h.jsonl',
      ),
    ).toThrow(ScenarioError);
    expect(() =>
      parseScenario(
        [
          JSON.stringify(header),
          JSON.stringify({ tick: 1, cohort: 'canary', requests: -3 }),
        ].join('\n'),
        'h.jsonl',
      ),
    ).toThrow(/h\.jsonl:2: requests must be/);
  });
  it('parses "+Inf" histogram bounds', () => {
    const text = [
      JSON.stringify(header),
      JSON.stringify({
        tick: 1,
        cohort: 'canary',
        requests: 3,
        latency: { le: [100, '+Inf'], counts: [2, 3] },
      }),
    ].join('\n');
    expect(parseScenario(text, 'x').ticks[0].canary!.latency!.le).toEqual([
      100,
      Infinity,
    ]);
  });
});

describe('replay', () => {
  it('uses only data up to each tick (truncated file gives the same verdicts)', () => {
    const file = join(scenarios, 'err2x-c5-1.jsonl');
    const full = replayScenario(
      parseScenario(readFileSync(file, 'utf8'), file),
      undefined,
      true,
    );
    const text = readFileSync(file, 'utf8').split('\n');
    // keep the header and ticks 1..12 only
    const cut = text
      .filter((l, i) => i === 0 || (l && JSON.parse(l).tick <= 12))
      .join('\n');
    const s = parseScenario(cut, file);
    s.ticks = s.ticks.slice(0, 12);
    const part = replayScenario(s, undefined, true);
    expect(part).toEqual(full.slice(0, 12));
  });

  it('prints FORMAT.md verdict lines and stops at the first promote/rollback', () => {
    const out = execFileSync(
      tsx,
      [
        join(root, 'test/bench/replay.ts'),
        join(scenarios, 'err5x-c25-1.jsonl'),
        join(scenarios, 'aa-c25-1.jsonl'),
      ],
      { encoding: 'utf8' },
    );
    const lines = out
      .trim()
      .split('\n')
      .map(l => JSON.parse(l));
    for (const l of lines) {
      expect(Object.keys(l)).toEqual([
        'scenario',
        'tick',
        'verdict',
        'reasons',
      ]);
      expect(['continue', 'hold', 'promote', 'rollback']).toContain(l.verdict);
      expect(Array.isArray(l.reasons)).toBe(true);
    }
    const err = lines.filter(l => l.scenario === 'err5x-c25-1');
    expect(err.at(-1).verdict).toBe('rollback');
    expect(err.filter(l => l.verdict === 'rollback')).toHaveLength(1);
    const aa = lines.filter(l => l.scenario === 'aa-c25-1');
    expect(aa.map(l => l.tick)).toEqual(aa.map((_, i) => i + 1));
    expect(aa.some(l => l.verdict === 'rollback')).toBe(false);
  });

  it('exits non-zero with file and line on bad input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'replay-'));
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(
      bad,
      [JSON.stringify(header), line(1, 'baseline', 100, 1), 'not json'].join(
        '\n',
      ),
    );
    const r = spawnSync(tsx, [join(root, 'test/bench/replay.ts'), bad], {
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}:3:`);
    const wrong = join(dir, 'wrong.jsonl');
    writeFileSync(
      wrong,
      JSON.stringify({ ...header, format: 'rollout-scenario/v0' }),
    );
    const r2 = spawnSync(tsx, [join(root, 'test/bench/replay.ts'), wrong], {
      encoding: 'utf8',
    });
    expect(r2.status).not.toBe(0);
    expect(r2.stderr).toContain(`${wrong}:1: unsupported format`);
  });
});
