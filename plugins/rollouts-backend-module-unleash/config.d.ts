export interface Config {
  rollouts?: {
    providers?: {
      /** The Unleash provider: feature-flag cohort ramps through Unleash's Admin API (v7). */
      unleash?: {
        /** Set false to leave the provider out while the module stays installed (default true). */
        enabled?: boolean;
        /** Provider id, the `<id>:` of the `tollgate.dev/rollouts` annotation (default `unleash`). */
        id?: string;
        /** Unleash's base URL, e.g. `https://unleash.example.com` (without `/api`). */
        baseUrl: string;
        /**
         * An admin API token, or a service account / personal access token
         * allowed to update flags, strategies and environments in the
         * managed projects. Sent as the `Authorization` header.
         * @visibility secret
         */
        apiToken: string;
        /** Project of targets that name none (default `default`). */
        project?: string;
        /** Environment of targets that name none (default `production`). */
        environment?: string;
        /**
         * The ramp: percentages of the flag's audience, rising, e.g.
         * `[1, 5, 25, 100]` (the default); an item may also be
         * `{ weight, minDurationSeconds, requiresApproval }`.
         */
        steps?: Array<
          | number
          | {
              weight: number;
              minDurationSeconds?: number;
              requiresApproval?: boolean;
            }
        >;
        /**
         * What a rollback does: `zero` sets the managed strategy to 0%,
         * `disable` switches the flag off in the environment, `both` does
         * both (default `both`).
         */
        rollbackMode?: 'zero' | 'disable' | 'both';
        /**
         * Title of the flexibleRollout strategy Tollgate steps, also the
         * prefix of the marker Tollgate keeps in it (default `tollgate`).
         */
        strategyTitle?: string;
        /** Timeout of each Admin API call, seconds (default 10). */
        timeoutSeconds?: number;
        /**
         * Flags to manage by name, in addition to the ones discovered by tag.
         * The provider reports each under `target` exactly as written here.
         */
        flags?: Array<{
          /** `[<project>/]<flag>[@<environment>]`, e.g. `default/new-checkout@production`. */
          target: string;
          /** This flag's ramp, when it differs from `steps`. */
          steps?: Array<
            | number
            | {
                weight: number;
                minDurationSeconds?: number;
                requiresApproval?: boolean;
              }
          >;
        }>;
        /** Discovery of managed flags by tag (on by default). */
        discovery?: {
          /** Set false to manage only the flags listed in `flags` (default true). */
          enabled?: boolean;
          /** The tag, `<type>:<value>` (default `tollgate:managed`; the tag type must exist in Unleash). */
          tag?: string;
        };
      };
    };
  };
}
