export interface Config {
  /** Tollgate: progressive delivery gates. */
  rollouts?: {
    /** How often the gate loop evaluates every active rollout. */
    schedule?: {
      /** Seconds between runs of the gate loop (default 60). */
      frequencySeconds?: number;
      /** Longest a loop run may take, seconds (default 3 × frequencySeconds, at least 30); a replica that dies mid-run holds the loop this long. */
      timeoutSeconds?: number;
      /**
       * Slices the active rollouts are split into (default 1), each a global
       * task on the scheduler: replicas share a tick, one replica per shard
       * at a time. The first shard also syncs from the providers.
       */
      shards?: number;
    };
    /** Telemetry read by the gate loop. */
    telemetry?: {
      /** Interval length of the cohort counts asked from telemetry providers, seconds (default 60). */
      stepSeconds?: number;
      /** Telemetry provider used when neither the annotation nor a provider with the deploy provider's id matches. */
      defaultProvider?: string;
      /**
       * Days the telemetry each rollout step was judged on is kept for
       * what-if replay (`POST /v1/policies/whatif`), compressed, one row per
       * step (default 30; 0 keeps none). Pruned daily.
       */
      retentionDays?: number;
    };
    /**
     * Shadow policies: evaluated beside the enforced policy on every run,
     * never acted on; their disagreements are logged as `shadow` (would-have)
     * decisions. An entity's `tollgate.dev/shadow-policy` annotation wins
     * over this list; the first entry whose `services` match applies.
     */
    shadowPolicies?: Array<{
      /** A policy under `rollouts.policies`. */
      policy: string;
      /** Entity refs it shadows (default: every service). */
      services?: string[];
    }>;
    /** Service level objectives, as the executive dashboard reads them. */
    slo?: {
      /** The window error-budget shares are taken over, days (default 30; 1–366). A 28-day window matches a four-week SLO. */
      windowDays?: number;
    };
    /** Tollgate as the judge of rollouts Argo Rollouts or Flagger drive (`/v1/judge`, `/v1/webhooks/flagger`). */
    judge?: {
      /** An evaluation younger than this is reused when a controller asks again, seconds (default: telemetry.stepSeconds). */
      maxEvaluationAgeSeconds?: number;
    };
    /** Retries of a failed provider call inside one loop run. */
    retries?: {
      /** Attempts per provider call (default 3). */
      attempts?: number;
      /** First backoff, milliseconds; doubles each attempt (default 200). */
      initialBackoffMs?: number;
      /** A provider call that has not answered after this many seconds has failed (default 30). */
      timeoutSeconds?: number;
      /** Retries one gate-loop run may spend across all rollouts (default 100), so a broken provider cannot stall the run. */
      budgetPerRun?: number;
    };
    /** The policy used when an entity names none (default `standard`). */
    defaultPolicy?: string;
    /**
     * Named policies (the same shape as a policy YAML file). An entity picks
     * one with `tollgate.dev/policy: default:<name>`.
     */
    policies?: {
      [name: string]: {
        slo?: {
          availability?: number;
          latency?: { thresholdMs?: number; objective?: number };
        };
        kpis?: Array<{
          name: string;
          type: 'proportion' | 'mean';
          direction: 'increase' | 'decrease';
          margin?: number;
        }>;
        steps?: Array<{
          weight: number;
          minDurationSeconds?: number;
          requiresApproval?: boolean;
        }>;
        gate?: { [key: string]: any };
        /**
         * Gate rules run in shadow: off in the enforced gate, on in a shadow
         * of this policy that logs what they would have done and never acts
         * (error-rate, latency, srm, burn, change-detection, blast-radius, segments).
         */
        shadowRules?: string[];
        /**
         * A multi-stage promotion for every service on this policy: ordered
         * stages, each a deploy provider target template (`{{name}}` and
         * `{{namespace}}` are the entity's). An entity's `tollgate.dev/stages`
         * annotation wins.
         */
        stages?: Array<{ name: string; provider: string; target: string }>;
        /** How long a completed stage soaks before the next starts, e.g. `10m`. */
        stageSoak?: string;
      };
    };
    /** Backstage notifications to the owning group (default true). */
    notifications?: { enabled?: boolean };
    /** The append-only decision log. */
    decisionLog?: {
      /**
       * Signed checkpoints of the hash chain (`GET /v1/decisions/export`
       * carries them, `npm run verify-log` checks them). Without a private
       * key no checkpoints are signed.
       */
      checkpoints?: {
        /**
         * Ed25519 private key, PEM (PKCS#8), e.g. from
         * `openssl genpkey -algorithm ed25519`. Its public key is served at
         * `GET /v1/decisions/checkpoint-key`.
         * @visibility secret
         */
        privateKey?: string;
        /** A checkpoint every this many entries (default 1000). */
        every?: number;
      };
    };
  };
}
