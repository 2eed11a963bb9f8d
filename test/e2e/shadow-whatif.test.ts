/**
 * End to end: shadow policies and what-if replay in the built demo portal,
 * in headless Chromium. The demo's app-config runs a stricter policy
 * (`strict`) in shadow beside `standard` for four services; the Rollouts
 * page shows its disagreements, opens a would-have entry, and runs a
 * what-if replay from the dashboard. Screenshots: test/e2e/artifacts/whatif-*.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import {
  assertChromiumOrSkip,
  buildApp,
  launchChromium,
  guestToken,
  repoRoot,
  startPortal,
  type Portal,
} from '@tollgate/test-support';

const run = assertChromiumOrSkip('end-to-end shadow and what-if tests');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');

async function poll<T>(
  fn: () => Promise<T | undefined>,
  seconds: number,
): Promise<T | undefined> {
  for (let i = 0; i < seconds; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise(r => setTimeout(r, 1000));
  }
  return undefined;
}

/** An element's picture: the page scrolls inside its content pane, so the viewport is clipped to the element. */
async function shoot(element: Locator, file: string) {
  await element.scrollIntoViewIfNeeded();
  const box = await element.boundingBox();
  await element.page().screenshot({
    path: join(artifacts, file),
    ...(box ? { clip: box } : {}),
  });
}

describe.runIf(run)('shadow policies and what-if replay in Chromium', () => {
  let portal: Portal;
  let browser: Browser;
  let page: Page;
  let token: string;

  const api = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${portal.baseUrl}/api/rollouts${path}`, {
      ...init,
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
      },
    });
    return (await res.json()) as any;
  };

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    buildApp();
    portal = await startPortal({
      APP_CONFIG_rollouts_schedule_frequencySeconds: '2',
      APP_CONFIG_rollouts_telemetry_stepSeconds: '5',
      APP_CONFIG_rollouts_providers_simulator_trafficScale: '20',
    });
    token = await guestToken(portal.baseUrl);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(portal.baseUrl);
    await page.getByRole('button', { name: /enter/i }).click();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
  });

  it('shows how often the shadow policy disagreed, and a would-have entry', async () => {
    // the stricter shadow promotes later than `standard`: disagreements within minutes
    const strict = await poll(async () => {
      const s = await api('/v1/shadow?days=30');
      const p = s.policies?.find((x: any) => x.policy === 'strict');
      return p?.latest?.length ? p : undefined;
    }, 240);
    expect(strict).toBeDefined();
    expect(strict.rolloutsDisagreeing).toBeGreaterThan(0);

    await page.goto(`${portal.baseUrl}/rollouts`);
    const panel = page.getByTestId('shadow-policy-strict');
    await panel.waitFor({ timeout: 60_000 });
    await panel.scrollIntoViewIfNeeded();
    expect(await panel.textContent()).toMatch(/disagreed on [1-9]/);
    await page
      .getByTestId('shadow-policies')
      .screenshot({ path: join(artifacts, 'whatif-shadow-panel.png') });
    // the would-have entry, from the log
    await panel
      .getByRole('button', { name: /^Open would-have entry/ })
      .first()
      .click();
    const dialog = page.getByRole('dialog');
    await dialog
      .getByText(/Would-have entry #\d+/)
      .waitFor({ timeout: 30_000 });
    await dialog
      .getByTestId('shadow-entry-reasons')
      .locator('li')
      .first()
      .waitFor({ timeout: 30_000 });
    // past the dialog's fade-in
    await page.waitForTimeout(500);
    await page.screenshot({
      path: join(artifacts, 'whatif-shadow-entry.png'),
    });
    // the rollout's tab: what its shadow would do, and its would-have entries
    await dialog.getByRole('link', { name: 'Open the rollout' }).click();
    await page.waitForURL(/\/rollouts\?rollout=/);
    const card = page.getByTestId('shadow-verdicts');
    await card.waitFor({ timeout: 60_000 });
    expect(await card.textContent()).toMatch(
      /would have: \w+ under shadow policy strict/,
    );
    await shoot(card, 'whatif-shadow-tab.png');
  }, 360_000);

  it('runs a what-if replay from the dashboard and shows each rollout against what happened', async () => {
    // the kept telemetry of the live rollouts makes them replayable
    const services = [
      'component:default/cart-service',
      'component:default/checkout-api',
    ];
    const ready = await poll(async () => {
      const r = await api('/v1/policies/whatif', {
        method: 'POST',
        body: JSON.stringify({
          yaml: 'slo: {availability: 0.995}\n',
          selection: { services },
        }),
      });
      return r.totals?.replayed > 0 ? r : undefined;
    }, 180);
    expect(ready).toBeDefined();

    await page.goto(`${portal.baseUrl}/rollouts`);
    const section = page.getByTestId('whatif');
    await section.waitFor({ timeout: 60_000 });
    await section.scrollIntoViewIfNeeded();
    await section
      .getByTestId('whatif-services')
      .fill('cart-service, checkout-api');
    await section.getByRole('button', { name: 'Run what-if' }).click();
    const results = section.getByTestId('whatif-results');
    await results.waitFor({ timeout: 60_000 });
    expect(await results.textContent()).toMatch(/[1-9]\d* replayed/);
    expect(await results.textContent()).toMatch(/cart-service|checkout-api/);
    expect(
      await results.getByTestId('whatif-totals-candidate').textContent(),
    ).toMatch(/rollbacks .* promotions to full/);
    // the page scrolls inside its content pane: a tall viewport shows the whole section
    await page.setViewportSize({ width: 1440, height: 2600 });
    await shoot(section, 'whatif-results.png');
    // a policy with a wrong field: the backend names it
    await section
      .getByTestId('whatif-policy')
      .fill('slo:\n  availability: 2\n');
    await section.getByRole('button', { name: 'Run what-if' }).click();
    await section
      .getByTestId('whatif-error')
      .getByText(/slo\.availability/)
      .waitFor({ timeout: 30_000 });
    await shoot(section, 'whatif-error.png');
  }, 300_000);
});
