import type { LoggerService } from '@backstage/backend-plugin-api';
import type { DeployTargetDescription } from '@tollgate/plugin-rollouts-common';
import type {
  ProviderRollout,
  RolloutsDeployProvider,
} from '@tollgate/plugin-rollouts-node';
import {
  POD_TEMPLATE_HASH_LABEL,
  type ArgoRollout,
  type PodTemplate,
  type ReplicaSet,
} from './argoTypes';
import type { ArgoRolloutsProviderConfig } from './config';
import { describeRollout } from './describe';
import { ArgoRolloutsError } from './errors';
import {
  KubeClusterClient,
  type ArgoRolloutsClusterConfig,
} from './KubeClusterClient';
import {
  canarySteps,
  isFullyPromoted,
  mapCanarySteps,
  mapRollout,
  stepKind,
  type IndefinitePauseMode,
} from './mapping';
import { checkRelease, planRelease, type ArgoReleaseConfig } from './release';

/**
 * Options of {@link ArgoRolloutsDeployProvider.create}.
 *
 * @public
 */
export interface ArgoRolloutsDeployProviderOptions {
  /** Provider id, the left-hand side of `tollgate.dev/rollouts` (default `argo-rollouts`). */
  id?: string;
  clusters: ArgoRolloutsClusterConfig[];
  logger: LoggerService;
  /** Per Kubernetes API request (default 10 s). */
  requestTimeoutMs?: number;
  /** What an Argo `pause: {}` means to Tollgate (default `approval`). */
  indefinitePause?: IndefinitePauseMode;
  /** After aborting, also restore the stable pod template (`kubectl argo rollouts undo`), default false. */
  undoOnRollback?: boolean;
  /** How `startRelease` sets a version's image, per target (default for every target: the release container's repository, tag replaced). */
  releases?: ArgoReleaseConfig[];
  /** How long `startRelease` waits for Argo's controller to take up the new pod template (default 30 s). */
  releaseObserveTimeoutMs?: number;
  now?: () => Date;
}

/** One patch of a plan: what `kubectl argo rollouts` would send. */
interface Patch {
  body: Record<string, unknown> | Array<Record<string, unknown>>;
  strategy: 'merge' | 'json';
  subresource?: 'status';
  /** Carry the resourceVersion the plan was made from, so a concurrent change answers 409 instead of being overwritten. */
  precondition: boolean;
}

interface Located {
  client: KubeClusterClient;
  namespace: string;
  name: string;
}

const FINISHED_SEEN_TTL_MS = 7 * 24 * 3600 * 1000;

function invalidState(cluster: string, message: string): ArgoRolloutsError {
  return new ArgoRolloutsError(message, { cluster, reason: 'InvalidState' });
}

function withResourceVersion(
  patch: Patch,
  resourceVersion: string | undefined,
): Patch['body'] {
  if (!patch.precondition || !resourceVersion) return patch.body;
  if (Array.isArray(patch.body)) {
    return [
      {
        op: 'replace',
        path: '/metadata/resourceVersion',
        value: resourceVersion,
      },
      ...patch.body,
    ];
  }
  const metadata = (patch.body.metadata ?? {}) as Record<string, unknown>;
  return { ...patch.body, metadata: { ...metadata, resourceVersion } };
}

/** The pod template of a ReplicaSet as a Rollout's `spec.template`: plain JSON, without Argo's hash label. */
function rolloutTemplateOf(rs: ReplicaSet): PodTemplate | undefined {
  if (!rs.spec?.template) return undefined;
  const template = JSON.parse(JSON.stringify(rs.spec.template)) as PodTemplate;
  if (template.metadata) {
    if (template.metadata.labels)
      delete template.metadata.labels[POD_TEMPLATE_HASH_LABEL];
    if (template.metadata.creationTimestamp === null)
      delete template.metadata.creationTimestamp;
  }
  return template;
}

/**
 * True when every field set in `a` has the same value in `b` (fields `a`
 * leaves unset are ignored), like apimachinery's `Semantic.DeepDerivative`
 * that `kubectl argo rollouts undo` compares templates with: the API server
 * fills defaults into a ReplicaSet's template that the Rollout never had.
 */
function derivative(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined) return true;
  if (Array.isArray(a)) {
    return (
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => derivative(x, b[i]))
    );
  }
  if (typeof a === 'object') {
    if (!b || typeof b !== 'object' || Array.isArray(b)) return false;
    return Object.entries(a).every(([k, v]) =>
      derivative(v, (b as Record<string, unknown>)[k]),
    );
  }
  return a === b;
}

/**
 * Tollgate's deploy provider for Argo Rollouts: reads canary Rollouts
 * through the Kubernetes API of the configured clusters and acts on them with
 * the same patches as `kubectl argo rollouts` (promote, promote --full,
 * abort, retry, undo, pause).
 *
 * A target is `<cluster>/<namespace>/<rollout>`, or `<namespace>/<rollout>`
 * when one cluster is configured (the form it then reports).
 *
 * @public
 */
export class ArgoRolloutsDeployProvider implements RolloutsDeployProvider {
  readonly id: string;
  readonly #clusters: KubeClusterClient[];
  readonly #logger: LoggerService;
  readonly #indefinitePause: IndefinitePauseMode;
  readonly #undoOnRollback: boolean;
  readonly #now: () => Date;
  readonly #firstSeen = new Map<string, Date>();
  readonly #warned = new Set<string>();
  /** `releases[]` by the target in the form this provider reports. */
  readonly #releases = new Map<string, ArgoReleaseConfig>();
  readonly #observeTimeoutMs: number;

  private constructor(options: ArgoRolloutsDeployProviderOptions) {
    this.id = options.id ?? 'argo-rollouts';
    const timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#clusters = options.clusters.map(c =>
      KubeClusterClient.create(c, { timeoutMs }),
    );
    if (this.#clusters.length === 0)
      throw new Error('the Argo Rollouts provider needs at least one cluster');
    this.#logger = options.logger;
    this.#indefinitePause = options.indefinitePause ?? 'approval';
    this.#undoOnRollback = options.undoOnRollback ?? false;
    this.#now = options.now ?? (() => new Date());
    this.#observeTimeoutMs = options.releaseObserveTimeoutMs ?? 30_000;
    options.releases?.forEach((r, i) => {
      const key = `rollouts.providers.argoRollouts.releases[${i}]`;
      let target: string;
      try {
        target = this.normalizeTarget(r.target);
      } catch (e) {
        throw new Error(`${key}.target: ${(e as Error).message}`);
      }
      if (this.#releases.has(target))
        throw new Error(`${key}.target: "${target}" is configured twice`);
      this.#releases.set(target, checkRelease(r, key));
    });
  }

  static create(
    options: ArgoRolloutsDeployProviderOptions,
  ): ArgoRolloutsDeployProvider {
    return new ArgoRolloutsDeployProvider(options);
  }

  static fromConfig(
    config: ArgoRolloutsProviderConfig,
    options: { logger: LoggerService; now?: () => Date },
  ): ArgoRolloutsDeployProvider {
    return new ArgoRolloutsDeployProvider({
      id: config.id,
      clusters: config.clusters,
      requestTimeoutMs:
        config.requestTimeoutSeconds === undefined
          ? undefined
          : config.requestTimeoutSeconds * 1000,
      indefinitePause: config.indefinitePause,
      undoOnRollback: config.undoOnRollback,
      releases: config.releases,
      ...options,
    });
  }

  /** Names of the configured clusters. */
  get clusterNames(): string[] {
    return this.#clusters.map(c => c.name);
  }

  // ---------------------------------------------------------------- reading

  async listRollouts(): Promise<ProviderRollout[]> {
    const settled = await Promise.allSettled(
      this.#clusters.map(c => this.#listCluster(c)),
    );
    const failed = settled.flatMap(s =>
      s.status === 'rejected' ? [s.reason as unknown] : [],
    );
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1) {
      // Never return a partial list: the gate loop would take the missing rollouts for finished ones.
      const first = failed[0] as ArgoRolloutsError;
      throw new ArgoRolloutsError(
        failed
          .map(e => (e instanceof Error ? e.message : String(e)))
          .join(' | '),
        {
          cluster: first.cluster ?? 'several',
          reason: first.reason ?? 'Unknown',
          statusCode: first.statusCode,
          cause: first,
        },
      );
    }
    this.#pruneFirstSeen();
    return settled.flatMap(s => (s.status === 'fulfilled' ? s.value : []));
  }

  async getRollout(target: string): Promise<ProviderRollout | undefined> {
    const at = this.#locate(target);
    let ro: ArgoRollout;
    try {
      ro = await at.client.getRollout(at.namespace, at.name);
    } catch (e) {
      if (e instanceof ArgoRolloutsError && e.statusCode === 404)
        return undefined;
      throw e;
    }
    const replicaSets = await this.#ownedReplicaSetsOrNone(at.client, ro);
    return this.#map(at.client, ro, replicaSets);
  }

  /**
   * The canary the Rollout exposes (strategy, traffic router, weight, step,
   * pause and analysis state) as the controller reports it. Reads only.
   */
  async describeTarget(target: string): Promise<DeployTargetDescription> {
    const at = this.#locate(target);
    const ro = await at.client.getRollout(at.namespace, at.name);
    return describeRollout(
      ro,
      this.#targetOf(at.client, ro),
      this.id,
      this.#indefinitePause,
    );
  }

  async #listCluster(client: KubeClusterClient): Promise<ProviderRollout[]> {
    const rollouts = (await client.listRollouts()).filter(
      ro => ro.spec?.strategy?.canary,
    );
    const byOwner = await this.#replicaSetsByOwner(client, rollouts);
    return rollouts.flatMap(ro => {
      const mapped = this.#map(
        client,
        ro,
        byOwner.get(ro.metadata.uid ?? '') ?? [],
      );
      return mapped ? [mapped] : [];
    });
  }

  /** Argo's ReplicaSets, by the uid of the Rollout that controls them; empty (with a warning) when they cannot be read. */
  async #replicaSetsByOwner(
    client: KubeClusterClient,
    rollouts: ArgoRollout[],
  ): Promise<Map<string, ReplicaSet[]>> {
    const byOwner = new Map<string, ReplicaSet[]>();
    if (rollouts.length === 0) return byOwner;
    const namespaces = client.namespaces
      ? [...new Set(rollouts.map(ro => ro.metadata.namespace!))]
      : [undefined];
    try {
      for (const namespace of namespaces) {
        for (const rs of await client.listReplicaSets(
          namespace,
          POD_TEMPLATE_HASH_LABEL,
        )) {
          const owner = rs.metadata.ownerReferences?.find(
            o => o.controller && o.kind === 'Rollout',
          );
          if (!owner) continue;
          byOwner.set(owner.uid, [...(byOwner.get(owner.uid) ?? []), rs]);
        }
      }
      this.#warned.delete(`rs:${client.name}`);
    } catch (e) {
      this.#warnOnce(
        `rs:${client.name}`,
        `rollouts: versions and start times of cluster "${client.name}" are partial: ${(e as Error).message}`,
      );
      byOwner.clear();
    }
    return byOwner;
  }

  /** The ReplicaSets one Rollout controls (as `kubectl argo rollouts undo` finds them). */
  async #ownedReplicaSets(
    client: KubeClusterClient,
    ro: ArgoRollout,
  ): Promise<ReplicaSet[]> {
    const labels = ro.spec.selector?.matchLabels ?? {};
    const selector = Object.keys(labels).length
      ? Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : POD_TEMPLATE_HASH_LABEL;
    const all = await client.listReplicaSets(ro.metadata.namespace, selector);
    return all.filter(rs =>
      rs.metadata.ownerReferences?.some(
        o => o.controller && o.uid === ro.metadata.uid,
      ),
    );
  }

  async #ownedReplicaSetsOrNone(
    client: KubeClusterClient,
    ro: ArgoRollout,
  ): Promise<ReplicaSet[]> {
    try {
      return await this.#ownedReplicaSets(client, ro);
    } catch (e) {
      this.#warnOnce(
        `rs:${client.name}`,
        `rollouts: versions and start times of cluster "${client.name}" are partial: ${(e as Error).message}`,
      );
      return [];
    }
  }

  #map(
    client: KubeClusterClient,
    ro: ArgoRollout,
    replicaSets: ReplicaSet[],
  ): ProviderRollout | undefined {
    const target = this.#targetOf(client, ro);
    return mapRollout(ro, {
      cluster: client.name,
      target,
      container: this.#releases.get(target)?.container,
      replicaSets,
      indefinitePause: this.#indefinitePause,
      firstSeen: key => {
        let at = this.#firstSeen.get(key);
        if (!at) {
          at = this.#now();
          this.#firstSeen.set(key, at);
        }
        return at;
      },
    });
  }

  #pruneFirstSeen() {
    const cutoff = this.#now().getTime() - FINISHED_SEEN_TTL_MS;
    for (const [key, at] of this.#firstSeen)
      if (at.getTime() < cutoff) this.#firstSeen.delete(key);
  }

  #warnOnce(key: string, message: string) {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message);
  }

  // ---------------------------------------------------------------- targets

  #targetOf(client: KubeClusterClient, ro: ArgoRollout): string {
    const short = `${ro.metadata.namespace}/${ro.metadata.name}`;
    return this.#clusters.length === 1 ? short : `${client.name}/${short}`;
  }

  /** The form this provider reports: `<namespace>/<rollout>` with one cluster, `<cluster>/<namespace>/<rollout>` with several. */
  normalizeTarget(target: string): string {
    const { client, namespace, name } = this.#locate(target.trim());
    return this.#clusters.length === 1
      ? `${namespace}/${name}`
      : `${client.name}/${namespace}/${name}`;
  }

  #locate(target: string): Located {
    const parts = target.split('/');
    const clusters = this.clusterNames.join(', ');
    if (parts.some(p => !p) || parts.length < 2 || parts.length > 3) {
      throw new ArgoRolloutsError(
        `target "${target}" is not of the form <cluster>/<namespace>/<rollout> (or <namespace>/<rollout> with one cluster)`,
        { cluster: 'unknown', reason: 'InvalidTarget' },
      );
    }
    if (parts.length === 2) {
      if (this.#clusters.length !== 1) {
        throw new ArgoRolloutsError(
          `target "${target}" names no cluster; with several clusters (${clusters}) use <cluster>/<namespace>/<rollout>`,
          { cluster: 'unknown', reason: 'InvalidTarget' },
        );
      }
      return { client: this.#clusters[0], namespace: parts[0], name: parts[1] };
    }
    const client = this.#clusters.find(c => c.name === parts[0]);
    if (!client) {
      throw new ArgoRolloutsError(
        `target "${target}": no cluster "${parts[0]}" is configured (configured: ${clusters})`,
        {
          cluster: parts[0],
          reason: 'InvalidTarget',
        },
      );
    }
    return { client, namespace: parts[1], name: parts[2] };
  }

  // ---------------------------------------------------------------- acting

  /**
   * Reads the rollout, plans the patches from what it read, applies them.
   * Plans made from state carry its resourceVersion: on 409 Conflict the
   * rollout is read again and the plan made again, once.
   */
  async #act(
    target: string,
    action: string,
    plan: (ro: ArgoRollout, at: Located) => Patch[] | Promise<Patch[]>,
  ): Promise<ProviderRollout> {
    const at = this.#locate(target);
    for (let attempt = 1; ; attempt++) {
      const ro = await at.client.getRollout(at.namespace, at.name);
      if (!ro.spec?.strategy?.canary) {
        throw invalidState(
          at.client.name,
          `rollout ${at.namespace}/${at.name} is not a canary rollout; Tollgate drives canary steps only`,
        );
      }
      const patches = await plan(ro, at);
      let current = ro;
      try {
        for (const patch of patches) {
          current = await at.client.patchRollout(
            at.namespace,
            at.name,
            withResourceVersion(patch, current.metadata.resourceVersion),
            patch,
          );
        }
      } catch (e) {
        if (e instanceof ArgoRolloutsError && e.statusCode === 409) {
          if (attempt === 1) {
            this.#logger.info(
              `rollouts: ${action} of ${target} met a concurrent change (409); reading it again`,
            );
            continue;
          }
          throw new ArgoRolloutsError(
            `could not ${action} ${target}: the rollout changed again while Tollgate retried with a fresh resourceVersion (409 Conflict twice). ` +
              `Argo's controller or another client keeps writing to it; the gate loop will try again.`,
            {
              cluster: at.client.name,
              reason: 'Conflict',
              statusCode: 409,
              cause: e,
            },
          );
        }
        throw e;
      }
      if (patches.length)
        this.#logger.info(
          `rollouts: ${action} ${target} (${patches.length} patch${patches.length > 1 ? 'es' : ''})`,
        );
      return this.#map(at.client, current, [])!;
    }
  }

  #assertNotAborted(ro: ArgoRollout, at: Located, action: string) {
    if (ro.status?.abort) {
      throw invalidState(
        at.client.name,
        `cannot ${action} ${at.namespace}/${at.name}: the rollout is aborted; retry it first (status.abort: false, like kubectl argo rollouts retry)`,
      );
    }
  }

  /** `kubectl argo rollouts promote --full`: skip remaining steps, pauses and analysis. */
  #fullPromotion(ro: ArgoRollout): Patch[] {
    const patches: Patch[] = [];
    if (!ro.status?.promoteFull) {
      patches.push({
        subresource: 'status',
        strategy: 'merge',
        body: { status: { promoteFull: true } },
        precondition: true,
      });
    }
    if (ro.spec.paused)
      patches.push({
        strategy: 'merge',
        body: { spec: { paused: false } },
        precondition: true,
      });
    return patches;
  }

  /**
   * Moves the rollout to Tollgate step `stepIndex` (a `setWeight` of the
   * canary): `kubectl argo rollouts promote` — clear the pause
   * (`status.pauseConditions: null`), or set `status.currentStepIndex` to
   * that step's `setWeight` when pauses lie between. It never skips Argo's
   * own analysis or experiment steps: while one runs it refuses, and Argo
   * moves on by itself once it succeeds.
   */
  async setStep(target: string, stepIndex: number): Promise<ProviderRollout> {
    return this.#act(target, `move to step ${stepIndex}`, (ro, at) => {
      const where = `${at.namespace}/${at.name}`;
      this.#assertNotAborted(ro, at, 'move');
      if (isFullyPromoted(ro)) return [];
      const mapped = this.#map(at.client, ro, [])!;
      if (mapped.status === 'failed') {
        throw invalidState(
          at.client.name,
          `cannot move ${where}: Argo reports it Degraded (${ro.status?.message ?? 'failed'})`,
        );
      }
      const ladder = mapCanarySteps(canarySteps(ro), this.#indefinitePause);
      if (
        !Number.isInteger(stepIndex) ||
        stepIndex < 0 ||
        stepIndex >= ladder.steps.length
      ) {
        throw invalidState(
          at.client.name,
          `step ${stepIndex} does not exist: ${where} has ${ladder.steps.length} steps`,
        );
      }
      if (stepIndex <= mapped.currentStepIndex) return []; // already there (or past it)
      if (
        stepIndex === ladder.steps.length - 1 &&
        ladder.steps[stepIndex].weight >= 100
      )
        return this.#fullPromotion(ro);

      const steps = canarySteps(ro);
      const status = ro.status ?? {};
      const index = Math.min(status.currentStepIndex ?? 0, steps.length);
      const pauses = status.pauseConditions ?? [];
      const patches: Patch[] = [];
      if (ro.spec.paused)
        patches.push({
          strategy: 'merge',
          body: { spec: { paused: false } },
          precondition: true,
        });
      if (pauses.some(p => p.reason.startsWith('Inconclusive'))) {
        // A person decides past an inconclusive analysis: plain promote.
        patches.unshift({
          subresource: 'status',
          strategy: 'merge',
          body: { status: { pauseConditions: null } },
          precondition: true,
        });
        return patches;
      }
      const goal = ladder.argoIndexOfTollgate[stepIndex];
      let blocking: number | undefined;
      for (let i = index; i < goal; i++) {
        const kind = stepKind(steps[i]);
        if (kind === 'analysis' || kind === 'experiment') {
          blocking = i;
          break;
        }
      }
      if (blocking === index) {
        throw invalidState(
          at.client.name,
          `Argo Rollouts is running the ${stepKind(steps[index])} of step ${index + 1}/${steps.length} of ${where}; ` +
            `Tollgate does not skip Argo's analysis — Argo moves on by itself when it succeeds`,
        );
      }
      const next = blocking ?? goal;
      const clearOnly =
        stepKind(steps[index]) === 'pause' &&
        pauses.length > 0 &&
        next === index + 1;
      patches.unshift({
        subresource: 'status',
        strategy: 'merge',
        body: {
          status: clearOnly
            ? { pauseConditions: null }
            : { pauseConditions: null, currentStepIndex: next },
        },
        precondition: true,
      });
      return patches;
    });
  }

  /** Promote fully: `status.promoteFull: true` (`kubectl argo rollouts promote --full`). */
  async promote(target: string): Promise<ProviderRollout> {
    return this.#act(target, 'promote', (ro, at) => {
      this.#assertNotAborted(ro, at, 'promote');
      return isFullyPromoted(ro) ? [] : this.#fullPromotion(ro);
    });
  }

  /**
   * Roll back: `status.abort: true` (`kubectl argo rollouts abort`): Argo
   * sends all traffic to the stable ReplicaSet and scales the canary down.
   * With `undoOnRollback` it then restores the stable pod template (undo).
   * The abort carries no resourceVersion: it must not lose to a concurrent
   * controller write.
   */
  async rollback(target: string, reason: string): Promise<ProviderRollout> {
    const aborted = await this.#act(target, 'abort', (ro, at) => {
      if (isFullyPromoted(ro)) {
        throw invalidState(
          at.client.name,
          `cannot abort ${at.namespace}/${at.name}: it is fully promoted; undo it to return to the previous revision`,
        );
      }
      return ro.status?.abort
        ? []
        : [
            {
              subresource: 'status',
              strategy: 'merge',
              body: { status: { abort: true } },
              precondition: false,
            },
          ];
    });
    this.#logger.info(`rollouts: aborted ${target}: ${reason}`);
    if (!this.#undoOnRollback) return aborted;
    await this.undo(target);
    return aborted; // the aborted revision is what Tollgate tracks; undo starts a new (stable) one
  }

  /** Stop automatic progress: `spec.paused: true` (`kubectl argo rollouts pause`). */
  async pause(target: string): Promise<ProviderRollout> {
    return this.#act(target, 'pause', ro =>
      ro.spec.paused
        ? []
        : [
            {
              strategy: 'merge',
              body: { spec: { paused: true } },
              precondition: false,
            },
          ],
    );
  }

  /** Undo `pause`: `spec.paused: false`. Argo's own step pauses stay for the gate. */
  async resume(target: string): Promise<ProviderRollout> {
    return this.#act(target, 'resume', ro =>
      ro.spec.paused
        ? [
            {
              strategy: 'merge',
              body: { spec: { paused: false } },
              precondition: false,
            },
          ]
        : [],
    );
  }

  /** Restart an aborted rollout: `status.abort: false` (`kubectl argo rollouts retry rollout`). */
  async retry(target: string): Promise<ProviderRollout> {
    return this.#act(target, 'retry', ro =>
      ro.status?.abort
        ? [
            {
              subresource: 'status',
              strategy: 'merge',
              body: { status: { abort: false } },
              precondition: false,
            },
          ]
        : [],
    );
  }

  /**
   * Restore the stable revision's pod template into `spec.template` with a
   * JSON patch, as `kubectl argo rollouts undo` does (it reads the template
   * from the stable ReplicaSet; Argo then returns to the stable version
   * without steps).
   */
  async undo(target: string): Promise<ProviderRollout> {
    return this.#act(target, 'undo', async (ro, at) => {
      const where = `${at.namespace}/${at.name}`;
      if (ro.spec.workloadRef) {
        throw invalidState(
          at.client.name,
          `cannot undo ${where}: it uses workloadRef; undo the referenced ${ro.spec.workloadRef.kind ?? 'workload'} instead`,
        );
      }
      const stableHash = ro.status?.stableRS;
      if (!stableHash)
        throw invalidState(
          at.client.name,
          `cannot undo ${where}: Argo reports no stable revision`,
        );
      const stable = (await this.#ownedReplicaSets(at.client, ro)).find(
        rs => rs.metadata.labels?.[POD_TEMPLATE_HASH_LABEL] === stableHash,
      );
      const template = stable && rolloutTemplateOf(stable);
      if (!template)
        throw invalidState(
          at.client.name,
          `cannot undo ${where}: the stable ReplicaSet (${stableHash}) was not found`,
        );
      if (ro.spec.template && derivative(ro.spec.template, template)) return []; // already the stable template
      return [
        {
          strategy: 'json',
          body: [{ op: 'replace', path: '/spec/template', value: template }],
          precondition: true,
        },
      ];
    });
  }

  /**
   * Starts `version` on the target: sets the release container's image tag
   * to `version` with a JSON patch of `spec.template` (what `kubectl argo
   * rollouts set image <rollout> <container>=<image>:<version>` changes),
   * then waits until Argo's controller has taken up the new template
   * (`status.observedGeneration`), so the rollout returned is the new
   * revision at its first step. Does nothing when the image already carries
   * `version` (idempotent), and refuses while another version rolls out.
   */
  async startRelease(
    target: string,
    version: string,
    previousVersion?: string,
  ): Promise<ProviderRollout> {
    const key = this.normalizeTarget(target);
    const release = this.#releases.get(key);
    let image = '';
    await this.#act(target, `start ${version} on`, (ro, at) => {
      const where = `${at.namespace}/${at.name}`;
      if (ro.spec.workloadRef) {
        throw invalidState(
          at.client.name,
          `cannot start ${version} on ${where}: it uses workloadRef; its image is set on the referenced ${ro.spec.workloadRef.kind ?? 'workload'}, which Tollgate does not patch`,
        );
      }
      const plan = planRelease(ro, version, release);
      if (plan.kind === 'refused')
        throw invalidState(
          at.client.name,
          `cannot start ${version} on ${where}: ${plan.message}`,
        );
      image = plan.image;
      if (plan.kind === 'already') return [];
      const running = this.#map(at.client, ro, [])!;
      if (
        ['progressing', 'paused', 'awaiting-approval'].includes(running.status)
      )
        throw invalidState(
          at.client.name,
          `cannot start ${version} on ${where}: it is still rolling out ${running.version} (${running.status})`,
        );
      return [{ strategy: 'json', body: plan.ops, precondition: true }];
    });
    const at = this.#locate(key);
    const ro = await this.#observed(at, version);
    const replicaSets = await this.#ownedReplicaSetsOrNone(at.client, ro);
    const started = this.#map(at.client, ro, replicaSets)!;
    if (
      previousVersion !== undefined &&
      started.previousVersion !== undefined &&
      started.previousVersion !== previousVersion
    ) {
      this.#logger.info(
        `rollouts: ${key} starts ${version} (${image}) from ${started.previousVersion}, not from ${previousVersion} as the pipeline expected`,
      );
    }
    return started;
  }

  /** The rollout once Argo's controller has observed its current generation; throws (the patch stays) after the timeout. */
  async #observed(at: Located, version: string): Promise<ArgoRollout> {
    const deadline = performance.now() + this.#observeTimeoutMs;
    for (;;) {
      const ro = await at.client.getRollout(at.namespace, at.name);
      const seen = ro.status?.observedGeneration;
      if (seen === undefined || String(seen) === String(ro.metadata.generation))
        return ro;
      if (performance.now() >= deadline) {
        throw invalidState(
          at.client.name,
          `${version} was set on ${at.namespace}/${at.name}, but Argo's controller has not taken up generation ${ro.metadata.generation} ` +
            `within ${this.#observeTimeoutMs / 1000} s (observed ${seen}); is the controller running?`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 200));
    }
  }
}
