/**
 * End to end: multi-stage promotion in the demo portal. shipping-api's
 * policy (`staged` in app-config.yaml) declares three stages with target
 * templates (staging → prod-eu → prod-us, 30 s soak); with a
 * fast ladder its release completes staging, soaks, and Tollgate starts it
 * on prod-eu. The tab shows the pipeline moving; the guest (an owner)
 * promotes prod-us early. Screenshots: test/e2e/artifacts/pipeline-*.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { PipelineList } from '@tollgate/plugin-rollouts-common';
import {
  assertChromiumOrSkip,
  buildApp,
  launchChromium,
  guestToken,
  repoRoot,
  startPortal,
  type Portal,
} from '@tollgate/test-support';

const run = assertChromiumOrSkip('end-to-end multi-stage promotion test');
const artifacts = join(repoRoot, 'test', 'e2e', 'artifacts');
const ENTITY = 'component:default/shipping-api';

describe.runIf(run)('multi-stage promotion in Chromium', () => {
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
      // a short ladder, so the first stage completes within the test
      APP_CONFIG_rollouts_providers_simulator_steps: JSON.stringify([
        { weight: 20, minDurationSeconds: 15 },
        { weight: 100 },
      ]),
      APP_CONFIG_rollouts_policies_standard_gate_promote_minDurationSeconds:
        '15',
      APP_CONFIG_rollouts_policies_staged_gate_promote_minDurationSeconds: '15',
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

  async function pipelines(token: string): Promise<PipelineList> {
    const res = await fetch(
      `${portal.baseUrl}/api/rollouts/v1/pipelines?entityRef=${encodeURIComponent(ENTITY)}`,
      { headers: { Authorization: `Bearer ${token}` } },
    );
    return (await res.json()) as PipelineList;
  }

  async function until(
    token: string,
    ok: (l: PipelineList) => boolean,
    seconds: number,
  ): Promise<PipelineList> {
    let list = await pipelines(token);
    for (let i = 0; i < seconds && !ok(list); i++) {
      await new Promise(r => setTimeout(r, 1000));
      list = await pipelines(token);
    }
    return list;
  }

  it('shows the three stages moving from staging to prod-eu, and promotes prod-us early', async () => {
    const token = await guestToken(portal.baseUrl);
    const first = await until(token, l => l.items.length > 0, 90);
    expect(first.stages?.map(s => s.name)).toEqual([
      'staging',
      'prod-eu',
      'prod-us',
    ]);
    // the policy's target templates, filled in for shipping-api
    expect(first.stages?.map(s => s.target)).toEqual([
      'staging/shipping-api',
      'eu/shipping-api',
      'us/shipping-api',
    ]);
    await page.goto(
      `${portal.baseUrl}/catalog/default/component/shipping-api/rollouts`,
    );
    const card = page.getByTestId('pipeline');
    await card.waitFor({ timeout: 60_000 });
    for (const name of ['staging', 'prod-eu', 'prod-us'])
      await card.getByTestId(`stage-${name}`).waitFor();
    await page.screenshot({
      path: join(artifacts, 'pipeline-stage1.png'),
      fullPage: true,
    });

    // staging completes its ladder: the card counts the 30 s soak down
    const soaking = await until(
      token,
      l =>
        l.items[0]?.stages[0].state === 'completed' ||
        (l.items[0]?.nextStage ?? 0) >= 2,
      180,
    );
    expect(soaking.items[0].stages[0].state).toBe('completed');
    await page.reload();
    await page
      .getByTestId('pipeline-soak')
      .filter({ hasText: /^prod-eu starts in \d+s \(soak after staging\)$/ })
      .waitFor({ timeout: 20_000 });
    await page.getByTestId('pipeline').screenshot({
      path: join(artifacts, 'pipeline-soak.png'),
    });

    // then Tollgate starts prod-eu
    const moved = await until(
      token,
      l => (l.items[0]?.nextStage ?? 0) >= 2,
      240,
    );
    const p = moved.items[0];
    expect(p.stages[0].state).toBe('completed');
    expect(p.stages[1].startedBy).toBe('pipeline');
    // the soak was kept: prod-eu started at least 30 s after staging completed
    expect(
      Date.parse(p.stages[1].startedAt!) - Date.parse(p.stages[0].completedAt!),
    ).toBeGreaterThanOrEqual(30_000);
    await page.reload();
    await page
      .getByTestId('stage-prod-eu-state')
      .filter({ hasText: /running|starting|completed/ })
      .waitFor({ timeout: 60_000 });
    await page
      .getByTestId('stage-staging-state')
      .filter({ hasText: 'completed' })
      .waitFor();
    await page.getByTestId('pipeline').screenshot({
      path: join(artifacts, 'pipeline-stage2.png'),
    });

    // an owner promotes the last stage early, with a reason
    const promote = page.getByRole('button', {
      name: 'Promote prod-us early',
    });
    const eu = await pipelines(token);
    // prod-eu may have completed and prod-us started meanwhile; then there is nothing to promote
    const usWaiting = eu.items[0].nextStage === 2;
    expect(usWaiting).toBe(true);
    await promote.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/reason/i).fill('US launch cannot wait');
    await dialog
      .getByRole('button', { name: 'Confirm early promotion' })
      .click();
    await page
      .getByText(`Started ${p.version} in prod-us early.`)
      .waitFor({ timeout: 30_000 });
    const after = await until(
      token,
      l => l.items[0].stages[2].startedBy === 'early-promotion',
      10,
    );
    expect(after.items[0].nextStage).toBe(3);
    await page.getByTestId('pipeline').screenshot({
      path: join(artifacts, 'pipeline-promoted-early.png'),
    });
  }, 480_000);
});
