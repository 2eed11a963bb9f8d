export interface Config {
  rollouts?: {
    providers?: {
      /** The Argo Rollouts deploy provider (module `@tollgate/plugin-rollouts-backend-module-argo-rollouts`). */
      argoRollouts?: {
        /** Provider id, the left-hand side of the `tollgate.dev/rollouts` annotation (default `argo-rollouts`). */
        id?: string;
        /** Timeout of each Kubernetes API request, seconds (default 10). */
        requestTimeoutSeconds?: number;
        /**
         * What an Argo `pause: {}` step (no duration) means: `approval` (default) — the
         * Tollgate step requires a person's approval; `gate` — Tollgate's gate leaves the
         * step on its own when the verdict is promote.
         */
        indefinitePause?: 'approval' | 'gate';
        /**
         * After a rollback (abort), also restore the stable revision's pod template
         * (`kubectl argo rollouts undo`), so the Rollout ends Healthy on the stable
         * version instead of Degraded (default false).
         */
        undoOnRollback?: boolean;
        /**
         * How a multi-stage promotion starts a version on a target (`startRelease`):
         * the image of `container` becomes `<image>:<version>`, as
         * `kubectl argo rollouts set image` would set it. Targets not listed use the defaults.
         */
        releases?: Array<{
          /** The target, `<namespace>/<rollout>` or `<cluster>/<namespace>/<rollout>`. */
          target: string;
          /** The container whose image tag is the version (default: the container named like the rollout, else the first). The provider reads the version from it too. */
          container?: string;
          /** The image repository, without tag or digest (default: the container's current repository). */
          image?: string;
        }>;
        /** The clusters to read Rollouts from. */
        clusters: Array<{
          /** Cluster name, the first part of a target `<cluster>/<namespace>/<rollout>`; no `/`, `,`, `:` or spaces. */
          name: string;
          /** API server URL; required with serviceAccountToken, overrides the kubeconfig's server otherwise. */
          url?: string;
          /**
           * A kubeconfig file path, or a whole kubeconfig document inline.
           * @visibility secret
           */
          kubeconfig?: string;
          /** The kubeconfig context to use (default: its current-context). */
          context?: string;
          /** Use the backend pod's own service account (the backend runs in this cluster). */
          inCluster?: boolean;
          /**
           * Bearer token of the ServiceAccount Tollgate acts as.
           * @visibility secret
           */
          serviceAccountToken?: string;
          /**
           * Base64-encoded PEM of the API server's certificate authority.
           * @visibility secret
           */
          caData?: string;
          /** Skip TLS verification (local clusters only; needed for an http:// url). */
          skipTLSVerify?: boolean;
          /** Namespaces to list Rollouts in (a Role in each); all namespaces (a ClusterRole) when absent. */
          namespaces?: string[];
        }>;
      };
    };
  };
}
