/**
 * PromQL templates per signal. Placeholders: `{{cohort}}` (the cohort's label
 * matcher, e.g. `track="canary"`), `{{cohortLabel}}`, `{{cohortValue}}`,
 * `{{target}}`, `{{targetNamespace}}`, `{{targetName}}` (the target split at
 * its first `/`), `{{entityRef}}`, `{{entityName}}` and `{{step}}` (the
 * interval as a PromQL duration, e.g. `60s`). String values are escaped for
 * use inside double quotes. Every template but `freshness` must use
 * `{{cohort}}` or `{{cohortValue}}`, and must return one series per cohort
 * (`latency`: one series per `le`).
 */
interface PrometheusQueries {
  /** Requests in the interval, e.g. `sum(increase(http_requests_total{service="{{target}}",{{cohort}}}[{{step}}]))`. */
  requests?: string;
  /** Failed requests in the interval (same shape as `requests`). */
  errors?: string;
  /**
   * Latency histogram buckets in the interval, grouped by `le`, e.g.
   * `sum by (le)(increase(http_request_duration_seconds_bucket{service="{{target}}",{{cohort}}}[{{step}}]))`.
   */
  latency?: string;
  /**
   * Optional: the Unix timestamp of the newest sample, evaluated once at the
   * window's end (an instant query), e.g.
   * `max(timestamp(http_requests_total{service="{{target}}",{{cohort}}}))`;
   * gives `lagSeconds` to the second instead of one interval's resolution.
   */
  freshness?: string;
  /**
   * KPIs by name: a proportion KPI has `trials` and `successes`, a mean KPI
   * `n`, `sum` and `sumSq` (each the increase of a counter in the interval).
   */
  kpis?: {
    [name: string]: {
      trials?: string;
      successes?: string;
      n?: string;
      sum?: string;
      sumSq?: string;
    };
  };
  /** Count signals by name: `events` out of `exposures` in the interval. */
  counts?: {
    [name: string]: {
      events?: string;
      exposures?: string;
    };
  };
}

export interface Config {
  rollouts?: {
    providers?: {
      /** The Prometheus telemetry provider (`@tollgate/plugin-rollouts-backend-module-prometheus`). */
      prometheus?: {
        /** Set false to leave the provider out although the module is installed (default true). */
        enabled?: boolean;
        /** Provider id used by `tollgate.dev/telemetry` and `rollouts.telemetry.defaultProvider` (default `prometheus`). */
        id?: string;
        /** Base URL of the Prometheus HTTP API, the part before `/api/v1`, e.g. `http://prometheus.monitoring:9090`. */
        baseUrl: string;
        /**
         * Extra request headers, e.g. `X-Scope-OrgID` for Mimir/Cortex or an API key. Every value is secret.
         * @deepVisibility secret
         */
        headers?: { [name: string]: string };
        /**
         * Bearer token sent as `Authorization: Bearer <token>` (needs read-only query access).
         * @visibility secret
         */
        token?: string;
        /** Per-query timeout in seconds, sent as Prometheus' `timeout` parameter and enforced client-side (default 30). */
        timeoutSeconds?: number;
        /** The label that tells the cohorts apart. */
        cohort?: {
          /** Label name (default `track`). */
          label?: string;
          /** Label value of the canary cohort (default `canary`). */
          canary?: string;
          /** Label value of the baseline cohort (default `stable`). */
          baseline?: string;
        };
        /** Unit of the histogram's `le` label (default `seconds`, Prometheus' convention); Tollgate works in milliseconds. */
        latencyUnit?: 'seconds' | 'milliseconds';
        /** Default query templates for every target. */
        queries?: PrometheusQueries;
        /**
         * Query templates by name, for policies to pick: a policy's
         * `telemetry.queries.<signal>` may only name one of these (e.g.
         * `errors: checkout-errors`), since a policy comes from the service's
         * repository and its queries run with this provider's token and
         * headers. Names: a letter, then letters, digits, `_` or `-`.
         */
        templates?: { [name: string]: string };
        /**
         * Per-target overrides, keyed by the target (the right-hand side of
         * `tollgate.dev/rollouts`, e.g. `payments/checkout-api`). A policy's
         * `telemetry.queries` overrides both.
         */
        targets?: {
          [target: string]: {
            queries?: PrometheusQueries;
            /**
             * Let this target's policy carry raw PromQL in
             * `telemetry.queries`, run with this provider's token and
             * headers (default false: a policy may only name `templates`).
             */
            allowPolicyQueries?: boolean;
          };
        };
      };
    };
  };
}
