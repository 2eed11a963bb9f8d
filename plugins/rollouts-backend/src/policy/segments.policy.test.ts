import { validatePolicyYaml } from './policy';

describe('a policy with segments', () => {
  it('is accepted as YAML and reaches the gate with its defaults', () => {
    const { policy, problems } = validatePolicyYaml(`
slo: { availability: 0.995 }
gate:
  segments:
    dimensions: [device, region, user_type]
    onHarm: hold
`);
    expect(problems).toEqual([]);
    expect(policy!.gate.segments).toMatchObject({
      dimensions: ['device', 'region', 'user_type'],
      onHarm: 'hold',
    });
  });

  it('names each wrong segments field by its path', () => {
    const { policy, problems } = validatePolicyYaml(`
slo: { availability: 0.995 }
gate:
  segments:
    dimensions: device
    onHarm: page
    representativeness: { alpha: 2 }
`);
    expect(policy).toBeUndefined();
    expect(problems.map(p => p.path).sort()).toEqual([
      'gate.segments.dimensions',
      'gate.segments.onHarm',
      'gate.segments.representativeness.alpha',
    ]);
  });
});
