/**
 * End to end, blast radius: in the demo catalog storefront-bff dependsOn
 * product-catalog (and consumes its API). product-catalog's first release
 * is healthy on its own SLIs but raises storefront-bff's errors with its
 * canary's weight: the gate holds it, and product-catalog's Rollouts tab
 * shows its consumer and the hold naming it. Screenshots land in
 * test/e2e/artifacts/blast-radius-*.png.
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

const run = assertChromiumOrSkip('end-to-end blast-radius tests');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');
const PRODUCER = 'component:default/product-catalog';
const CONSUMER = 'component:default/storefront-bff';

describe.runIf(run)('blast radius in the demo portal', () => {
  let portal: Portal;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    buildApp();
    portal = await startPortal({
      APP_CONFIG_rollouts_schedule_frequencySeconds: '2',
      APP_CONFIG_rollouts_telemetry_stepSeconds: '5',
      APP_CONFIG_rollouts_providers_simulator_trafficScale: '20',
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(portal.baseUrl);
    await page.getByRole('button', { name: /enter/i }).click();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
  });

  it("holds product-catalog's release on its consumer's burn, and its tab shows the consumer and the hold naming it", async () => {
    const token = await guestToken(portal.baseUrl);
    const headers = { Authorization: `Bearer ${token}` };
    // the gate loop imports the release, then the catalog's relation and the consumer's telemetry hold it
    let rollout: any;
    for (let i = 0; i < 150; i++) {
      const res = await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts?entityRef=${PRODUCER}&status=active`,
        { headers },
      );
      rollout = ((await res.json()) as any).items?.[0];
      if (rollout?.lastEvaluation?.rule === 'blast-radius') break;
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(rollout?.lastEvaluation?.verdict).toBe('hold');
    expect(rollout.lastEvaluation.rule).toBe('blast-radius');
    expect(rollout.lastEvaluation.reasons[0]).toMatch(
      /^consumer component:default\/storefront-bff error-budget burn rose from .+× to .+× with the \d+ % step/,
    );
    // the hold is in the decision log, with the consumer in its evidence
    const decisions = (await (
      await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts/${rollout.id}/decisions?limit=50`,
        { headers },
      )
    ).json()) as any;
    const hold = decisions.items.find(
      (d: any) =>
        d.verdict === 'hold' &&
        d.reasons.some((r: string) => r.includes(`consumer ${CONSUMER}`)),
    );
    expect(hold).toBeDefined();
    const snapshot = (await (
      await fetch(
        `${portal.baseUrl}/api/rollouts/v1/rollouts/${rollout.id}/decisions/${hold.seq}/evidence`,
        { headers },
      )
    ).json()) as any;
    expect(snapshot.evidence.blastRadius.harmed).toEqual([CONSUMER]);

    await page.goto(
      `${portal.baseUrl}/catalog/default/component/product-catalog/rollouts`,
    );
    const verdict = page.getByTestId('blast-radius-verdict');
    await verdict.waitFor({ timeout: 60_000 });
    expect(await verdict.textContent()).toMatch(
      /^Holding: storefront-bff burns error budget since the \d+ % step/,
    );
    const row = page.getByTestId('blast-radius-consumer').first();
    expect(await row.textContent()).toContain(CONSUMER);
    expect(await row.textContent()).toContain('burn rose with the step');
    // the rollout's verdict line names the consumer too
    await page
      .getByText(`consumer ${CONSUMER} error-budget burn rose`, {
        exact: false,
      })
      .first()
      .waitFor({ timeout: 30_000 });
    await page.screenshot({
      path: join(artifacts, 'blast-radius-tab.png'),
      fullPage: true,
    });
    await page
      .getByTestId('blast-radius')
      .screenshot({ path: join(artifacts, 'blast-radius-card.png') });
  });
});
