#!/usr/bin/env node
// `npm start`: build the demo app (when its sources changed) and run the
// demo backend, which serves the app and the API on one port.
import { spawn, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const appDist = join(root, 'packages', 'app', 'dist', 'index.html');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    newest = Math.max(
      newest,
      entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs,
    );
  }
  return newest;
}

const frontendSources = [
  join(root, 'packages', 'app'),
  join(root, 'plugins', 'rollouts'),
  join(root, 'plugins', 'rollouts-common'),
];
const needsBuild =
  process.env.TOLLGATE_SKIP_APP_BUILD !== '1' &&
  (!existsSync(appDist) ||
    Math.max(...frontendSources.map(newestMtime)) > statSync(appDist).mtimeMs);
if (needsBuild) {
  console.log('[tollgate] building the demo app…');
  execSync('npm run build --workspace @tollgate/app', {
    cwd: root,
    stdio: 'inherit',
  });
}

mkdirSync(join(root, 'data'), { recursive: true });
const child = spawn(
  process.execPath,
  [
    '--require',
    require_resolve('@backstage/cli-node/config/nodeTransform.cjs'),
    join(root, 'packages', 'backend', 'src', 'index.ts'),
    ...process.argv.slice(2),
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: { NODE_ENV: 'development', ...process.env },
  },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', code => process.exit(code ?? 0));

function require_resolve(id) {
  return join(root, 'node_modules', ...id.split('/'));
}
