import { mockServices } from '@backstage/backend-test-utils';
import { parseSteps, readUnleashConfig } from './config';

const config = (unleash: unknown) =>
  mockServices.rootConfig({
    data: { rollouts: { providers: { unleash } } } as any,
  });

describe('unleash provider config', () => {
  it('reads steps as percentages or step objects', () => {
    expect(
      parseSteps([1, { weight: 50, requiresApproval: true }, 100], 'k'),
    ).toEqual([
      { weight: 1 },
      { weight: 50, requiresApproval: true },
      { weight: 100 },
    ]);
  });

  it.each([
    [[], /non-empty list/],
    [[5, 1], /must rise step by step: 5% is followed by 1%/],
    [[0, 100], /k\[0\] must be a whole percentage/],
    [[1.5], /k\[0\] must be a whole percentage/],
  ])('rejects steps %j', (steps, error) => {
    expect(() => parseSteps(steps, 'k')).toThrow(error);
  });

  it('names the missing keys and the bad values', () => {
    expect(() =>
      readUnleashConfig(mockServices.rootConfig({ data: {} })),
    ).toThrow(/rollouts\.providers\.unleash is missing.*baseUrl.*apiToken/);
    expect(() => readUnleashConfig(config({ baseUrl: 'http://u' }))).toThrow(
      /apiToken/,
    );
    expect(() =>
      readUnleashConfig(
        config({ baseUrl: 'http://u', apiToken: 't', rollbackMode: 'off' }),
      ),
    ).toThrow(/rollbackMode must be zero, disable or both/);
    expect(() =>
      readUnleashConfig(
        config({
          baseUrl: 'http://u',
          apiToken: 't',
          flags: [{ target: 'x', steps: [50, 10] }],
        }),
      ),
    ).toThrow(/rollouts\.providers\.unleash\.flags\[0\]\.steps must rise/);
    expect(readUnleashConfig(config({ enabled: false }))).toBeUndefined();
  });

  it('reads a full configuration', () => {
    expect(
      readUnleashConfig(
        config({
          baseUrl: 'https://unleash.example.com',
          apiToken: 'secret',
          project: 'shop',
          environment: 'prod',
          steps: [2, 10, 100],
          rollbackMode: 'zero',
          timeoutSeconds: 3,
          flags: [{ target: 'new-checkout', steps: [10, 100] }],
          discovery: { tag: 'rollout:tollgate' },
        }),
      ),
    ).toMatchObject({
      baseUrl: 'https://unleash.example.com',
      project: 'shop',
      environment: 'prod',
      steps: [{ weight: 2 }, { weight: 10 }, { weight: 100 }],
      rollbackMode: 'zero',
      timeoutSeconds: 3,
      flags: [
        { target: 'new-checkout', steps: [{ weight: 10 }, { weight: 100 }] },
      ],
      discovery: { tag: 'rollout:tollgate' },
    });
  });
});
