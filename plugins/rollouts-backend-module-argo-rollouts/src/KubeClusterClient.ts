import {
  ApiException,
  AppsV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import { ROLLOUT_GVR, type ArgoRollout, type ReplicaSet } from './argoTypes';
import { ArgoRolloutsError, type KubernetesStatus } from './errors';

/**
 * One entry of `rollouts.providers.argoRollouts.clusters`.
 *
 * @public
 */
export interface ArgoRolloutsClusterConfig {
  /** Names the cluster in targets (`<cluster>/<namespace>/<rollout>`) and messages. */
  name: string;
  /** API server URL; required with `serviceAccountToken`, overrides the kubeconfig's otherwise. */
  url?: string;
  /** A kubeconfig file path, or a kubeconfig document inline. */
  kubeconfig?: string;
  /** The kubeconfig context to use (default: its current context). */
  context?: string;
  /** Use the pod's own service account (the backend runs in this cluster). */
  inCluster?: boolean;
  /** A bearer token, e.g. of a ServiceAccount token Secret. */
  serviceAccountToken?: string;
  /** Base64 PEM of the API server's CA (like a kubeconfig's `certificate-authority-data`). */
  caData?: string;
  /** Skip TLS verification (tests and local clusters only; also required for an `http://` URL). */
  skipTLSVerify?: boolean;
  /** Namespaces to list rollouts in; all namespaces (a ClusterRole) when absent. */
  namespaces?: string[];
}

/** What a call does, to name it in errors: `patch` on `rollouts/status` in `payments`. */
interface Operation {
  verb: 'get' | 'list' | 'patch';
  resource: 'rollouts' | 'rollouts/status' | 'replicasets';
  namespace?: string;
  name?: string;
}

const GROUP_OF: Record<Operation['resource'], string> = {
  rollouts: 'argoproj.io',
  'rollouts/status': 'argoproj.io',
  replicasets: 'apps',
};

function authMethods(c: ArgoRolloutsClusterConfig): string[] {
  return [
    c.kubeconfig && 'kubeconfig',
    c.inCluster && 'inCluster',
    c.serviceAccountToken && 'serviceAccountToken',
  ].filter((m): m is string => Boolean(m));
}

/** A KubeConfig for one configured cluster; throws when the entry is incomplete. */
export function kubeConfigFor(c: ArgoRolloutsClusterConfig): KubeConfig {
  const where = `rollouts.providers.argoRollouts.clusters[${c.name}]`;
  if (!c.name || /[/,\s:]/.test(c.name)) {
    throw new Error(
      `${where}: name must be set and contain no "/", ",", ":" or spaces (it is part of the rollout target)`,
    );
  }
  const methods = authMethods(c);
  if (methods.length !== 1) {
    throw new Error(
      `${where}: set exactly one of kubeconfig, inCluster or serviceAccountToken (found ${methods.length ? methods.join(', ') : 'none'})`,
    );
  }
  const kc = new KubeConfig();
  if (c.serviceAccountToken) {
    if (!c.url)
      throw new Error(`${where}: url is required with serviceAccountToken`);
    kc.loadFromOptions({
      clusters: [
        {
          name: c.name,
          server: c.url,
          caData: c.caData,
          skipTLSVerify: c.skipTLSVerify ?? false,
        },
      ],
      users: [{ name: 'tollgate', token: c.serviceAccountToken }],
      contexts: [{ name: c.name, cluster: c.name, user: 'tollgate' }],
      currentContext: c.name,
    });
    return kc;
  }
  if (c.inCluster) {
    kc.loadFromCluster();
  } else {
    const inline =
      c.kubeconfig!.includes('\n') || c.kubeconfig!.trimStart().startsWith('{');
    if (inline) kc.loadFromString(c.kubeconfig!);
    else kc.loadFromFile(c.kubeconfig!);
    if (c.context) kc.setCurrentContext(c.context);
  }
  const current = kc.getCurrentCluster();
  if (!current)
    throw new Error(
      `${where}: the kubeconfig names no cluster for its current context`,
    );
  if (c.url || c.caData || c.skipTLSVerify !== undefined) {
    kc.loadFromOptions({
      clusters: kc.clusters.map(cl =>
        cl.name === current.name
          ? {
              ...cl,
              server: c.url ?? cl.server,
              caData: c.caData ?? cl.caData,
              skipTLSVerify: c.skipTLSVerify ?? cl.skipTLSVerify,
            }
          : cl,
      ),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
  }
  return kc;
}

/** Who the cluster will see, for error messages. */
function identityOf(c: ArgoRolloutsClusterConfig, kc: KubeConfig): string {
  if (c.serviceAccountToken) {
    try {
      const payload = JSON.parse(
        Buffer.from(
          c.serviceAccountToken.split('.')[1] ?? '',
          'base64url',
        ).toString('utf8'),
      );
      const sub = /^system:serviceaccount:([^:]+):(.+)$/.exec(
        String(payload.sub ?? ''),
      );
      if (sub) return `service account ${sub[1]}/${sub[2]}`;
    } catch {
      // not a JWT: fall through
    }
    return 'the configured serviceAccountToken';
  }
  if (c.inCluster) return "the backend pod's service account";
  return `kubeconfig user "${kc.getCurrentUser()?.name ?? 'unknown'}"`;
}

/** What an operation names in a message: its rollout, else its namespace, else all namespaces. */
function operationTarget(op: Operation): string {
  if (op.name) return ` ${op.namespace}/${op.name}`;
  if (op.namespace) return ` in namespace "${op.namespace}"`;
  return ' in all namespaces';
}

/** Who a 403's `User "…"` names: a service account, a user, else `fallback` (the user is not in the message). */
function forbiddenSubject(user: string | undefined, fallback: string): string {
  if (user?.startsWith('system:serviceaccount:'))
    return `service account ${user.split(':').slice(2).join('/')}`;
  if (user) return `user ${user}`;
  return fallback;
}

function parseStatus(body: unknown): KubernetesStatus | undefined {
  if (body && typeof body === 'object') return body as KubernetesStatus;
  if (typeof body !== 'string' || !body) return undefined;
  try {
    const parsed = JSON.parse(body);
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function timeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: ctx => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: res => new Observable(Promise.resolve(res)),
  };
}

/**
 * The Kubernetes API of one cluster, as far as the provider uses it: list,
 * get and patch Rollouts (and their status subresource), list ReplicaSets.
 * Every failure becomes an {@link ArgoRolloutsError} that names the cluster,
 * the verb and the resource.
 */
export class KubeClusterClient {
  readonly name: string;
  readonly namespaces?: string[];
  readonly #custom: CustomObjectsApi;
  readonly #apps: AppsV1Api;
  readonly #timeoutMs: number;
  readonly #identity: string;
  readonly #server: string;

  private constructor(
    name: string,
    kc: KubeConfig,
    identity: string,
    options: { timeoutMs: number; namespaces?: string[] },
  ) {
    this.name = name;
    this.namespaces = options.namespaces?.length
      ? [...options.namespaces]
      : undefined;
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#timeoutMs = options.timeoutMs;
    this.#identity = identity;
    this.#server = kc.getCurrentCluster()?.server ?? 'unknown';
  }

  static create(
    config: ArgoRolloutsClusterConfig,
    options: { timeoutMs: number },
  ): KubeClusterClient {
    const kc = kubeConfigFor(config);
    return new KubeClusterClient(config.name, kc, identityOf(config, kc), {
      ...options,
      namespaces: config.namespaces,
    });
  }

  #options(contentType?: string): ConfigurationOptions<ObservableMiddleware> {
    const base: ConfigurationOptions<ObservableMiddleware> = {
      middleware: [timeoutMiddleware(this.#timeoutMs)],
      middlewareMergeStrategy: 'append',
    };
    return contentType
      ? setHeaderOptions('Content-Type', contentType, base)
      : base;
  }

  /** Every Rollout in the configured namespaces (or the whole cluster). */
  async listRollouts(): Promise<ArgoRollout[]> {
    if (!this.namespaces) {
      const list = await this.#call(
        { verb: 'list', resource: 'rollouts' },
        () =>
          this.#custom.listClusterCustomObject(
            { ...ROLLOUT_GVR },
            this.#options(),
          ),
      );
      return (list?.items ?? []) as ArgoRollout[];
    }
    const items: ArgoRollout[] = [];
    for (const namespace of this.namespaces) {
      const list = await this.#call(
        { verb: 'list', resource: 'rollouts', namespace },
        () =>
          this.#custom.listNamespacedCustomObject(
            { ...ROLLOUT_GVR, namespace },
            this.#options(),
          ),
      );
      items.push(...((list?.items ?? []) as ArgoRollout[]));
    }
    return items;
  }

  async getRollout(namespace: string, name: string): Promise<ArgoRollout> {
    return this.#call(
      { verb: 'get', resource: 'rollouts', namespace, name },
      () =>
        this.#custom.getNamespacedCustomObject(
          { ...ROLLOUT_GVR, namespace, name },
          this.#options(),
        ),
    );
  }

  /**
   * Patches a Rollout with a JSON merge patch (`merge`) or a JSON patch
   * (`json`): the two patch types a CRD accepts (no strategic merge patch).
   * Merge patches, the ones Tollgate composes, go with
   * `fieldValidation=Strict`: the API then refuses a field the installed CRD
   * does not know (e.g. `promoteFull` on an old Argo Rollouts) instead of
   * dropping it and answering 200 for a patch that did nothing. The undo
   * JSON patch copies a ReplicaSet's pod template and keeps the server's
   * default, as `kubectl argo rollouts undo` does.
   */
  async patchRollout(
    namespace: string,
    name: string,
    body: unknown,
    options: { subresource?: 'status'; strategy: 'merge' | 'json' },
  ): Promise<ArgoRollout> {
    const contentType =
      options.strategy === 'merge'
        ? PatchStrategy.MergePatch
        : PatchStrategy.JsonPatch;
    const request = {
      ...ROLLOUT_GVR,
      namespace,
      name,
      body,
      ...(options.strategy === 'merge' ? { fieldValidation: 'Strict' } : {}),
    };
    if (options.subresource === 'status') {
      return this.#call(
        { verb: 'patch', resource: 'rollouts/status', namespace, name },
        () =>
          this.#custom.patchNamespacedCustomObjectStatus(
            request,
            this.#options(contentType),
          ),
      );
    }
    return this.#call(
      { verb: 'patch', resource: 'rollouts', namespace, name },
      () =>
        this.#custom.patchNamespacedCustomObject(
          request,
          this.#options(contentType),
        ),
    );
  }

  /** ReplicaSets matching a label selector, in one namespace or (undefined) all of them. */
  async listReplicaSets(
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<ReplicaSet[]> {
    const list = await this.#call(
      { verb: 'list', resource: 'replicasets', namespace },
      () =>
        namespace
          ? this.#apps.listNamespacedReplicaSet(
              { namespace, labelSelector },
              this.#options(),
            )
          : this.#apps.listReplicaSetForAllNamespaces(
              { labelSelector },
              this.#options(),
            ),
    );
    return (list.items ?? []) as unknown as ReplicaSet[];
  }

  async #call<T>(op: Operation, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.#translate(op, e);
    }
  }

  #translate(op: Operation, e: unknown): ArgoRolloutsError {
    const cluster = this.name;
    const what = `${op.verb} ${op.resource}${operationTarget(op)}`;
    if (e instanceof ApiException) {
      const status = parseStatus(e.body);
      const said = status?.message ? ` Kubernetes said: ${status.message}` : '';
      const base = {
        cluster,
        statusCode: e.code,
        reason: status?.reason ?? `HTTP${e.code}`,
        cause: e,
      };
      switch (e.code) {
        case 401:
          return new ArgoRolloutsError(
            `cluster "${cluster}" rejected the credentials of ${this.#identity} (401 Unauthorized) on ${what}: check the cluster's token or kubeconfig.`,
            { ...base, reason: 'Unauthorized' },
          );
        case 403: {
          const user = /User "([^"]+)"/.exec(status?.message ?? '')?.[1];
          const who = forbiddenSubject(user, this.#identity);
          const scope = op.namespace
            ? `in namespace "${op.namespace}"`
            : 'at the cluster scope (a ClusterRole)';
          return new ArgoRolloutsError(
            `cluster "${cluster}": ${who} lacks the "${op.verb}" permission on "${op.resource}" (API group ${GROUP_OF[op.resource]}) ${scope} (403 Forbidden). ` +
              `Grant it in the Role bound to ${who}; the module README lists the least-privilege rules.${said}`,
            { ...base, reason: 'Forbidden' },
          );
        }
        case 404:
          if (op.name) {
            return new ArgoRolloutsError(
              `rollout not found: ${op.namespace}/${op.name} in cluster "${cluster}" (404).${said}`,
              {
                ...base,
                reason: 'NotFound',
              },
            );
          }
          return new ArgoRolloutsError(
            `cluster "${cluster}" does not serve ${op.resource} (${GROUP_OF[op.resource]}): is Argo Rollouts installed? (404).${said}`,
            { ...base, reason: 'NotFound' },
          );
        case 409:
          return new ArgoRolloutsError(
            `rollout ${op.namespace}/${op.name} changed in cluster "${cluster}" while Tollgate patched it (409 Conflict).${said}`,
            {
              ...base,
              reason: 'Conflict',
            },
          );
        case 400:
          if (/unknown field/.test(status?.message ?? '')) {
            return new ArgoRolloutsError(
              `cluster "${cluster}" refused ${what}: its Rollout CRD does not know a field Tollgate sets (400 BadRequest); ` +
                `upgrade Argo Rollouts (and its CRDs) in that cluster.${said}`,
              base,
            );
          }
          return new ArgoRolloutsError(
            `cluster "${cluster}" refused ${what} (400 ${status?.reason ?? 'BadRequest'}).${said}`,
            base,
          );
        default:
          return new ArgoRolloutsError(
            `cluster "${cluster}" refused ${what} (${e.code} ${status?.reason ?? 'error'}).${said || ` ${String(e.body ?? '').slice(0, 300)}`}`,
            base,
          );
      }
    }
    const err = e as {
      name?: string;
      message?: string;
      type?: string;
      code?: string;
    };
    if (
      err?.name === 'AbortError' ||
      err?.name === 'TimeoutError' ||
      err?.type === 'aborted'
    ) {
      return new ArgoRolloutsError(
        `cluster "${cluster}" did not answer ${what} within ${this.#timeoutMs / 1000} s (${this.#server})`,
        { cluster, reason: 'Timeout', cause: e },
      );
    }
    return new ArgoRolloutsError(
      `cannot reach cluster "${cluster}" at ${this.#server} for ${what}: ${err?.message ?? String(e)}`,
      {
        cluster,
        reason: 'Unreachable',
        cause: e,
      },
    );
  }
}
