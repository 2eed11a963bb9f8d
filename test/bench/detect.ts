/**
 * npm run bench:detect [DIR] [--verbose]
 * Scores the gate engine and the peer baselines on a directory of scenarios (default: the shared
 * public set kept in test/fixtures/scenarios). Truth files are read by the
 * scorer only.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadScenario, loadTruth, type Scenario, type Truth } from './scenario';
import { replayScenario } from './engine-runner';
import { argoStyle, flaggerStyle, kayentaStyle, peekingZ } from './peers';
import {
  formatTable,
  scoreScenario,
  summarise,
  type Line,
  type MethodSummary,
  type ScenarioScore,
} from './score';

export const METHODS: Array<{ name: string; run: (s: Scenario) => Line[] }> = [
  { name: 'tollgate (this engine)', run: s => replayScenario(s) },
  { name: 'argo-style threshold', run: s => argoStyle(s) },
  { name: 'flagger-style counter', run: s => flaggerStyle(s) },
  { name: 'kayenta-style MWU', run: s => kayentaStyle(s) },
  { name: 'peeking z-test', run: s => peekingZ(s) },
];

export function loadDir(dir: string): Array<{ s: Scenario; truth: Truth }> {
  const files = readdirSync(dir)
    .filter(f => f.endsWith('.jsonl'))
    .sort();
  const out: Array<{ s: Scenario; truth: Truth }> = [];
  for (const f of files) {
    const truth = loadTruth(join(dir, f));
    if (!truth) continue;
    out.push({ s: loadScenario(join(dir, f)), truth });
  }
  return out;
}

export function runBench(dir: string): {
  rows: MethodSummary[];
  per: Map<string, ScenarioScore[]>;
} {
  const data = loadDir(dir);
  const per = new Map<string, ScenarioScore[]>();
  const rows = METHODS.map(m => {
    const scores = data.map(({ s, truth }) =>
      scoreScenario(s, truth, m.run(s)),
    );
    per.set(m.name, scores);
    return summarise(m.name, scores);
  });
  return { rows, per };
}

function main() {
  const args = process.argv.slice(2).filter(a => a !== '--');
  const verbose = args.includes('--verbose');
  const dirArg = args.find(a => !a.startsWith('--'));
  const repoRoot = resolve(__dirname, '..', '..');
  const dir = dirArg
    ? resolve(dirArg)
    : resolve(repoRoot, 'test', 'fixtures', 'scenarios');
  const t0 = Date.now();
  const { rows, per } = runBench(dir);
  console.log(`scenarios: ${dir}`);
  console.log(formatTable(rows));
  if (verbose) {
    for (const [m, scores] of per) {
      console.log(`\n${m}`);
      for (const s of scores)
        console.log(
          `  ${s.name.padEnd(22)} truth=${s.truth.padEnd(8)} final=${String(s.final).padEnd(8)} tick=${s.finalTick ?? '–'}`,
        );
    }
  }
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

if (require.main === module) main();
