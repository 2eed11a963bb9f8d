import {
  parseDurationSeconds,
  parseStagesAnnotation,
  STAGE_SOAK_ANNOTATION,
  STAGES_ANNOTATION,
  stagesForEntity,
} from './stages';

const three =
  'staging=simulator:checkout/x-staging, prod-eu=simulator:eu/x, prod-us=argo-rollouts:us/x';

describe('parseStagesAnnotation', () => {
  it('reads the ordered stages and the soak', () => {
    expect(
      parseStagesAnnotation({
        [STAGES_ANNOTATION]: three,
        [STAGE_SOAK_ANNOTATION]: '10m',
      }),
    ).toEqual({
      stages: [
        {
          name: 'staging',
          provider: 'simulator',
          target: 'checkout/x-staging',
        },
        { name: 'prod-eu', provider: 'simulator', target: 'eu/x' },
        { name: 'prod-us', provider: 'argo-rollouts', target: 'us/x' },
      ],
      soakSeconds: 600,
    });
    expect(
      parseStagesAnnotation({ [STAGES_ANNOTATION]: three })?.soakSeconds,
    ).toBe(0);
  });

  it('is undefined without the annotation', () => {
    expect(parseStagesAnnotation(undefined)).toBeUndefined();
    expect(parseStagesAnnotation({ [STAGES_ANNOTATION]: ' ' })).toBeUndefined();
  });

  it.each([
    ['staging=simulator:a', 'a pipeline needs at least two stages (got 1)'],
    [
      'staging=simulator:a, prod',
      'stage 2 "prod" is not of the form <name>=<provider>:<target>',
    ],
    [
      'staging=simulator:a, prod=simulator:',
      'stage 2 "prod=simulator:" is not of the form',
    ],
    [
      'staging=simulator:a, staging=simulator:b',
      'stage name "staging" appears twice',
    ],
    [
      'staging=simulator:a, prod=simulator:a',
      'stage "prod": target simulator:a is already another stage\'s',
    ],
    [
      'stag ing=simulator:a, prod=simulator:b',
      'stage 1 name "stag ing" may hold only letters',
    ],
  ])('refuses %s, naming the annotation and the stage', (value, message) => {
    expect(() => parseStagesAnnotation({ [STAGES_ANNOTATION]: value })).toThrow(
      `annotation ${STAGES_ANNOTATION}: ${message}`,
    );
  });

  it('refuses a soak that is not a duration, naming its annotation', () => {
    expect(() =>
      parseStagesAnnotation({
        [STAGES_ANNOTATION]: three,
        [STAGE_SOAK_ANNOTATION]: 'soon',
      }),
    ).toThrow(
      'annotation tollgate.dev/stage-soak: "soon" is not a duration (a number with s, m, h or d, e.g. 10m)',
    );
  });
});

describe('parseDurationSeconds', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseDurationSeconds('90', 'f')).toBe(90);
    expect(parseDurationSeconds('30s', 'f')).toBe(30);
    expect(parseDurationSeconds('1.5m', 'f')).toBe(90);
    expect(parseDurationSeconds('2h', 'f')).toBe(7200);
    expect(parseDurationSeconds('1d', 'f')).toBe(86400);
  });
});

describe('stagesForEntity', () => {
  const policy = {
    name: 'staged',
    stages: [
      { name: 'staging', provider: 'sim', target: 'staging/{{name}}' },
      { name: 'prod', provider: 'sim', target: '{{namespace}}/{{ name }}' },
    ],
    stageSoak: '90s',
  };

  it("fills each target template in with the entity's name and namespace", () => {
    expect(stagesForEntity(policy, 'component:payments/ledger')).toEqual({
      stages: [
        { name: 'staging', provider: 'sim', target: 'staging/ledger' },
        { name: 'prod', provider: 'sim', target: 'payments/ledger' },
      ],
      soakSeconds: 90,
    });
    expect(
      stagesForEntity(policy, 'component:default/ledger')?.stages[1].target,
    ).toBe('default/ledger');
  });

  it('is undefined for a policy without stages', () => {
    expect(stagesForEntity({ name: 'p' }, 'component:default/x')).toBe(
      undefined,
    );
  });

  it('refuses two stages that land on one target for this entity, naming the policy', () => {
    expect(() =>
      stagesForEntity(
        {
          name: 'odd',
          stages: [
            { name: 'a', provider: 'sim', target: '{{name}}' },
            { name: 'b', provider: 'sim', target: 'x' },
          ],
        },
        'component:default/x',
      ),
    ).toThrow(
      'policy odd: stages: stage "b": target sim:x is already another stage\'s',
    );
  });
});
