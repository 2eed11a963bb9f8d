import {
  parseDurationSeconds,
  parseStagesAnnotation,
  STAGE_SOAK_ANNOTATION,
  STAGES_ANNOTATION,
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
