/**
 * End to end: the built demo portal in headless Chromium. A guest signs in,
 * opens a service's Rollouts tab and the Rollouts page, and sees the
 * simulator's rollouts. Screenshots land in test/e2e/artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  assertChromiumOrSkip,
  buildApp,
  launchChromium,
  guestToken,
  repoRoot,
  startPortal,
  type Portal,
} from '@tollgate/test-support';

const run = assertChromiumOrSkip('end-to-end portal tests');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');

describe.runIf(run)('demo portal in Chromium', () => {
  let portal: Portal;
  let browser: Browser;
  let page: Page;
  let portalStartedAt = 0;

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    buildApp();
    portalStartedAt = Date.now();
    portal = await startPortal({
      APP_CONFIG_rollouts_schedule_frequencySeconds: '2',
      APP_CONFIG_rollouts_telemetry_stepSeconds: '5',
      APP_CONFIG_rollouts_providers_simulator_trafficScale: '20',
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(portal.baseUrl);
    await page.getByRole('button', { name: /enter/i }).click();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
  });

  it("shows a service's rollout on its Rollouts tab", async () => {
    const token = await guestToken(portal.baseUrl);
    // The gate loop imports the simulator's rollouts within a few seconds.
    let version: string | undefined;
    for (let i = 0; i < 60 && !version; i++) {
      const res = await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts?entityRef=component:default/cart-service&status=active`,
        {
          headers: { Authorization: `Bearer ${token}` },
        },
      );
      version = ((await res.json()) as any).items?.[0]?.version;
      if (!version) await new Promise(r => setTimeout(r, 1000));
    }
    expect(version).toBeDefined();
    await page.goto(
      `${portal.baseUrl}/catalog/default/component/cart-service/rollouts`,
    );
    await page
      .getByText(version!, { exact: false })
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({
      path: join(artifacts, 'entity-rollouts-tab.png'),
      fullPage: true,
    });
    // the debug view: each signal's canary and baseline over the step's intervals
    const metrics = page.getByTestId('metrics-over-time');
    await metrics
      .locator('[data-testid^="cohort-chart-"]')
      .first()
      .waitFor({ timeout: 60_000 });
    await metrics.screenshot({
      path: join(artifacts, 'entity-metrics-over-time.png'),
    });
    // the post-rollout report, as a download
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: /^report$/i }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(
      /^rollout-checkout-cart-service-.*\.md$/,
    );
    const saved = join(artifacts, 'rollout-report.md');
    await download.saveAs(saved);
    expect(readFileSync(saved, 'utf8')).toContain(
      `# Rollout report: component:default/cart-service`,
    );
  });

  it('lists active rollouts on the Rollouts page, reached from its sidebar item', async () => {
    await page.goto(`${portal.baseUrl}/catalog`);
    await page.locator('nav').getByRole('link', { name: 'Rollouts' }).click();
    await page.waitForURL(/\/rollouts$/);
    await page.getByText('cart-service').first().waitFor({ timeout: 30_000 });
    await page
      .getByText('payments-gateway')
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({
      path: join(artifacts, 'rollouts-dashboard.png'),
      fullPage: true,
    });
  });

  it("shows managers the executive dashboard's panels, each with the backend's figures", async () => {
    const token = await guestToken(portal.baseUrl);
    // the simulator's seeded history and live releases give every panel something
    let summary: any;
    // the panels' rows: services with KPI evidence, and with a budget share, most spent first
    let cohorts: any[] = [];
    let budgets: any;
    const get = async (path: string) =>
      (
        await fetch(`${portal.baseUrl}/api/rollouts/v1${path}`, {
          headers: { Authorization: `Bearer ${token}` },
        })
      ).json();
    for (let i = 0; i < 90; i++) {
      summary = await get('/summary?days=30');
      cohorts = (
        await get('/summary/services?days=30&active=true&limit=100')
      ).items.flatMap((x: any) => x.activeCohorts ?? []);
      budgets = await get(
        '/summary/services?days=30&budgeted=true&sort=budgetSpent&limit=10',
      );
      // the history is seeded service by service while the portal starts: wait for all of it
      if (
        cohorts.length &&
        summary.incidents?.length &&
        summary.changeFailureRate > 0 &&
        summary.meanTimeToRollbackMinutes > 0 &&
        budgets.items[0]?.budgetSpent > 0
      )
        break;
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(summary.incidents.length).toBeGreaterThan(0);
    expect(summary.meanTimeToRollbackMinutes).toBeGreaterThan(0);
    expect(summary.meanDetectionLagMinutes).toBeGreaterThan(0);
    expect(summary.reachedFull).toBeGreaterThan(0);
    expect(summary.changeFailureRate).toBeGreaterThan(0);
    expect(summary.allSteps).toBeGreaterThan(0);
    expect(budgets.items[0].budgetSpent).toBeGreaterThan(0);
    expect(cohorts.length).toBeGreaterThan(0);
    // the summary names how many services its panels page over
    expect(summary.servicesTotal).toBeGreaterThanOrEqual(budgets.total);

    await page.goto(`${portal.baseUrl}/rollouts`);
    await page.getByTestId('kpi-tiles').waitFor({ timeout: 30_000 });
    await page.getByTestId('kpi-reading').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('incident').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('budget-spent').first().waitFor({ timeout: 30_000 });
    for (const panel of [
      'kpi-tiles',
      'panel-kpis',
      'panel-budget',
      'panel-incidents',
    ])
      await page
        .getByTestId(panel)
        .screenshot({ path: join(artifacts, `dashboard-${panel}.png`) });
    // a definition, as the manager sees it
    await page.getByTestId('tile-cfr').hover();
    await page
      .getByRole('tooltip')
      .getByText(/needed a rollback afterwards/)
      .waitFor({ timeout: 10_000 });
    // past the tooltip's fade-in
    await page.waitForTimeout(500);
    await page.screenshot({
      path: join(artifacts, 'dashboard-cfr-tooltip.png'),
    });
  });

  it('shows on-call what needs a person now, reached from the sidebar', async () => {
    const token = await guestToken(portal.baseUrl);
    // the simulator's releases hold, and fraud-scoring's rollback is refused by its deploy system
    let attention: any;
    for (let i = 0; i < 120; i++) {
      const res = await fetch(`${portal.baseUrl}/api/rollouts/v1/attention`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      attention = await res.json();
      if (attention.items?.length) break;
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(attention.items.length).toBeGreaterThan(0);
    await page.goto(`${portal.baseUrl}/rollouts`);
    await page.getByRole('link', { name: 'On call' }).click();
    await page.waitForURL(/\/on-call$/);
    const card = page.getByTestId(/^attention-/).first();
    await card.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId(/^attention-/).count()).toBeGreaterThan(0);
    // each card says why, whose it is and what can be done
    expect(await card.textContent()).toMatch(/owner .*·|owner /);
    expect(
      await page
        .getByTestId(/^attention-/)
        .first()
        .getByRole('link')
        .count(),
    ).toBeGreaterThan(0);
    await page.screenshot({
      path: join(artifacts, 'on-call.png'),
      fullPage: true,
    });
  });

  it('shows an engineer the rollback verdict and its reasons on a regressing service', async () => {
    const startedAt = portalStartedAt;
    const token = await guestToken(portal.baseUrl);
    let rolledBack: any;
    for (let i = 0; i < 150 && !rolledBack; i++) {
      const res = await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts?entityRef=component:default/checkout-api&status=rolled-back`,
        {
          headers: { Authorization: `Bearer ${token}` },
        },
      );
      // Seeded history has rolled-back rollouts too: only a live one counts.
      rolledBack = (((await res.json()) as any).items ?? []).find(
        (r: any) => Date.parse(r.startedAt) >= startedAt,
      );
      if (!rolledBack) await new Promise(r => setTimeout(r, 1000));
    }
    expect(rolledBack).toBeDefined();
    await page.goto(
      `${portal.baseUrl}/catalog/default/component/checkout-api/rollouts`,
    );
    // The finished rollout is listed under past rollouts; opening it shows its decisions.
    await page.getByText(rolledBack.version).first().click();
    await page
      .getByText(/error rate: canary/i)
      .first()
      .waitFor({ timeout: 30_000 });
    await page
      .getByText('rollback', { exact: true })
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({
      path: join(artifacts, 'regressing-service.png'),
      fullPage: true,
    });
  }, 240_000);

  it('lets on-call roll back with a reason and shows it in the timeline', async () => {
    await page.goto(
      `${portal.baseUrl}/catalog/default/component/cart-service/rollouts`,
    );
    const button = page
      .getByRole('button', { name: 'Roll back', exact: true })
      .first();
    await button.waitFor({ timeout: 30_000 });
    await expectEnabled(button);
    await button.click();
    await page
      .getByLabel('Reason')
      .fill('e2e: checkout latency alarm at 03:12');
    await page.screenshot({ path: join(artifacts, 'rollback-dialog.png') });
    await page.getByRole('button', { name: 'Confirm roll back' }).click();
    await page
      .getByText(/e2e: checkout latency alarm at 03:12/)
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({
      path: join(artifacts, 'after-rollback.png'),
      fullPage: true,
    });
  });

  it('shows the rollback button disabled to a user without the permission', async () => {
    await page.goto(
      `${portal.baseUrl}/catalog/default/component/payments-gateway/rollouts`,
    );
    const button = page
      .getByRole('button', { name: 'Roll back', exact: true })
      .first();
    await button.waitFor({ timeout: 30_000 });
    await expect
      .poll(async () => button.isDisabled(), { timeout: 15_000 })
      .toBe(true);
    await page.screenshot({
      path: join(artifacts, 'permission-denied.png'),
      fullPage: true,
    });
  });

  it('lets a manager filter the dashboard by owner', async () => {
    await page.goto(`${portal.baseUrl}/rollouts`);
    await page
      .getByText('payments-gateway')
      .first()
      .waitFor({ timeout: 30_000 });
    // unfiltered, the main area lists team-checkout's cart-service too
    await page
      .locator('main')
      .getByText('cart-service')
      .first()
      .waitFor({ timeout: 30_000 });
    await page
      .locator('[data-testid=owner-filter]')
      .selectOption('group:default/team-payments');
    // In the page's main area: the notifications snackbar (outside it, 15 s) may be telling
    // the guest, on call for checkout, about cart-service's rollback a test before.
    await expect
      .poll(
        async () => page.locator('main').getByText('cart-service').count(),
        {
          timeout: 15_000,
        },
      )
      .toBe(0);
    await page
      .getByText('payments-gateway')
      .first()
      .waitFor({ timeout: 15_000 });
    await page.screenshot({
      path: join(artifacts, 'dashboard-filtered.png'),
      fullPage: true,
    });
  });
});

async function expectEnabled(locator: import('playwright-core').Locator) {
  await expect
    .poll(async () => locator.isEnabled(), { timeout: 15_000 })
    .toBe(true);
}
