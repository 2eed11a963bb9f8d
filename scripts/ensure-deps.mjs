#!/usr/bin/env node
// Installs the workspace's npm dependencies when they are missing or stale.
// Uses only Node's standard library, so it runs on a fresh clone.
// "Stale" means a package.json or .npmrc changed, or the Node ABI, since the last
// successful install (a hash of them is kept in node_modules).
import { createHash } from 'node:crypto';
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const stampFile = join(root, 'node_modules', '.tollgate-install-stamp');

function manifests() {
  const files = [join(root, 'package.json'), join(root, '.npmrc')];
  for (const dir of ['packages', 'plugins']) {
    const base = join(root, dir);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      const file = join(base, name, 'package.json');
      if (existsSync(file)) files.push(file);
    }
  }
  return files;
}

function currentHash() {
  const h = createHash('sha256');
  // native modules (better-sqlite3) are built for one Node ABI: a new Node reinstalls
  h.update(`node-abi:${process.versions.modules}\n`);
  for (const file of manifests()) {
    h.update(file.slice(root.length));
    h.update(readFileSync(file));
  }
  return h.digest('hex');
}

const want = currentHash();
const have = existsSync(stampFile)
  ? readFileSync(stampFile, 'utf8').trim()
  : '';
if (want === have && existsSync(join(root, 'node_modules', '.bin', 'vitest'))) {
  process.exit(0);
}
if (!quiet) {
  console.log(
    '[tollgate] installing npm dependencies (first run takes a few minutes)…',
  );
}
execSync('npm install --no-audit --no-fund --loglevel=error', {
  cwd: root,
  stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
});
// installed before under another Node: rebuild the native modules for this one
const abiFile = join(root, 'node_modules', '.tollgate-node-abi');
const builtFor = existsSync(abiFile)
  ? readFileSync(abiFile, 'utf8').trim()
  : process.versions.modules;
if (builtFor !== process.versions.modules) {
  if (!quiet)
    console.log(
      `[tollgate] rebuilding native modules for Node ${process.versions.node}…`,
    );
  execSync('npm rebuild better-sqlite3 --loglevel=error', {
    cwd: root,
    stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
  });
}
writeFileSync(abiFile, `${process.versions.modules}\n`);
writeFileSync(stampFile, `${currentHash()}\n`);
