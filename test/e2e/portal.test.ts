/**
 * End to end: the built demo portal in headless Chromium. A guest signs in,
 * opens a service's Rollouts tab and the Rollouts page, and sees the
 * simulator's rollouts. Screenshots land in test/e2e/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  assertChromiumOrSkip,
  buildApp,
  chromiumPath,
  guestToken,
  repoRoot,
  startPortal,
  type Portal,
} from '../support/portal';

const run = assertChromiumOrSkip('end-to-end portal tests');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');

describe.runIf(run)('demo portal in Chromium', () => {
  let portal: Portal;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    buildApp();
    portal = await startPortal({
      APP_CONFIG_rollouts_schedule_frequencySeconds: '2',
      APP_CONFIG_rollouts_telemetry_stepSeconds: '5',
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(portal.baseUrl);
    await page.getByRole('button', { name: /enter/i }).click();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
  });

  it('shows a service\'s rollout on its Rollouts tab', async () => {
    const token = await guestToken(portal.baseUrl);
    // The gate loop imports the simulator's rollouts within a few seconds.
    let version: string | undefined;
    for (let i = 0; i < 60 && !version; i++) {
      const res = await fetch(`${portal.baseUrl}/api/rollouts/v1/rollouts?entityRef=component:default/cart-service&status=active`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      version = ((await res.json()) as any).items?.[0]?.version;
      if (!version) await new Promise(r => setTimeout(r, 1000));
    }
    expect(version).toBeDefined();
    await page.goto(`${portal.baseUrl}/catalog/default/component/cart-service/rollouts`);
    await page.getByText(version!, { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(artifacts, 'entity-rollouts-tab.png'), fullPage: true });
  });

  it('lists active rollouts on the Rollouts page', async () => {
    await page.goto(`${portal.baseUrl}/rollouts`);
    await page.getByText('cart-service').first().waitFor({ timeout: 30_000 });
    await page.getByText('payments-gateway').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(artifacts, 'rollouts-dashboard.png'), fullPage: true });
  });
});
