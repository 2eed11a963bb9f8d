#!/usr/bin/env node
// `node scripts/run.mjs CMD [ARGS…]`: runs CMD on the project's Node (22 or 24, installed
// into .node/ when the machine has none) after installing the npm dependencies when they
// are missing or stale. Every npm script goes through it, so a fresh clone needs nothing
// but npm.
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { projectNode, projectNodeEnv, root } from './project-node.mjs';

const quiet = process.argv[2] === '--quiet';
const argv = process.argv.slice(quiet ? 3 : 2);
if (argv.length === 0) {
  console.error('usage: node scripts/run.mjs [--quiet] COMMAND [ARGS…]');
  process.exit(2);
}

let node;
try {
  node = projectNode({ quiet });
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
const env = projectNodeEnv(node);
execFileSync(
  node.bin,
  [join(root, 'scripts', 'ensure-deps.mjs'), ...(quiet ? ['--quiet'] : [])],
  {
    cwd: root,
    env,
    stdio: 'inherit',
  },
);

const [cmd, ...args] = argv;
const child = spawn(cmd === 'node' ? node.bin : cmd, args, {
  cwd: process.cwd(),
  env,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
