/**
 * npm run bench:api [-- --db sqlite|postgres|both] [--duration 10] [--connections 50]
 *                      [--decisions 1000000] [--routes health,summary,services,list,detail,decisions,evidence] [--gzip]
 *
 * Seeds a database (1,000 services, 10,000 rollouts, 1,000,000 hash-chained
 * decisions), starts the real rollouts backend plugin on it in-process
 * (`startTestBackend`: mock auth, a catalog of the 1,000 services, Backstage's
 * own database service pointed at the seeded database), then loads each route
 * with `--connections` concurrent clients (autocannon, in a child process so
 * it does not share the server's event loop) for `--duration` seconds, and
 * prints requests/s, p50, p99 and the non-2xx count per route, and each
 * route's p99 as a multiple of `/health`'s p99 measured in the same run (the
 * floor of this machine and stack, so runs under different load compare),
 * and as a multiple of `/health`'s p99 loaded again for half as long right
 * before the route (the floor of the same minute: the load of 2 shared
 * cores drifts over a run).
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import rolloutsPlugin from '@tollgate/plugin-rollouts-backend';
import {
  computeSummary,
  DatabaseRolloutsStore,
} from '@tollgate/plugin-rollouts-backend/testUtils';
import {
  API_SEED,
  BENCH_POLICY,
  describeSeed,
  mulberry32,
  openBenchDatabase,
  parseArgs,
  seedBenchDatabase,
  type BenchDbKind,
  type SeedResult,
  forEachBenchDatabase,
} from './seed';
import { PostgresCpu } from './serverCpu';

const P99_TARGET_MS = 50;

interface ClientSpec {
  url: string;
  headers: Record<string, string>;
  paths: string[];
  connections: number;
  duration: number;
}

interface RouteResult {
  route: string;
  example: string;
  requestsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  total: number;
  non2xx: number;
  errors: number;
  bytesPerResponse: number;
  serverCpuMsPerRequest: number;
  /** PostgreSQL's processes' CPU per request (undefined on SQLite). */
  postgresCpuMsPerRequest?: number;
  /** The load generator's CPU per request. */
  clientCpuMsPerRequest: number;
  /** /health's p99 loaded for half as long right before this route: the floor in the same minute. */
  adjacentHealthP99?: number;
}

/** Child-process side: run autocannon over the spec's paths and print its result as JSON. */
async function runClient(specFile: string) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const autocannon = require('autocannon');
  const spec: ClientSpec = JSON.parse(readFileSync(specFile, 'utf8'));
  let i = 0;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    headers: spec.headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req: any) => {
          req.path = spec.paths[i++ % spec.paths.length];
          return req;
        },
      },
    ],
  });
  // the load generator's own CPU: it shares the machine's two cores with the server (and PostgreSQL)
  const cpu = process.cpuUsage();
  process.send!(
    { ...result, clientCpuMs: (cpu.user + cpu.system) / 1000 },
    () => process.exit(0),
  );
}

function shuffle<T>(xs: T[], rng: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

function routePaths(
  seed: SeedResult,
  decisionKeys: Array<{ rolloutId: string; seq: number }>,
): Record<string, string[]> {
  const rng = mulberry32(99);
  const base = '/api/rollouts/v1';
  const rollouts = shuffle([...seed.rollouts], rng).slice(0, 2000);
  const services = shuffle(
    seed.entities.map(e => `component:default/${e.metadata.name}`),
    rng,
  );
  return {
    // calibration only (--routes health,…): the Backstage HTTP stack with no auth, store or JSON to speak of
    health: ['/api/rollouts/health'],
    // the dashboard's figures over every service the caller may see, 30 days (as the dashboard asks for them)
    summary: [`${base}/summary?days=30`],
    // the dashboard's service panels: pages of 20 service rows, most budget spent first, over the 1,000 services
    services: Array.from(
      { length: 50 },
      (_, page) =>
        `${base}/summary/services?days=30&sort=budgetSpent&order=desc&offset=${page * 20}&limit=20`,
    ),
    // a service's past rollouts, one page (the entity tab asks for these)
    list: services.map(
      ref =>
        `${base}/rollouts?entityRef=${encodeURIComponent(ref)}&status=finished&limit=20`,
    ),
    detail: rollouts.map(r => `${base}/rollouts/${r.id}`),
    // a rollout's newest decisions, one page of 50 (the decision timeline), without evidence bodies
    decisions: rollouts.map(r => `${base}/rollouts/${r.id}/decisions?limit=50`),
    // one decision's evidence, as the timeline fetches it when an entry is opened
    evidence: decisionKeys.map(
      d => `${base}/rollouts/${d.rolloutId}/decisions/${d.seq}/evidence`,
    ),
  };
}

/** How much real content an answer of `route` carries: its items (health: 1; detail: 1 with evidence). */
function answerSize(route: string, body: any): number {
  if (route === 'health') return 1;
  if (route === 'summary') return body.servicesTotal;
  if (route === 'detail') return body.evidence ? 1 : 0;
  if (route === 'evidence') return body.seq ? 1 : 0;
  return body.items.length;
}

/** What every route's load shares: the server, the client's headers and connections, the spec files' folder, the database server's CPU meter. */
interface LoadContext {
  url: string;
  headers: Record<string, string>;
  connections: number;
  dir: string;
  postgresCpu?: PostgresCpu;
}

async function loadRoute(
  load: LoadContext,
  route: string,
  paths: string[],
  duration: number,
): Promise<RouteResult> {
  const { url, headers, connections, dir } = load;
  const specFile = join(dir, `${route}.json`);
  const spec: ClientSpec = { url, headers, paths, connections, duration };
  writeFileSync(specFile, JSON.stringify(spec));
  const cpu0 = process.cpuUsage();
  const pg0 = load.postgresCpu?.ms();
  const result: any = await new Promise((resolve, reject) => {
    const child = fork(__filename, ['--client', specFile], {
      execArgv: process.execArgv,
      stdio: 'inherit',
    });
    child.once('message', resolve);
    child.once('error', reject);
    child.once('exit', code =>
      code ? reject(new Error(`load client exited with ${code}`)) : undefined,
    );
  });
  // Requests still queued when the client stopped keep the server busy: wait for it to drain
  // (its CPU counts for this route) before the next route starts.
  await drain(url);
  const cpu = process.cpuUsage(cpu0);
  const pgMs = pg0 === undefined ? undefined : load.postgresCpu!.ms() - pg0;
  const total = result.requests.total as number;
  return {
    route,
    example: paths[0],
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    bytesPerResponse: total ? result.throughput.total / total : 0,
    serverCpuMsPerRequest: total ? (cpu.user + cpu.system) / 1000 / total : 0,
    postgresCpuMsPerRequest:
      total && pgMs !== undefined ? pgMs / total : undefined,
    clientCpuMsPerRequest: total ? result.clientCpuMs / total : 0,
  };
}

/** Waits until the server answers /health within 20 ms again (at most 5 minutes). */
async function drain(url: string) {
  const until = Date.now() + 300_000;
  while (Date.now() < until) {
    const t0 = performance.now();
    await fetch(`${url}/api/rollouts/health`).then(r => r.arrayBuffer());
    if (performance.now() - t0 < 20) return;
    await new Promise(r => setTimeout(r, 100));
  }
}

function table(rows: RouteResult[]): string {
  const health = rows.find(r => r.route === 'health');
  const head = [
    'route',
    'req/s',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'requests',
    'non-2xx',
    'errors',
    'KiB/resp',
    'server CPU ms/req',
    'PostgreSQL CPU ms/req',
    'client CPU ms/req',
    'p99 / health p99',
    'p99 / adjacent health p99',
    `p99 ≤ ${P99_TARGET_MS} ms`,
  ];
  const lines = rows.map(r => [
    r.route,
    r.requestsPerSec.toFixed(0),
    String(r.p50),
    String(r.p90),
    String(r.p99),
    String(r.max),
    String(r.total),
    String(r.non2xx),
    String(r.errors),
    (r.bytesPerResponse / 1024).toFixed(1),
    r.serverCpuMsPerRequest.toFixed(2),
    r.postgresCpuMsPerRequest === undefined
      ? '—'
      : r.postgresCpuMsPerRequest.toFixed(2),
    r.clientCpuMsPerRequest.toFixed(2),
    health && health.p99 > 0 ? `${(r.p99 / health.p99).toFixed(1)}×` : '—',
    r.adjacentHealthP99
      ? `${(r.p99 / r.adjacentHealthP99).toFixed(1)}× (${r.adjacentHealthP99})`
      : '—',
    r.p99 <= P99_TARGET_MS && r.non2xx === 0 && r.errors === 0
      ? 'met'
      : 'missed',
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...lines.map(l => l[i].length)),
  );
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    fmt(head),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...lines.map(fmt),
  ].join('\n');
}

async function benchOne(kind: BenchDbKind, args: Map<string, string>) {
  const duration = Number(args.get('duration') ?? 10);
  const connections = Number(args.get('connections') ?? 50);
  const decisions = Number(args.get('decisions') ?? API_SEED.decisions);
  const routes = (
    args.get('routes') ??
    'health,summary,services,list,detail,decisions,evidence'
  ).split(',');
  const db = await openBenchDatabase(kind);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-api-'));
  let backend: Awaited<ReturnType<typeof startTestBackend>> | undefined;
  try {
    const seed = await seedBenchDatabase(db.knex, {
      ...API_SEED,
      decisions,
      now: new Date(),
    });
    console.log(describeSeed(db.label, seed));

    // The summary's own cost, without its cache: what the first request after a write pays.
    const store = DatabaseRolloutsStore.fromKnex(db.knex);
    const everyService = seed.entities.map(
      e => `component:default/${e.metadata.name}`,
    );
    const computeMs: number[] = [];
    for (let i = 0; i < 12; i++) {
      const c0 = performance.now();
      await computeSummary(store, {
        days: 30,
        entityRefs: everyService,
        cacheTtlMs: 0,
      });
      computeMs.push(performance.now() - c0);
    }
    computeMs.sort((a, b) => a - b);
    console.log(
      `${db.label}: summary computed without its cache (1,000 services, 30 days): median ${computeMs[6].toFixed(1)} ms, max ${computeMs[11].toFixed(1)} ms over 12 runs`,
    );

    const t0 = performance.now();
    backend = await startTestBackend({
      features: [
        rolloutsPlugin,
        catalogServiceMock.factory({ entities: seed.entities }),
        mockServices.rootConfig.factory({
          data: {
            backend: { database: db.backendDatabaseConfig },
            rollouts: {
              schedule: { frequencySeconds: 3600 },
              defaultPolicy: 'standard',
              policies: { standard: BENCH_POLICY },
            },
          },
        }),
        // the gate loop is bench:loop's business; keep it out of the API figures
        mockServices.scheduler.factory({ skipTaskRunOnStartup: true }),
      ],
    });
    const { port } = backend.server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    const headers: Record<string, string> = {
      authorization: mockCredentials.user.header('user:default/bench-viewer'),
      ...(args.has('gzip') ? { 'accept-encoding': 'gzip' } : {}),
    };
    console.log(
      `${db.label}: backend started in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${url}`,
    );

    // decisions the evidence route asks for: seqs spread over the log, each with its rollout
    const rng = mulberry32(7);
    const total = Number(
      (await db.knex('decision_chain').where({ id: 1 }).first()).seq,
    );
    const seqs = Array.from(
      { length: 2000 },
      () => 1 + Math.floor(rng() * total),
    );
    const decisionKeys = (
      await db
        .knex('decisions')
        .select('rollout_id', 'seq')
        .whereIn('seq', seqs)
    ).map(r => ({ rolloutId: r.rollout_id, seq: Number(r.seq) }));
    const paths = routePaths(seed, decisionKeys);
    const load: LoadContext = {
      url,
      headers,
      connections,
      dir,
      postgresCpu:
        kind === 'postgres' ? await PostgresCpu.of(db.knex) : undefined,
    };
    // Every route must answer 200 with real content: a benchmark of 401s is worthless.
    for (const route of routes) {
      for (const path of paths[route].slice(0, 3)) {
        const res = await fetch(`${url}${path}`, { headers });
        const body: any = await res.json();
        if (res.status !== 200)
          throw new Error(
            `${route}: ${path} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`,
          );
        const size = answerSize(route, body);
        if (!size)
          throw new Error(
            `${route}: ${path} answered 200 but empty: ${JSON.stringify(body).slice(0, 300)}`,
          );
      }
      // warm-up (JIT, caches, connection pool)
      await loadRoute(load, route, paths[route], 2);
    }

    const results: RouteResult[] = [];
    for (const route of routes) {
      // The machine's load drifts over a run (2 shared cores): /health again right before
      // each route gives a floor from the same minute beside the one from the start.
      const adjacent =
        route === 'health' || !routes.includes('health')
          ? undefined
          : await loadRoute(
              load,
              'health',
              paths.health,
              Math.max(2, Math.round(duration / 2)),
            );
      results.push({
        ...(await loadRoute(load, route, paths[route], duration)),
        adjacentHealthP99: adjacent?.p99,
      });
    }
    console.log(
      `\n${db.label}: ${connections} connections per route, ${duration} s each${args.has('gzip') ? ', gzip' : ''}`,
    );
    console.log(table(results));
    for (const r of results) console.log(`  ${r.route}: e.g. GET ${r.example}`);
    return results;
  } finally {
    await backend?.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('client')) {
    await runClient(args.get('client')!);
    return;
  }
  await forEachBenchDatabase('bench:api', args, benchOne);
}

if (require.main === module) {
  main().then(
    () => {
      if (!parseArgs(process.argv.slice(2)).has('client')) process.exit(0);
    },
    e => {
      console.error(e);
      process.exit(1);
    },
  );
}
