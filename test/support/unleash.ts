/**
 * A real Unleash server (the `unleash-server` dev dependency, 8.x) for
 * tests, on a private PostgreSQL cluster from `./postgres`. Starting one
 * takes a few seconds: start it once per test file, in `beforeAll`.
 *
 * Use `assertPostgresOrSkip(suite)` from `./postgres` first: Unleash needs
 * PostgreSQL, so the same system package decides whether the suite runs.
 */
import { freePort } from './system';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startPostgres, type PostgresServer } from './postgres';

export interface UnleashServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** An admin API token (`*:*.<secret>`), created at first start through `INIT_ADMIN_API_TOKENS`. */
  adminToken: string;
  /** Milliseconds from spawning the server to its first authenticated admin API answer. */
  startMs: number;
  /**
   * Calls the admin API with the admin token; throws on a non-2xx answer
   * with the method, path, status and body.
   */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Stops Unleash (its whole process group) and the PostgreSQL cluster. Safe to call twice. */
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(__dirname, '../..');
const SERVER_JS = join(REPO_ROOT, 'node_modules/unleash-server/dist/server.js');

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Kills a detached child's whole process group; true when it was still running. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid)
    return false;
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts PostgreSQL, creates a database and runs
 * `node node_modules/unleash-server/dist/server.js` on a free port against
 * it, with one admin API token. Resolves once `/health` is GOOD and the
 * token is accepted.
 */
export async function startUnleash(
  options: { timeoutMs?: number } = {},
): Promise<UnleashServer> {
  if (!existsSync(SERVER_JS)) {
    throw new Error(
      `unleash-server is not installed (${SERVER_JS} is missing): run npm install`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 90_000;
  let pg: PostgresServer | undefined;
  let child: ChildProcess | undefined;
  let stopped = false;
  const output: string[] = [];

  // A crashed or interrupted test run must not leave Unleash or PostgreSQL behind.
  const onExit = () => {
    if (child) killGroup(child, 'SIGKILL');
    pg?.stop();
  };
  process.once('exit', onExit);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    if (child && killGroup(child, 'SIGTERM')) {
      const c = child;
      const exited = new Promise<void>(r => c.once('exit', () => r()));
      const timedOut = await Promise.race([
        exited.then(() => false),
        sleep(5_000).then(() => true),
      ]);
      if (timedOut) {
        killGroup(c, 'SIGKILL');
        await Promise.race([exited, sleep(2_000)]);
      }
    }
    pg?.stop(); // stops the cluster and removes its temporary directory
  };

  try {
    pg = await startPostgres();
    await pg.createDatabase('unleash');
    const db = pg.connection('unleash');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const adminToken = `*:*.${randomBytes(16).toString('hex')}`;
    const began = Date.now();
    child = spawn(process.execPath, [SERVER_JS], {
      cwd: REPO_ROOT,
      detached: true, // its own process group, so stop() takes every descendant with it
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        TZ: 'UTC',
        NODE_ENV: 'production',
        DATABASE_URL: `postgres://${db.user}@${db.host}:${db.port}/${db.database}`,
        DATABASE_SSL: 'false',
        DATABASE_POOL_MIN: '0',
        DATABASE_POOL_MAX: '4',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        INIT_ADMIN_API_TOKENS: adminToken,
        LOG_LEVEL: 'warn',
        CHECK_VERSION: 'false',
        SEND_TELEMETRY: 'false',
      },
    });
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const tail = () => output.join('').split('\n').slice(-30).join('\n');

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `unleash-server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail()}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `unleash-server was not ready within ${timeoutMs} ms:\n${tail()}`,
        );
      }
      try {
        const health = await fetch(`${url}/health`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (health.ok) {
          const projects = await fetch(`${url}/api/admin/projects`, {
            headers: { Authorization: adminToken },
            signal: AbortSignal.timeout(2_000),
          });
          if (projects.ok) break;
        }
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    const startMs = Date.now() - began;

    const admin = async <T>(
      method: string,
      path: string,
      body?: unknown,
    ): Promise<T> => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          Authorization: adminToken,
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (!res.ok)
        throw new Error(
          `Unleash ${method} ${path} answered ${res.status}: ${text}`,
        );
      return (text ? JSON.parse(text) : undefined) as T;
    };

    return { url, adminToken, startMs, admin, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
