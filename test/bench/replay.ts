/**
 * npm run --silent replay -- FILE...
 * Prints one JSON line per tick: {"scenario","tick","verdict","reasons"} (docs/scenario-format.md).
 * Single-step files run the step gate; ladder files (header `ladder`, lines with `step`) run the
 * whole-rollout gate across their steps (test/bench/ladder-runner.ts), with no lookahead.
 * Bad input: an error naming the file and line on stderr, exit code 1.
 */
import { loadScenario, ScenarioError } from './scenario';
import { replayScenario } from './engine-runner';
import { replayLadder } from './ladder-runner';

function main(argv: string[]): number {
  const files = argv.filter(a => a !== '--');
  if (files.length === 0) {
    process.stderr.write('usage: npm run --silent replay -- FILE.jsonl...\n');
    return 2;
  }
  for (const f of files) {
    try {
      const s = loadScenario(f);
      const lines = s.header.ladder
        ? replayLadder(s, undefined, m =>
            process.stderr.write(`replay: ${m}\n`),
          )
        : replayScenario(s);
      process.stdout.write(
        lines.map(l => JSON.stringify(l)).join('\n') +
          (lines.length ? '\n' : ''),
      );
    } catch (e) {
      if (e instanceof ScenarioError)
        process.stderr.write(`replay: ${e.message}\n`);
      else process.stderr.write(`replay: ${f}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
