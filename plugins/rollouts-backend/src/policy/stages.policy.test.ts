import { validatePolicyObject } from './policy';

const BASE = { slo: { availability: 0.995 } };
const STAGES = [
  { name: 'staging', provider: 'simulator', target: 'staging/{{name}}' },
  {
    name: 'prod',
    provider: 'simulator',
    target: '{{namespace}}/prod/{{ name }}',
  },
];

describe('a policy with stages', () => {
  it('is valid with target templates and a soak, and its stages change its hash', () => {
    const { policy, problems } = validatePolicyObject({
      ...BASE,
      stages: STAGES,
      stageSoak: '10m',
    });
    expect(problems).toEqual([]);
    expect(policy?.stages).toEqual(STAGES);
    expect(policy?.stageSoak).toBe('10m');
    expect(policy?.hash).not.toBe(validatePolicyObject(BASE).policy?.hash);
  });

  it('names each broken field: an unknown placeholder, a lone stage, a twice-used name, a soak that is no duration', () => {
    const problems = (input: object) =>
      validatePolicyObject({ ...BASE, ...input }).problems;
    expect(
      problems({
        stages: [STAGES[0], { ...STAGES[1], target: 'eu/{{team}}' }],
      }),
    ).toEqual([
      {
        path: 'stages[1].target',
        message:
          'unknown placeholder {{team}} (a target may use {{name}} and {{namespace}})',
      },
    ]);
    expect(problems({ stages: [STAGES[0]] })).toEqual([
      {
        path: 'stages',
        message: 'a pipeline needs at least two stages (got 1)',
      },
    ]);
    expect(
      problems({ stages: [STAGES[0], { ...STAGES[1], name: 'staging' }] }),
    ).toEqual([
      { path: 'stages', message: 'stage name "staging" appears twice' },
    ]);
    expect(problems({ stages: STAGES, stageSoak: 'soon' })).toEqual([
      {
        path: 'stageSoak',
        message:
          '"soon" is not a duration (a number with s, m, h or d, e.g. 10m)',
      },
    ]);
    expect(problems({ stageSoak: '1m' })).toEqual([
      { path: 'stageSoak', message: 'a soak needs stages' },
    ]);
    expect(
      problems({ stages: [{ ...STAGES[0], region: 'eu' }, STAGES[1]] }),
    ).toEqual([{ path: 'stages[0].region', message: 'unknown field' }]);
  });
});
