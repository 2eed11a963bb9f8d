/**
 * End to end: segments in the demo portal (headless Chromium). search-web's
 * first release breaks search for mobile users only (the whole's error rate
 * does not move); its policy (`segmented`) tests device, region and user
 * type, so the gate rolls it back naming device=mobile, and its Rollouts
 * tab shows the segment table with mobile harmed and the segment-mix test
 * beside the SRM check. Screenshots: test/e2e/artifacts/segments-*.png.
 */
import { mkdirSync } from 'node:fs';
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

const run = assertChromiumOrSkip('end-to-end segments test');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');

describe.runIf(run)('segments in the demo portal', () => {
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

  it('rolls back the release that harms only mobile users, naming the segment, and shows the segment table', async () => {
    const startedAt = portalStartedAt;
    const token = await guestToken(portal.baseUrl);
    let rolledBack: any;
    for (let i = 0; i < 420 && !rolledBack; i++) {
      const res = await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts?entityRef=component:default/search-web&status=rolled-back`,
        { headers: { Authorization: `Bearer ${token}` } },
      );
      // Seeded history has rolled-back rollouts too: only a live one counts.
      rolledBack = (((await res.json()) as any).items ?? []).find(
        (r: any) => Date.parse(r.startedAt) >= startedAt,
      );
      if (!rolledBack) await new Promise(r => setTimeout(r, 1000));
    }
    expect(rolledBack).toBeDefined();

    // the decision log's rollback names the segment
    const log = await fetch(
      `${portal.baseUrl}/api/rollouts/v1/rollouts/${rolledBack.id}/decisions`,
      { headers: { Authorization: `Bearer ${token}` } },
    ).then(r => r.json() as Promise<any>);
    const rollback = (log.items ?? log).find(
      (d: any) => d.verdict === 'rollback',
    );
    expect(rollback.reasons.join('\n')).toMatch(
      /segment device=mobile: error rate canary/,
    );
    const stored = await fetch(
      `${portal.baseUrl}/api/rollouts/v1/rollouts/${rolledBack.id}/decisions/${rollback.seq}/evidence`,
      { headers: { Authorization: `Bearer ${token}` } },
    ).then(r => r.json() as Promise<any>);
    expect(stored.evidence.checks.segments.harmed).toContain('device=mobile');
    // the whole's error rate did not prove harm: only the segment did
    expect(
      stored.evidence.signals.find((x: any) => x.kind === 'error-rate').rule,
    ).not.toBe('deterioration');

    await page.goto(
      `${portal.baseUrl}/catalog/default/component/search-web/rollouts`,
    );
    await page.getByText(rolledBack.version).first().click();
    const table = page.getByTestId('segment-table');
    await table.waitFor({ timeout: 30_000 });
    await page
      .getByTestId('segment-verdict')
      .getByText(/Harm confined to .*device=mobile.*rolled back/)
      .waitFor({ timeout: 30_000 });
    const rows = page.getByTestId('segment-row');
    await rows
      .filter({ hasText: 'device=mobile' })
      .getByText('harmed', { exact: true })
      .waitFor({ timeout: 10_000 });
    // no other device is harmed (desktop's errors even fell)
    expect(
      await rows
        .filter({ hasText: /device=(desktop|tablet)/ })
        .getByText('harmed', { exact: true })
        .count(),
    ).toBe(0);
    // the segment mix beside the SRM check: a representative canary
    await page.getByTestId('srm-row').waitFor({ timeout: 10_000 });
    expect(
      await page
        .getByTestId('mix-row')
        .filter({ hasText: 'device mix' })
        .textContent(),
    ).toContain('representative');
    await table.scrollIntoViewIfNeeded();
    await table.screenshot({ path: join(artifacts, 'segments-table.png') });
    await page.screenshot({
      path: join(artifacts, 'segments-tab.png'),
      fullPage: true,
    });
  }, 600_000);
});
