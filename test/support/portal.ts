/**
 * Starts the demo portal (the built app served by the demo backend) on a
 * free port with a fresh SQLite folder, for end-to-end tests.
 */
import { freePort, runsOrSkips } from './system';
import { spawn, execSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

export function chromiumPath(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(p =>
    existsSync(p),
  );
}

/** The flags every suite and bench launches Chromium with (a persistent context too). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Headless Chromium as every end-to-end suite runs it (no sandbox, GPU,
 * QUIC or background traffic). playwright-core is loaded only here, when a
 * suite that runs asks for it.
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
  });
}

/** Outside CI a missing Chromium skips the suite with a message; in CI it fails. */
export function assertChromiumOrSkip(suite: string): boolean {
  return runsOrSkips(
    suite,
    chromiumPath()
      ? undefined
      : 'Chromium is not installed (Debian package `chromium`; .ci/run installs it)',
  );
}

/** What the app's bundle is built from: a change to any of these rebuilds it. */
const APP_SOURCES = [
  'packages/app/src',
  'packages/app/public',
  'packages/app/package.json',
  'plugins/rollouts/src',
  'plugins/rollouts-common/src',
  'plugins/rollouts/config.d.ts',
  'app-config.yaml',
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path))
    newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function sleepSync(ms: number) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds the demo app's bundle unless it is newer than everything it is
 * built from. End-to-end files run in parallel workers: one builds while
 * the others wait on a lock (a folder, created atomically), then find the
 * bundle fresh; no worker ever serves a half-written bundle.
 */
export function buildApp() {
  const lock = join(repoRoot, 'packages', 'app', '.build-lock');
  const stamp = join(repoRoot, 'packages', 'app', 'dist', '.tollgate-built');
  const waitUntil = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock older than a build can take was left by a killed run
      const heldSince = existsSync(lock) ? statSync(lock).mtimeMs : Date.now();
      if (Date.now() - heldSince > 15 * 60_000)
        rmSync(lock, { recursive: true, force: true });
      if (Date.now() > waitUntil)
        throw new Error(`buildApp: ${lock} is held for over 15 minutes`);
      sleepSync(500);
    }
  }
  try {
    const sources = Math.max(
      ...APP_SOURCES.map(p => newestMtime(join(repoRoot, p))),
    );
    if (existsSync(stamp) && statSync(stamp).mtimeMs > sources) return;
    execSync('npm run build --workspace @tollgate/app', {
      cwd: repoRoot,
      stdio: 'pipe',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    writeFileSync(stamp, new Date().toISOString());
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export { freePort };

export interface Portal {
  baseUrl: string;
  dataDir: string;
  process: ChildProcess;
  logs: () => string;
  stop: () => Promise<void>;
  /** `kill -9`: no shutdown hooks, no flushing; the data folder stays. */
  kill: () => Promise<void>;
}

export interface PortalOptions {
  /** Reuse a data folder (SQLite files, simulator state) from an earlier run; it is then left in place. */
  dataDir?: string;
  port?: number;
  /** Wait until sign-in works (the catalog lists the guest); default true. */
  waitForCatalog?: boolean;
}

export async function startPortal(
  env: Record<string, string> = {},
  options: PortalOptions = {},
): Promise<Portal> {
  const port = options.port ?? (await freePort());
  const baseUrl = `http://localhost:${port}`;
  const ownsData = !options.dataDir;
  const dataDir =
    options.dataDir ?? mkdtempSync(join(tmpdir(), 'tollgate-e2e-'));
  let output = '';
  const child = spawn(
    process.execPath,
    [
      '--require',
      join(
        repoRoot,
        'node_modules',
        '@backstage',
        'cli-node',
        'config',
        'nodeTransform.cjs',
      ),
      join(repoRoot, 'packages', 'backend', 'src', 'index.ts'),
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        NODE_ENV: 'development',
        TOLLGATE_DATA_DIR: dataDir,
        APP_CONFIG_backend_listen_port: String(port),
        APP_CONFIG_backend_baseUrl: baseUrl,
        APP_CONFIG_app_baseUrl: baseUrl,
        APP_CONFIG_backend_cors_origin: baseUrl,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', d => (output += d));
  child.stderr!.on('data', d => (output += d));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `backend exited (${child.exitCode}):\n${output.slice(-3000)}`,
      );
    try {
      const res = await fetch(`${baseUrl}/api/rollouts/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `backend did not become healthy:\n${output.slice(-3000)}`,
      );
    await new Promise(r => setTimeout(r, 500));
  }
  // Sign-in resolves the guest through the catalog: wait until it is there.
  for (; options.waitForCatalog !== false;) {
    try {
      const token = await guestToken(baseUrl);
      const res = await fetch(
        `${baseUrl}/api/catalog/entities/by-name/user/default/guest`,
        {
          headers: { Authorization: `Bearer ${token}` },
        },
      );
      if (res.ok) break;
    } catch {
      // catalog still starting
    }
    if (Date.now() > deadline)
      throw new Error(
        `catalog never listed the guest user:\n${output.slice(-3000)}`,
      );
    await new Promise(r => setTimeout(r, 500));
  }
  const exited = new Promise<void>(resolve =>
    child.once('exit', () => resolve()),
  );
  return {
    baseUrl,
    dataDir,
    process: child,
    logs: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      // A graceful stop lets the gate loop finish the action it is taking.
      await Promise.race([exited, new Promise(r => setTimeout(r, 20_000))]);
      if (child.exitCode === null && child.signalCode === null)
        child.kill('SIGKILL');
      await exited;
      if (ownsData) rmSync(dataDir, { recursive: true, force: true });
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A guest token, as the app gets it. */
export async function guestToken(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/auth/guest/refresh`, {
    method: 'POST',
    headers: { 'x-requested-with': 'XMLHttpRequest' },
  });
  const body = (await res.json()) as any;
  return body.backstageIdentity.token;
}
