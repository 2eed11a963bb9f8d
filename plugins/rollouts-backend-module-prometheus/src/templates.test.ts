import { mockServices } from '@backstage/backend-test-utils';
import { readPrometheusSettings } from './config';
import {
  checkCohortTemplate,
  checkTemplate,
  flattenQueries,
  renderTemplate,
} from './templates';

const vars = {
  target: 'payments/checkout "api"',
  entityRef: 'component:default/checkout',
  stepSeconds: 60,
  cohort: { label: 'track', value: 'canary' },
};

describe('query templates', () => {
  it('expands every placeholder, escaping values for double-quoted PromQL strings', () => {
    const t =
      'sum(increase(x{{{cohort}},service="{{target}}",ns="{{targetNamespace}}",name="{{targetName}}",' +
      'e="{{entityRef}}",n="{{entityName}}",{{cohortLabel}}=~"{{cohortValue}}|x"}[{{ step }}]))';
    expect(renderTemplate(t, vars)).toBe(
      'sum(increase(x{track="canary",service="payments/checkout \\"api\\"",ns="payments",name="checkout \\"api\\"",' +
        'e="component:default/checkout",n="checkout",track=~"canary|x"}[60s]))',
    );
    expect(renderTemplate('{{step}}', { ...vars, stepSeconds: 1.5 })).toBe(
      '1500ms',
    );
    expect(
      renderTemplate('{{targetNamespace}}/{{targetName}}', {
        ...vars,
        target: 'plain',
      }),
    ).toBe('/plain');
  });

  it('rejects unknown and malformed placeholders, naming where the template is', () => {
    expect(() => checkTemplate('sum(x{{{cohrot}}})', 'here.requests')).toThrow(
      /^here\.requests: unknown placeholder \{\{cohrot\}\}; known: \{\{cohort\}\}/,
    );
    expect(() =>
      checkTemplate('sum(x{{{cohort}})', 'here.requests'),
    ).not.toThrow();
    expect(() => checkTemplate('x{{cohort}', 'here.requests')).toThrow(
      /here\.requests: malformed placeholder/,
    );
    expect(() => checkTemplate('  ', 'here.requests')).toThrow(
      /non-empty string/,
    );
  });

  it('requires per-cohort templates to select the cohort', () => {
    expect(() =>
      checkCohortTemplate('sum(rate(x[{{step}}]))', 'q.errors'),
    ).toThrow(/q\.errors: the template must select the cohort/);
    expect(() =>
      checkCohortTemplate(
        'sum(rate(x{track="{{cohortValue}}"}[{{step}}]))',
        'q.errors',
      ),
    ).not.toThrow();
  });

  it('flattens nested and flat templates and names unknown keys', () => {
    expect(
      flattenQueries(
        {
          requests: 'a{{cohort}}',
          kpis: {
            'checkout.conversion': {
              trials: 't{{cohort}}',
              successes: 's{{cohort}}',
            },
          },
          'counts.signups.events': 'e{{cohort}}',
          freshness: 'max(timestamp(x))',
        },
        'root',
      ),
    ).toEqual({
      requests: 'a{{cohort}}',
      'kpis.checkout.conversion.trials': 't{{cohort}}',
      'kpis.checkout.conversion.successes': 's{{cohort}}',
      'counts.signups.events': 'e{{cohort}}',
      freshness: 'max(timestamp(x))',
    });
    expect(() => flattenQueries({ request: 'a{{cohort}}' }, 'root')).toThrow(
      /^root\.request: unknown signal "request"/,
    );
    expect(() =>
      flattenQueries({ kpis: { c: { trial: 'x{{cohort}}' } } }, 'root'),
    ).toThrow(/root\.kpis\.c\.trial: unknown signal/);
    expect(() => flattenQueries({ errors: 42 }, 'root')).toThrow(
      /root\.errors must be a string/,
    );
  });
});

describe('config', () => {
  const read = (data: Record<string, any>) =>
    readPrometheusSettings(
      mockServices.rootConfig({
        data: { rollouts: { providers: { prometheus: data } } },
      }),
    );
  const queries = { requests: 'r{{cohort}}', errors: 'e{{cohort}}' };

  it('reads defaults, headers, token and per-target queries (targets may hold slashes)', () => {
    const s = read({
      baseUrl: 'https://prom.example/prometheus/',
      token: 's3cret',
      headers: { 'X-Scope-OrgID': 'shop' },
      queries,
      targets: {
        'payments/checkout-api': { queries: { requests: 'other{{cohort}}' } },
      },
    });
    expect(s).toMatchObject({
      id: 'prometheus',
      timeoutSeconds: 30,
      cohort: { label: 'track', canary: 'canary', baseline: 'stable' },
      latencyUnit: 'seconds',
      headers: { 'X-Scope-OrgID': 'shop', Authorization: 'Bearer s3cret' },
      queries,
      targets: { 'payments/checkout-api': { requests: 'other{{cohort}}' } },
    });
  });

  it('names the config key of every invalid setting', () => {
    expect(() =>
      readPrometheusSettings(mockServices.rootConfig({ data: {} })),
    ).toThrow(/rollouts\.providers\.prometheus\.baseUrl is required/);
    expect(() => read({ queries })).toThrow(
      /rollouts\.providers\.prometheus\.baseUrl is required/,
    );
    expect(() => read({ baseUrl: 'prometheus:9090x' })).toThrow(
      /rollouts\.providers\.prometheus\.baseUrl must be an http or https URL/,
    );
    expect(() => read({ baseUrl: 'not a url' })).toThrow(
      /rollouts\.providers\.prometheus\.baseUrl is not a valid URL/,
    );
    expect(() => read({ baseUrl: 'http://p:9090', timeoutSeconds: 0 })).toThrow(
      /rollouts\.providers\.prometheus\.timeoutSeconds/,
    );
    expect(() =>
      read({ baseUrl: 'http://p:9090', timeoutSeconds: 'soon' }),
    ).toThrow(/rollouts\.providers\.prometheus\.timeoutSeconds/);
    expect(() =>
      read({ baseUrl: 'http://p:9090', cohort: { label: 'the track' } }),
    ).toThrow(/rollouts\.providers\.prometheus\.cohort\.label/);
    expect(() =>
      read({ baseUrl: 'http://p:9090', cohort: { canary: 'stable' } }),
    ).toThrow(/cohort\.canary and .*cohort\.baseline must differ/);
    expect(() =>
      read({ baseUrl: 'http://p:9090', latencyUnit: 'minutes' }),
    ).toThrow(/rollouts\.providers\.prometheus\.latencyUnit/);
    expect(() =>
      read({ baseUrl: 'http://p:9090', queries: { requests: 'sum(x)' } }),
    ).toThrow(
      /rollouts\.providers\.prometheus\.queries\.requests: the template must select the cohort/,
    );
    expect(() =>
      read({
        baseUrl: 'http://p:9090',
        targets: { 'a/b': { queries: { errors: '{{nope}}' } } },
      }),
    ).toThrow(
      /rollouts\.providers\.prometheus\.targets\["a\/b"\]\.queries\.errors: unknown placeholder \{\{nope\}\}/,
    );
    expect(() =>
      read({
        baseUrl: 'http://p:9090',
        token: 't',
        headers: { authorization: 'Basic x' },
      }),
    ).toThrow(/token and .*Authorization are both set/);
  });
});
