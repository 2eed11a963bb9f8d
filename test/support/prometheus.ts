/**
 * A private Prometheus for tests (Debian's `prometheus` package, which
 * brings `promtool`). Series are backfilled from OpenMetrics text with
 * `promtool tsdb create-blocks-from openmetrics`, then Prometheus serves them
 * from that TSDB on a free loopback port, with no scrape targets.
 * Outside CI a missing installation skips the suites with a clear message; in
 * CI (CI=true) it is an error.
 */
import { freePort, runsOrSkips } from './system';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrometheusServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops Prometheus and removes its data directory. */
  stop(): Promise<void>;
}

function runs(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/** Why Prometheus tests cannot run here, or undefined when they can. */
export function prometheusUnavailableReason(): string | undefined {
  if (!runs('prometheus') || !runs('promtool')) {
    return 'Prometheus is not installed (Debian package `prometheus`, which brings promtool)';
  }
  return undefined;
}

/** Fails in CI, where every suite must run; elsewhere says it skips. */
export function assertPrometheusOrSkip(suite: string): boolean {
  return runsOrSkips(suite, prometheusUnavailableReason());
}

/** One series for `openMetrics`: samples as [epoch seconds, value] (value may be NaN). */
export interface OpenMetricsSeries {
  /** Sample name, e.g. `http_requests_total` or `http_request_duration_seconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  samples: Array<[number, number]>;
}

/**
 * Writes OpenMetrics text for backfilling. `family` groups series under one
 * `# TYPE` line (counter families drop `_total`, histogram families
 * `_bucket`). Timestamps are in seconds; the text ends with `# EOF`.
 */
export function openMetrics(
  families: Array<{
    family: string;
    type: 'counter' | 'gauge' | 'histogram' | 'unknown';
    series: OpenMetricsSeries[];
  }>,
): string {
  const lines: string[] = [];
  const fmt = (v: number) => {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return '+Inf';
    return v === -Infinity ? '-Inf' : String(v);
  };
  for (const f of families) {
    lines.push(`# TYPE ${f.family} ${f.type}`);
    for (const s of f.series) {
      const labels = Object.entries(s.labels)
        .map(
          ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
        )
        .join(',');
      for (const [t, v] of [...s.samples].sort((a, b) => a[0] - b[0])) {
        lines.push(`${s.name}{${labels}} ${fmt(v)} ${t}`);
      }
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
/** A test runner that dies without afterAll must not leave Prometheus behind. */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/**
 * Backfills `openMetrics` into a new TSDB and starts Prometheus on it.
 * Samples must lie in the past and within the retention (15 days); a query
 * must ask for the backfilled range.
 */
export async function startPrometheus(options: {
  openMetrics: string;
  readyTimeoutMs?: number;
}): Promise<PrometheusServer> {
  const reason = prometheusUnavailableReason();
  if (reason) throw new Error(reason);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prom-'));
  const tsdb = join(dir, 'tsdb');
  const log: string[] = [];
  let child: ChildProcess | undefined;

  const cleanUp = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>(resolve =>
        child!.once('exit', () => resolve()),
      );
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (child) running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const file = join(dir, 'data.om');
    writeFileSync(file, options.openMetrics);
    const backfill = spawnSync(
      'promtool',
      ['tsdb', 'create-blocks-from', 'openmetrics', file, tsdb],
      { encoding: 'utf8' },
    );
    if (backfill.status !== 0) {
      throw new Error(
        `promtool tsdb create-blocks-from openmetrics failed: ${(backfill.stderr || backfill.stdout || '').trim()}`,
      );
    }
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      'global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n',
    );
    const port = await freePort();
    installExitHook();
    child = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${tsdb}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=30d',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    const keep = (b: Buffer) => {
      log.push(b.toString());
      if (log.length > 200) log.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready: ${log.join('').trim()}`,
        );
      }
      try {
        const res = await fetch(`${url}/-/ready`, {
          signal: AbortSignal.timeout(1_000),
        });
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(
          `prometheus was not ready within the timeout: ${log.join('').trim()}`,
        );
      await new Promise(r => setTimeout(r, 100));
    }
    return { url, stop: cleanUp };
  } catch (e) {
    await cleanUp();
    throw e;
  }
}
