import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  rolloutsTelemetryProvidersExtensionPoint,
  type RolloutsTelemetryProvider,
} from '@tollgate/plugin-rollouts-node';
import { rolloutsModulePrometheus } from './module';
import { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';
import defaultExport from './index';

async function start(prometheus: Record<string, any>) {
  const added: RolloutsTelemetryProvider[] = [];
  const backend = await startTestBackend({
    extensionPoints: [
      [
        rolloutsTelemetryProvidersExtensionPoint,
        {
          addTelemetryProvider: (...p: RolloutsTelemetryProvider[]) =>
            added.push(...p),
        },
      ],
    ],
    features: [
      rolloutsModulePrometheus,
      mockServices.rootConfig.factory({
        data: { rollouts: { providers: { prometheus } } },
      }),
    ],
  });
  return { added, backend };
}

const queries = {
  requests: 'sum(increase(http_requests_total{{{cohort}}}[{{step}}]))',
  errors:
    'sum(increase(http_requests_total{code=~"5..",{{cohort}}}[{{step}}]))',
};

describe('rolloutsModulePrometheus', () => {
  it('is the default export', () => {
    expect(defaultExport).toBe(rolloutsModulePrometheus);
  });

  it('registers a telemetry provider on the rollouts extension point', async () => {
    const { added, backend } = await start({
      baseUrl: 'http://127.0.0.1:9',
      id: 'prom-eu',
      queries,
    });
    try {
      expect(added).toHaveLength(1);
      expect(added[0]).toBeInstanceOf(PrometheusTelemetryProvider);
      expect(added[0].id).toBe('prom-eu');
    } finally {
      await backend.stop();
    }
  });

  it('registers nothing when disabled', async () => {
    const { added, backend } = await start({ enabled: false });
    try {
      expect(added).toHaveLength(0);
    } finally {
      await backend.stop();
    }
  });

  it('fails start-up on invalid config, naming the key', async () => {
    await expect(start({ queries })).rejects.toThrow(
      /rollouts\.providers\.prometheus\.baseUrl is required/,
    );
    await expect(
      start({
        baseUrl: 'http://p:9090',
        queries: { requests: 'sum(x{{{cohort}}}[{{stpe}}])' },
      }),
    ).rejects.toThrow(
      /rollouts\.providers\.prometheus\.queries\.requests: unknown placeholder \{\{stpe\}\}/,
    );
  });
});
