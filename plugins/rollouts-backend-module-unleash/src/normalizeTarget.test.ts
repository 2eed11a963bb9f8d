import { UnleashDeployProvider } from './UnleashDeployProvider';

describe('UnleashDeployProvider.normalizeTarget', () => {
  it('gives every accepted spelling of one flag ramp the same target, with the configured defaults', () => {
    const p = UnleashDeployProvider.create({
      baseUrl: 'http://127.0.0.1:1',
      apiToken: 'unused',
      project: 'payments',
      environment: 'production',
    });
    const spellings = [
      'new-checkout',
      'payments/new-checkout',
      'new-checkout@production',
      'payments/new-checkout@production',
    ];
    expect(new Set(spellings.map(t => p.normalizeTarget(t)))).toEqual(
      new Set(['payments/new-checkout@production']),
    );
    // Another environment or project is another ramp.
    expect(p.normalizeTarget('new-checkout@staging')).toBe(
      'payments/new-checkout@staging',
    );
    expect(p.normalizeTarget('default/new-checkout')).toBe(
      'default/new-checkout@production',
    );
    expect(() => p.normalizeTarget('payments/@production')).toThrow(
      /the flag is missing/,
    );
  });
});
