import type { RootConfigService } from '@backstage/backend-plugin-api';
import type { ArgoRolloutsClusterConfig } from './KubeClusterClient';
import type { IndefinitePauseMode } from './mapping';
import type { ArgoReleaseConfig } from './release';

/**
 * `rollouts.providers.argoRollouts`, read. See config.d.ts for each key.
 *
 * @public
 */
export interface ArgoRolloutsProviderConfig {
  id?: string;
  requestTimeoutSeconds?: number;
  indefinitePause?: IndefinitePauseMode;
  undoOnRollback?: boolean;
  clusters: ArgoRolloutsClusterConfig[];
  /** How `startRelease` sets a version's image, per target (checked when the provider is created). */
  releases?: ArgoReleaseConfig[];
}

const KEY = 'rollouts.providers.argoRollouts';

/** Reads the provider's config; undefined when the key is absent. Throws, naming the key, on a bad value. */
export function readArgoRolloutsConfig(
  config: RootConfigService,
): ArgoRolloutsProviderConfig | undefined {
  const c = config.getOptionalConfig(KEY);
  if (!c) return undefined;
  const indefinitePause = c.getOptionalString('indefinitePause');
  if (
    indefinitePause !== undefined &&
    indefinitePause !== 'approval' &&
    indefinitePause !== 'gate'
  ) {
    throw new Error(
      `${KEY}.indefinitePause must be "approval" or "gate", not "${indefinitePause}"`,
    );
  }
  const timeout = c.getOptionalNumber('requestTimeoutSeconds');
  if (timeout !== undefined && !(timeout > 0)) {
    throw new Error(
      `${KEY}.requestTimeoutSeconds must be a positive number of seconds`,
    );
  }
  const clusters = c.getConfigArray('clusters').map(cc => ({
    name: cc.getString('name'),
    url: cc.getOptionalString('url'),
    kubeconfig: cc.getOptionalString('kubeconfig'),
    context: cc.getOptionalString('context'),
    inCluster: cc.getOptionalBoolean('inCluster'),
    serviceAccountToken: cc.getOptionalString('serviceAccountToken'),
    caData: cc.getOptionalString('caData'),
    skipTLSVerify: cc.getOptionalBoolean('skipTLSVerify'),
    namespaces: cc.getOptionalStringArray('namespaces'),
  }));
  const names = clusters.map(cl => cl.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate)
    throw new Error(`${KEY}.clusters: the name "${duplicate}" is used twice`);
  return {
    id: c.getOptionalString('id'),
    requestTimeoutSeconds: timeout,
    indefinitePause,
    undoOnRollback: c.getOptionalBoolean('undoOnRollback'),
    clusters,
    releases: c.getOptionalConfigArray('releases')?.map(r => ({
      target: r.getString('target'),
      container: r.getOptionalString('container'),
      image: r.getOptionalString('image'),
    })),
  };
}
