/**
 * npm run bench:ui [-- --runs 5] [--decisions 1000000] [--build] [--entity cart-service]
 *
 * First render of the demo portal's two Tollgate pages in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core), with the rollouts
 * database seeded as for `bench:api` (`seed.ts`, `API_SEED`: 1,000
 * services, 10,000 rollouts of which 1,000 active, 1,000,000 hash-chained
 * decisions):
 *
 * 1. the executive dashboard, `/rollouts` (target ≤ 2.5 s);
 * 2. a service's Rollouts tab, `/catalog/default/component/<entity>/rollouts`
 *    (target ≤ 1.5 s). The demo catalog knows only the demo services, so the
 *    tab is measured on a demo service (`--entity`, default `cart-service`)
 *    with its simulator rollout, in the same seeded database.
 *
 * "First render" is the time from the navigation's start to the first
 * animation frame in which the page's main content is in the DOM with data:
 * on the dashboard the KPI tiles (`data-testid="kpi-tiles"`) and at least one
 * row of the active-rollouts table; on the tab
 * the rollout summary (`data-testid="rollout-summary"`) and at least one row
 * of the KPI table (`data-testid="kpi-row-…"`). It is measured inside the
 * page (`performance.now()` in a requestAnimationFrame poll), not by the
 * driver, so the driver's round trips are not in it.
 *
 * - cold: a fresh browser context (empty HTTP cache, nothing loaded) of a
 *   guest who has signed in before (the sign-in choice is in local storage,
 *   as after a reload), opening the page's URL; timed from navigation start
 *   (`performance.timeOrigin`). Before each cold run the bench waits 6 s, so
 *   the backend's 5 s summary cache has expired and the summary is computed
 *   afresh.
 * - warm: in that same tab, after the cold run, the app is already loaded
 *   (bundle, sign-in, catalog): the bench goes to a neighbouring page
 *   (`/catalog` for the dashboard, the entity's Overview for the tab), waits
 *   for it to settle, then clicks the sidebar's "Rollouts" item or the
 *   entity's "Rollouts" tab; timed from the click.
 *
 * For the median cold run and the median warm run of each page it prints where the time went, from
 * the page's Resource Timing: the app's scripts (count, bytes on the wire and
 * decoded, when the last one had arrived), each Tollgate API call (start,
 * waiting for the first byte, end, size), the time from the last Tollgate
 * answer to the content, and the main thread's long tasks.
 *
 * Permissions are off in the portal (`permission.enabled=false`) unless
 * `--permissions`: with them on, `GET /v1/summary` and
 * `GET /v1/rollouts?status=active` answer 413 at 1,000 services, because the
 * plugin asks the permission backend about every entity ref in one
 * `authorize` request (216 KB), over the permission backend's 100 KB body
 * limit; the dashboard then shows an error instead of data.
 *
 * The portal is the built demo app (`packages/app/dist`, built if missing or
 * with `--build`) served by the demo backend (`startPortal`) on a data folder
 * whose `rollouts.sqlite` was seeded first; the seeded services join the
 * demo catalog (a file location in that folder, `APP_CONFIG_catalog_locations`),
 * since the plugin answers only for services the catalog knows, and the bench
 * waits until the summary lists all of them. The gate loop runs every hour
 * (`rollouts.schedule.frequencySeconds=3600`): its one run at start imports
 * the simulator's releases and evaluates them, then it stays idle during the
 * measurement. The simulator manages only its own targets; the seeded
 * rollouts belong to a provider (`bench`) the portal does not have, so the
 * loop leaves them alone.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  buildApp,
  CHROMIUM_ARGS,
  chromiumPath,
  guestToken,
  repoRoot,
  startPortal,
  type Portal,
} from '@tollgate/test-support';
import {
  API_SEED,
  describeSeed,
  machineLine,
  openBenchDatabase,
  parseArgs,
  seedBenchDatabase,
} from './seed';

const TARGET_MS = { dashboard: 2500, tab: 1500 } as const;
type PageKind = keyof typeof TARGET_MS;

interface ResourceRow {
  name: string;
  initiatorType: string;
  startTime: number;
  requestStart: number;
  responseStart: number;
  responseEnd: number;
  transferSize: number;
  encodedBodySize: number;
  decodedBodySize: number;
}

interface RunResult {
  ms: number;
  resources: ResourceRow[];
  longTasksMs: number;
  longTasks: number;
  domContentLoaded: number;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const ms = (x: number) => `${Math.round(x).toLocaleString('en-US')} ms`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

/** Runs in the page, every animation frame: the time when the main content is there, or false. */
function contentShown(arg: { kind: PageKind; t0: number }): number | false {
  const fresh = (el: Element) => !el.closest('[data-bench-old]');
  if (arg.kind === 'dashboard') {
    const tiles = document.querySelector('[data-testid="kpi-tiles"]');
    if (!tiles || !fresh(tiles)) return false;
    const title = document.evaluate(
      "//*[starts-with(normalize-space(text()), 'Active rollouts (')]",
      document,
      null,
      XPathResult.FIRST_ORDERED_NODE_TYPE,
      null,
    ).singleNodeValue as Element | null;
    let table: Element | null = title;
    while (table && !table.querySelector('tbody')) table = table.parentElement;
    if (!table || !fresh(table)) return false;
    // a row of data (the empty table has one row with one cell)
    const row = Array.from(table.querySelectorAll('tbody tr')).some(
      tr => tr.querySelectorAll('td').length > 2,
    );
    return row ? performance.now() - arg.t0 : false;
  }
  const summary = Array.from(
    document.querySelectorAll('[data-testid="rollout-summary"]'),
  ).some(fresh);
  const kpiRow = Array.from(
    document.querySelectorAll('[data-testid^="kpi-row-"]'),
  ).some(fresh);
  return summary && kpiRow ? performance.now() - arg.t0 : false;
}

/** Installed in every page before its scripts: room for all resource entries, and the long tasks. */
function initScript() {
  performance.setResourceTimingBufferSize(10_000);
  const w = window as any;
  w.__benchLong = [];
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries())
        w.__benchLong.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    // no long task timing in this browser
  }
}

async function collect(
  page: Page,
  t0: number,
  until: number,
): Promise<Omit<RunResult, 'ms'>> {
  return page.evaluate(
    ({ from, to }) => {
      const w = window as any;
      const resources = performance
        .getEntriesByType('resource')
        .filter(e => e.startTime >= from && e.startTime <= to)
        .map(e => {
          const r = e as PerformanceResourceTiming;
          return {
            name: r.name,
            initiatorType: r.initiatorType,
            startTime: r.startTime - from,
            requestStart: r.requestStart - from,
            responseStart: r.responseStart - from,
            responseEnd: r.responseEnd - from,
            transferSize: r.transferSize,
            encodedBodySize: r.encodedBodySize,
            decodedBodySize: r.decodedBodySize,
          };
        });
      const long = (w.__benchLong ?? []).filter(
        (l: any) => l.start >= from && l.start <= to,
      );
      const nav = performance.getEntriesByType('navigation')[0] as
        PerformanceNavigationTiming | undefined;
      return {
        resources,
        longTasks: long.length,
        longTasksMs: long.reduce((s: number, l: any) => s + l.duration, 0),
        domContentLoaded: nav ? nav.domContentLoadedEventEnd : NaN,
      };
    },
    { from: t0, to: t0 + until },
  );
}

async function waitShown(page: Page, kind: PageKind, t0: number) {
  const handle = await page
    .waitForFunction(
      contentShown,
      { kind, t0 },
      { polling: 'raf', timeout: 120_000 },
    )
    .catch(async e => {
      const text = await page
        .evaluate(() => document.body.innerText)
        .catch(() => '');
      throw new Error(
        `${kind}: the content never showed on ${page.url()} (${e}); the page said:\n${text.slice(0, 1500)}`,
      );
    });
  return (await handle.jsonValue()) as number;
}

async function coldRun(
  browser: Browser,
  storageState: Awaited<ReturnType<BrowserContext['storageState']>>,
  url: string,
  kind: PageKind,
): Promise<{ result: RunResult; context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    storageState,
    viewport: { width: 1440, height: 1000 },
  });
  // tsx compiles with keepNames: functions sent to the page call its `__name` helper.
  await context.addInitScript({
    content: 'globalThis.__name = globalThis.__name || (f => f);',
  });
  await context.addInitScript(initScript);
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'commit' });
  const shown = await waitShown(page, kind, 0);
  const rest = await collect(page, 0, shown);
  return { result: { ms: shown, ...rest }, context, page };
}

async function warmRun(
  page: Page,
  kind: PageKind,
  from: string,
  linkPath: string,
): Promise<RunResult> {
  await page.goto(from);
  await page.waitForLoadState('networkidle');
  const t0 = (await page.evaluate(
    ({ path }) => {
      for (const el of Array.from(
        document.querySelectorAll(
          '[data-testid="kpi-tiles"], [data-testid="rollout-summary"], [data-testid^="kpi-row-"], .MuiPaper-root',
        ),
      ))
        el.setAttribute('data-bench-old', '');
      const link = Array.from(document.querySelectorAll('a')).find(
        a => a.getAttribute('href') === path,
      );
      if (!link) throw new Error(`no link to ${path} on ${location.pathname}`);
      const t = performance.now();
      link.click();
      return t;
    },
    { path: linkPath },
  )) as number;
  const shown = await waitShown(page, kind, t0);
  const rest = await collect(page, t0, shown);
  return { ms: shown, ...rest };
}

function breakdown(r: RunResult, baseUrl: string, cold: boolean): string[] {
  const lines: string[] = [];
  const scripts = r.resources.filter(
    x => x.initiatorType === 'script' || /\.js(\?|$)/.test(x.name),
  );
  const styles = r.resources.filter(x => /\.css(\?|$)/.test(x.name));
  if (scripts.length) {
    const wire = scripts.reduce((s, x) => s + x.transferSize, 0);
    const decoded = scripts.reduce((s, x) => s + x.decodedBodySize, 0);
    const last = Math.max(...scripts.map(x => x.responseEnd));
    lines.push(
      `scripts: ${scripts.length} files, ${kib(wire)} on the wire (${kib(decoded)} decoded), last arrived at ${ms(last)}${styles.length ? `; ${styles.length} stylesheets` : ''}`,
    );
  }
  if (cold && r.domContentLoaded > 0)
    lines.push(`DOMContentLoaded at ${ms(r.domContentLoaded)}`);
  const apis = r.resources
    .filter(x => x.name.startsWith(`${baseUrl}/api/`))
    .sort((a, b) => a.startTime - b.startTime);
  for (const a of apis) {
    const path = a.name.slice(baseUrl.length);
    lines.push(
      `${path.length > 72 ? `${path.slice(0, 71)}…` : path}: ${ms(a.startTime)} → ${ms(a.responseEnd)} ` +
        `(waiting ${ms(a.responseStart - a.requestStart)}, ${kib(a.transferSize)} on the wire, ${kib(a.decodedBodySize)} JSON)`,
    );
  }
  const rollouts = apis.filter(a => a.name.includes('/api/rollouts/'));
  if (rollouts.length)
    lines.push(
      `last Tollgate answer arrived at ${ms(Math.max(...rollouts.map(a => a.responseEnd)))}: ` +
        `${ms(r.ms - Math.max(...rollouts.map(a => a.responseEnd)))} from there to the content shown`,
    );
  lines.push(
    `main thread: ${r.longTasks} long tasks, ${ms(r.longTasksMs)} in all; content shown at ${ms(r.ms)}`,
  );
  return lines;
}

function report(
  kind: PageKind,
  label: string,
  cold: RunResult[],
  warm: RunResult[],
  baseUrl: string,
) {
  const target = TARGET_MS[kind];
  console.log(`\n${label} — target ≤ ${ms(target)}`);
  for (const [name, runs] of [
    ['cold', cold],
    ['warm', warm],
  ] as const) {
    const xs = runs.map(r => r.ms);
    const med = median(xs);
    const max = Math.max(...xs);
    let verdict = 'target MISSED (median and max over)';
    if (max <= target) verdict = 'target met';
    else if (med <= target)
      verdict = 'target met by the median, missed by the max';
    console.log(
      `  ${name}: median ${ms(med)}, max ${ms(max)} (runs: ${xs.map(x => Math.round(x)).join(', ')}) — ${verdict}`,
    );
  }
  const medCold = median(cold.map(r => r.ms));
  const medRun = cold.find(r => r.ms === medCold)!;
  console.log(
    '  where the median cold run spent its time (from navigation start):',
  );
  for (const l of breakdown(medRun, baseUrl, true)) console.log(`    ${l}`);
  const medWarm = median(warm.map(r => r.ms));
  const warmMedian = warm.find(r => r.ms === medWarm)!;
  console.log('  the median warm run (from the click):');
  for (const l of breakdown(warmMedian, baseUrl, false))
    console.log(`    ${l}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const runs = Number(args.get('runs') ?? 5);
  const entity = args.get('entity') ?? 'cart-service';
  const decisions = Number(args.get('decisions') ?? API_SEED.decisions);
  console.log(`bench:ui on ${machineLine()}`);
  const executablePath = chromiumPath();
  if (!executablePath) {
    console.log(
      '[skipped] Chromium is not installed (Debian package `chromium`)',
    );
    return;
  }

  if (
    args.has('build') ||
    !existsSync(join(repoRoot, 'packages', 'app', 'dist', 'index.html'))
  ) {
    const b0 = performance.now();
    buildApp();
    console.log(
      `built the app in ${((performance.now() - b0) / 1000).toFixed(0)} s`,
    );
  }

  const db = await openBenchDatabase('sqlite');
  const dataDir = (db.backendDatabaseConfig.connection as { directory: string })
    .directory;
  let portal: Portal | undefined;
  let browser: Browser | undefined;
  try {
    const seed = await seedBenchDatabase(db.knex, {
      ...API_SEED,
      decisions,
      now: new Date(),
    });
    console.log(describeSeed('SQLite', seed));
    await db.knex.destroy();
    // The portal lists only services its catalog knows: the seed's 1,000 services join the demo's.
    const benchCatalog = join(dataDir, 'bench-services.yaml');
    writeFileSync(
      benchCatalog,
      seed.entities.map(e => JSON.stringify(e)).join('\n---\n'),
    );

    const p0 = performance.now();
    portal = await startPortal(
      {
        APP_CONFIG_rollouts_schedule_frequencySeconds: '3600',
        APP_CONFIG_rollouts_schedule_timeoutSeconds: '600',
        // See the doc comment: with permissions on, 1,000 services overflow the permission backend's request limit.
        ...(args.has('permissions')
          ? {}
          : { APP_CONFIG_permission_enabled: 'false' }),
        APP_CONFIG_catalog_locations: JSON.stringify([
          { type: 'file', target: './test/fixtures/catalog/org.yaml' },
          { type: 'file', target: './test/fixtures/catalog/services.yaml' },
          { type: 'file', target: benchCatalog },
        ]),
      },
      { dataDir },
    );
    const { baseUrl } = portal;
    const token = await guestToken(baseUrl);
    const get = async (path: string) => {
      const res = await fetch(`${baseUrl}/api/rollouts${path}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const text = await res.text();
      return { status: res.status, bytes: text.length, body: JSON.parse(text) };
    };
    // The loop's one run imports and evaluates the simulator's releases: wait for the tab's KPI evidence.
    const entityRef = `component:default/${entity}`;
    let ready = false;
    for (let i = 0; i < 180 && !ready; i++) {
      const list = await get(
        `/v1/rollouts?entityRef=${encodeURIComponent(entityRef)}&status=active`,
      );
      const id = list.body.items?.[0]?.id;
      if (id) {
        const detail = await get(`/v1/rollouts/${id}`);
        ready = (detail.body.evidence?.signals?.length ?? 0) > 0;
      }
      if (!ready) await sleep(1000);
    }
    if (!ready)
      throw new Error(`${entityRef} has no active rollout with evidence`);
    // The catalog processes the 1,000 entities, then the plugin's entity index (30 s) sees them.
    let summary = await get('/v1/summary?days=30');
    for (
      let i = 0;
      i < 300 &&
      summary.status === 200 &&
      (summary.body.servicesTotal ?? 0) < seed.entities.length;
      i++
    ) {
      await sleep(2000);
      summary = await get('/v1/summary?days=30');
    }
    const active = await get('/v1/rollouts?status=active&limit=1000');
    if (active.status !== 200 || summary.status !== 200)
      throw new Error(
        `summary ${summary.status}, active rollouts ${active.status}: ${JSON.stringify(active.body).slice(0, 300)}`,
      );
    console.log(
      `portal up in ${((performance.now() - p0) / 1000).toFixed(0)} s; GET /v1/summary?days=30: ${summary.body.servicesTotal} services, ` +
        `${kib(summary.bytes)} JSON; GET /v1/rollouts?status=active&limit=1000: ${active.body.items?.length} rollouts, ${kib(active.bytes)} JSON`,
    );

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath,
      args: CHROMIUM_ARGS,
    });
    // Sign in once; every cold run starts from this state (local storage only, no HTTP cache).
    const signIn = await browser.newContext();
    const signInPage = await signIn.newPage();
    await signInPage.goto(baseUrl);
    await signInPage.getByRole('button', { name: /enter/i }).click();
    await signInPage
      .locator('nav[aria-label="sidebar nav"]')
      .waitFor({ state: 'attached', timeout: 60_000 });
    const storageState = await signIn.storageState();
    await signIn.close();

    const tabPath = `/catalog/default/component/${entity}/rollouts`;
    const pages: Array<{
      kind: PageKind;
      label: string;
      url: string;
      from: string;
      link: string;
    }> = [
      {
        kind: 'dashboard',
        label: `Executive dashboard /rollouts (${summary.body.servicesTotal} services, ${active.body.items?.length} active rollouts)`,
        url: `${baseUrl}/rollouts`,
        from: `${baseUrl}/catalog`,
        link: '/rollouts',
      },
      {
        kind: 'tab',
        label: `Rollouts tab ${tabPath} (demo service ${entityRef}, its simulator rollout)`,
        url: `${baseUrl}${tabPath}`,
        from: `${baseUrl}/catalog/default/component/${entity}`,
        link: tabPath,
      },
    ];
    // One unmeasured load first: the backend's own first requests (module loading, caches) are not the page's.
    {
      const { context } = await coldRun(
        browser,
        storageState,
        pages[0].url,
        'dashboard',
      );
      await context.close();
    }
    for (const p of pages) {
      const cold: RunResult[] = [];
      const warm: RunResult[] = [];
      for (let i = 0; i < runs; i++) {
        await sleep(6000);
        const c = await coldRun(browser, storageState, p.url, p.kind);
        cold.push(c.result);
        warm.push(await warmRun(c.page, p.kind, p.from, p.link));
        await c.context.close();
      }
      report(p.kind, p.label, cold, warm, baseUrl);
    }
  } finally {
    await browser?.close();
    await portal?.stop();
    await db.knex.destroy().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(
    `\nload average after: ${machineLine().split('load average ')[1]}`,
  );
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
