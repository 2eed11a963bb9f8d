/**
 * The steps of the stock-portal test, each usable on its own: pack the
 * plugins, generate a portal from `@backstage/create-app`'s default template,
 * install the tarballs into it as a user would, check that the portal holds
 * one copy of every `@backstage/*` package Tollgate uses, build the app and
 * start the backend. Every child process runs in its own process group, so
 * `stopAll()` ends it and everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

/** The packages a portal installs: the backend plugin, the simulator module and the frontend plugin. */
export const BACKEND_PACKAGES = [
  '@tollgate/plugin-rollouts-backend',
  '@tollgate/plugin-rollouts-backend-module-simulator',
];
export const FRONTEND_PACKAGES = ['@tollgate/plugin-rollouts'];

export function log(message: string) {
  // eslint-disable-next-line no-console
  console.log(`[stock-portal] ${message}`);
}

const running = new Set<ChildProcess>();

// Commands run in their own process groups, which outlive this process
// unless it ends them: on exit, and when the test runner is interrupted.
function killAllNow() {
  for (const child of running) killGroup(child, 'SIGKILL');
}
process.once('exit', killAllNow);
const SIGNAL_EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
for (const signal of Object.keys(SIGNAL_EXIT_CODES) as Array<
  keyof typeof SIGNAL_EXIT_CODES
>) {
  process.once(signal, () => {
    killAllNow();
    process.exit(SIGNAL_EXIT_CODES[signal]);
  });
}

/**
 * The environment of every command: the test runner's variables (NODE_ENV=test,
 * VITEST_*, npm's lifecycle variables) left out, the yarn shim and this Node
 * first on PATH, node-gyp pointed at this Node's headers, and Yarn allowed to
 * write its lockfile in CI (it refuses by default when CI is set).
 */
export function commandEnv(
  toolsBin: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|TEST$|NODE_ENV$|INIT_CWD$)/i.test(key)) continue;
    env[key] = value;
  }
  const nodeHome = dirname(dirname(process.execPath));
  env.PATH = [toolsBin, dirname(process.execPath), process.env.PATH ?? ''].join(
    delimiter,
  );
  if (process.env.npm_config_nodedir)
    env.npm_config_nodedir = process.env.npm_config_nodedir;
  else if (existsSync(join(nodeHome, 'include', 'node', 'node.h')))
    env.npm_config_nodedir = nodeHome;
  env.YARN_ENABLE_IMMUTABLE_INSTALLS = 'false';
  env.YARN_ENABLE_TELEMETRY = '0';
  env.YARN_ENABLE_PROGRESS_BARS = 'false';
  env.YARN_ENABLE_COLORS = 'false';
  env.FORCE_COLOR = '0';
  return { ...env, ...extra };
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Every line of output is appended here. */
  logFile: string;
  timeoutMs: number;
}

/**
 * Starts a command in its own process group (so a stop ends all it started), logs the
 * command line and every byte of its output to the log file, and keeps the output.
 */
function spawnLogged(
  cmd: string,
  args: string[],
  options: Pick<RunOptions, 'cwd' | 'env' | 'logFile'>,
  suffix: string,
): { child: ChildProcess; output: () => string } {
  appendFileSync(
    options.logFile,
    `\n$ (cd ${options.cwd} && ${cmd} ${args.join(' ')})${suffix}\n`,
  );
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let output = '';
  const onData = (d: Buffer) => {
    output += d;
    appendFileSync(options.logFile, d);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return { child, output: () => output };
}

/** Runs a command to its end; throws with the tail of its output when it fails or times out. */
export function run(
  cmd: string,
  args: string[],
  options: RunOptions,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const { child, output } = spawnLogged(cmd, args, options, '');
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(
        new Error(
          `${cmd} ${args.join(' ')} timed out after ${options.timeoutMs / 1000} s:\n${output().slice(-4000)}`,
        ),
      );
    }, options.timeoutMs);
    child.on('error', e => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (code === 0) resolve(output());
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${output().slice(-4000)}`,
          ),
        );
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (
    child.pid === undefined ||
    child.exitCode !== null ||
    child.signalCode !== null
  )
    return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A long-running process (the backend): its output, and a stop that ends its whole process group. */
export interface Service {
  child: ChildProcess;
  logs: () => string;
  stop: () => Promise<void>;
}

export function startService(
  cmd: string,
  args: string[],
  options: Omit<RunOptions, 'timeoutMs'>,
): Service {
  const { child, output } = spawnLogged(cmd, args, options, ' &');
  const exited = new Promise<void>(resolve =>
    child.once('exit', () => resolve()),
  );
  child.once('exit', () => running.delete(child));
  return {
    child,
    logs: output,
    stop: async () => {
      killGroup(child, 'SIGTERM');
      await Promise.race([exited, new Promise(r => setTimeout(r, 15_000))]);
      killGroup(child, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await exited;
    },
  };
}

/** Ends every command still running (used when a phase fails or times out). */
export async function stopAll() {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
}

/** Phase timings, printed as they end and as a table at the end. */
export class Phases {
  readonly rows: Array<{ name: string; seconds: number; ok: boolean }> = [];

  async time<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    log(`${name} …`);
    try {
      const result = await fn();
      this.#end(name, started, true);
      return result;
    } catch (e) {
      this.#end(name, started, false);
      throw e;
    }
  }

  #end(name: string, started: number, ok: boolean) {
    const seconds = (Date.now() - started) / 1000;
    this.rows.push({ name, seconds, ok });
    log(`${name}: ${ok ? 'done' : 'FAILED'} in ${seconds.toFixed(1)} s`);
  }

  table(): string {
    const total = this.rows.reduce((s, r) => s + r.seconds, 0);
    const width = Math.max(...this.rows.map(r => r.name.length), 5);
    return [
      ...this.rows.map(
        r =>
          `  ${r.name.padEnd(width)}  ${r.seconds.toFixed(1).padStart(7)} s${r.ok ? '' : '  FAILED'}`,
      ),
      `  ${'total'.padEnd(width)}  ${total.toFixed(1).padStart(7)} s`,
    ].join('\n');
  }
}

/** The published name of each tarball `npm pack` wrote into dir. */
export function tarballs(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of readdirSync(dir)) {
    const m = file.match(/^tollgate-(.+)-\d+\.\d+\.\d+(?:-[\w.]+)?\.tgz$/);
    if (m) out[`@tollgate/${m[1]}`] = join(dir, file);
  }
  return out;
}

function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function writeJson(file: string, value: unknown) {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

const CATALOG_LOCATION = `    # Tollgate: a service whose rollouts the simulator runs
    - type: file
      target: ../../examples/tollgate.yaml
`;

/** A service annotated for the simulator (its target is one of the simulator's demo services). */
export const CATALOG_ENTITY = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: cart-service
  description: Shopping cart state and merge on sign-in
  annotations:
    tollgate.dev/rollouts: simulator:checkout/cart-service
    tollgate.dev/policy: default:standard
spec:
  type: service
  lifecycle: production
  owner: guests
`;

/** Tollgate's config: a quick gate loop, one named policy, the simulator. */
export const ROLLOUTS_CONFIG = `rollouts:
  schedule:
    frequencySeconds: 2
  telemetry:
    stepSeconds: 5
  defaultPolicy: standard
  policies:
    standard:
      slo:
        availability: 0.995
        latency:
          thresholdMs: 500
          objective: 0.99
  providers:
    simulator:
      seed: 42
      trafficScale: 20
`;

/**
 * Adds Tollgate to a create-app portal the way the README says: the packages
 * to the backend's and the app's dependencies, `backend.add(import(…))`, the
 * frontend plugin in `createApp`'s features, a catalog entity annotated for
 * the simulator and the `rollouts` config. The registry is stood in for by
 * root `resolutions` that point every `@tollgate/*` name at its tarball
 * (a user installing from the registry leaves them out).
 */
export function addTollgate(
  portal: string,
  packs: Record<string, string>,
  version: string,
) {
  const root = readJson(join(portal, 'package.json'));
  root.resolutions = { ...root.resolutions };
  for (const [name, file] of Object.entries(packs))
    root.resolutions[name] = `file:${file}`;
  writeJson(join(portal, 'package.json'), root);

  const backendPkg = join(portal, 'packages', 'backend', 'package.json');
  const backend = readJson(backendPkg);
  for (const name of BACKEND_PACKAGES)
    backend.dependencies[name] = `^${version}`;
  writeJson(backendPkg, backend);

  const appPkg = join(portal, 'packages', 'app', 'package.json');
  const app = readJson(appPkg);
  for (const name of FRONTEND_PACKAGES) app.dependencies[name] = `^${version}`;
  writeJson(appPkg, app);

  const backendIndex = join(portal, 'packages', 'backend', 'src', 'index.ts');
  const index = readFileSync(backendIndex, 'utf8');
  if (!index.includes('backend.start();'))
    throw new Error(
      `${backendIndex} has no backend.start(): the template changed`,
    );
  writeFileSync(
    backendIndex,
    index.replace(
      'backend.start();',
      [
        '// Tollgate: progressive delivery gates, with the simulator as deploy system and telemetry',
        "backend.add(import('@tollgate/plugin-rollouts-backend'));",
        "backend.add(import('@tollgate/plugin-rollouts-backend-module-simulator'));",
        '',
        'backend.start();',
      ].join('\n'),
    ),
  );

  const appTsx = join(portal, 'packages', 'app', 'src', 'App.tsx');
  const appSource = readFileSync(appTsx, 'utf8');
  if (!/features:\s*\[/.test(appSource))
    throw new Error(
      `${appTsx} has no createApp({ features: [...] }): the template changed`,
    );
  writeFileSync(
    appTsx,
    `import rolloutsPlugin from '@tollgate/plugin-rollouts/alpha';\n${appSource.replace(
      /features:\s*\[/,
      'features: [rolloutsPlugin, ',
    )}`,
  );

  writeFileSync(join(portal, 'examples', 'tollgate.yaml'), CATALOG_ENTITY);
  const configFile = join(portal, 'app-config.yaml');
  const config = readFileSync(configFile, 'utf8');
  const anchor = /^catalog:\n(?:.*\n)*? {2}locations:\n/m;
  if (!anchor.test(config))
    throw new Error(
      `${configFile} has no catalog.locations: the template changed`,
    );
  writeFileSync(
    configFile,
    `${config.replace(anchor, m => `${m}${CATALOG_LOCATION}`)}\n${ROLLOUTS_CONFIG}`,
  );
}

/** One installed package folder. */
interface Found {
  name: string;
  version: string;
  dir: string;
}

/** Every package folder under a node_modules tree (symlinks, i.e. workspace links, not followed). */
function walkNodeModules(nodeModules: string, out: Found[] = []): Found[] {
  if (!existsSync(nodeModules)) return out;
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue;
    const dirs = entry.startsWith('@')
      ? readdirSync(join(nodeModules, entry)).map(e =>
          join(nodeModules, entry, e),
        )
      : [join(nodeModules, entry)];
    for (const dir of dirs) {
      if (
        lstatSync(dir).isSymbolicLink() ||
        !existsSync(join(dir, 'package.json'))
      )
        continue;
      const pkg = readJson(join(dir, 'package.json'));
      out.push({ name: pkg.name, version: pkg.version, dir });
      walkNodeModules(join(dir, 'node_modules'), out);
    }
  }
  return out;
}

/** Node's lookup of `name` from inside `fromDir`: the nearest node_modules/name up the tree. */
function resolveFrom(
  fromDir: string,
  name: string,
  stopAt: string,
): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === stopAt || dir === dirname(dir)) return undefined;
  }
}

export interface CopyRow {
  dependency: string;
  /** Which Tollgate packages ask for it, with their ranges. */
  wantedBy: string[];
  /** Every copy of it in the portal: folder (relative to the portal) and version. */
  copies: string[];
  /** The folder Tollgate's packages load it from, relative to the portal. */
  loadedFrom: string[];
}

export interface CopyReport {
  rows: CopyRow[];
  /** Copies inside a Tollgate package's own node_modules. */
  nested: string[];
  /** More than one copy of a Tollgate package. */
  tollgateCopies: string[];
}

/**
 * Which copies of the `@backstage/*` packages Tollgate's installed packages
 * depend on the portal holds. One copy each, loaded by Tollgate from the
 * portal's top-level node_modules, is the only passing answer.
 */
export function copyReport(portal: string): CopyReport {
  const roots = [join(portal, 'node_modules')];
  for (const ws of ['packages', 'plugins']) {
    const base = join(portal, ws);
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base))
      roots.push(join(base, d, 'node_modules'));
  }
  const all = roots.flatMap(r => walkNodeModules(r));
  const tollgate = all.filter(p => p.name.startsWith('@tollgate/'));
  const byName = new Map<string, Found[]>();
  for (const p of all) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);

  const wanted = new Map<string, { by: string[]; loadedFrom: Set<string> }>();
  for (const t of tollgate) {
    const pkg = readJson(join(t.dir, 'package.json'));
    const deps = { ...pkg.peerDependencies, ...pkg.dependencies } as Record<
      string,
      string
    >;
    for (const [dep, range] of Object.entries(deps)) {
      if (!dep.startsWith('@backstage/')) continue;
      const entry = wanted.get(dep) ?? {
        by: [],
        loadedFrom: new Set<string>(),
      };
      entry.by.push(`${t.name.replace('@tollgate/', '')} ${range}`);
      const from = resolveFrom(t.dir, dep, portal);
      entry.loadedFrom.add(from ? relative(portal, from) : '(missing)');
      wanted.set(dep, entry);
    }
  }
  const rows = [...wanted.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([dependency, { by, loadedFrom }]) => ({
      dependency,
      wantedBy: by,
      copies: (byName.get(dependency) ?? [])
        .map(p => `${relative(portal, p.dir)}@${p.version}`)
        .sort(),
      loadedFrom: [...loadedFrom].sort(),
    }));
  const nested = all
    .filter(
      p =>
        p.name.startsWith('@backstage/') &&
        /node_modules\/@tollgate\/[^/]+\/node_modules\//.test(p.dir),
    )
    .map(p => `${relative(portal, p.dir)} (${p.version})`);
  const tollgateCopies = [...new Set(tollgate.map(t => t.name))]
    .filter(name => tollgate.filter(t => t.name === name).length > 1)
    .map(
      name =>
        `${name}: ${tollgate
          .filter(t => t.name === name)
          .map(t => relative(portal, t.dir))
          .join(', ')}`,
    );
  return { rows, nested, tollgateCopies };
}

export function formatCopyReport(report: CopyReport): string {
  const width = Math.max(...report.rows.map(r => r.dependency.length));
  return report.rows
    .map(r => {
      const copies =
        r.copies.length === 1
          ? `1 copy  ${r.copies[0].split('@').pop()}`
          : `${r.copies.length} COPIES: ${r.copies.join(', ')}`;
      const from =
        r.loadedFrom.length === 1 &&
        r.loadedFrom[0] === `node_modules/${r.dependency}`
          ? ''
          : `  loaded from ${r.loadedFrom.join(', ')}`;
      return `  ${r.dependency.padEnd(width)}  ${copies}${from}`;
    })
    .join('\n');
}

export function ensureDir(dir: string) {
  mkdirSync(dir, { recursive: true });
  return dir;
}
