/**
 * The parts of Argo Rollouts' `argoproj.io/v1alpha1` Rollout and of
 * `apps/v1` ReplicaSet that this module reads or writes. Field names follow
 * the Rollout CRD (see argo-rollouts `pkg/apis/rollouts/v1alpha1/types.go`).
 */

/** `group`, `version` and `plural` of the Rollout custom resource. */
export const ROLLOUT_GVR = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'rollouts',
} as const;

/** Label Argo puts on every ReplicaSet (and pod) it creates for a Rollout. */
export const POD_TEMPLATE_HASH_LABEL = 'rollouts-pod-template-hash';

/** Annotation with the Rollout revision a ReplicaSet belongs to. */
export const REVISION_ANNOTATION = 'rollout.argoproj.io/revision';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion?: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
  }>;
}

export interface PodTemplate {
  metadata?: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: {
    containers?: Array<{
      name: string;
      image?: string;
      [key: string]: unknown;
    }>;
    [key: string]: unknown;
  };
}

/** One canary step; exactly one field is set. */
export interface ArgoCanaryStep {
  setWeight?: number;
  /** `{}` waits until promoted; `{ duration }` waits that long (`30`, `"30s"`, `"5m"`, `"1h"`). */
  pause?: { duration?: string | number };
  analysis?: unknown;
  experiment?: unknown;
  setCanaryScale?: unknown;
  setHeaderRoute?: unknown;
  setMirrorRoute?: unknown;
  plugin?: unknown;
}

export interface ArgoPauseCondition {
  /** `CanaryPauseStep`, `BlueGreenPause`, `InconclusiveAnalysisRun`, `InconclusiveExperiment`. */
  reason: string;
  startTime: string;
}

export interface ArgoCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

export interface ArgoRollout {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: {
    paused?: boolean;
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: PodTemplate;
    workloadRef?: { apiVersion?: string; kind?: string; name?: string };
    strategy: {
      canary?: {
        steps?: ArgoCanaryStep[];
        trafficRouting?: unknown;
        [key: string]: unknown;
      };
      blueGreen?: unknown;
    };
    [key: string]: unknown;
  };
  status?: {
    phase?: string;
    message?: string;
    abort?: boolean;
    abortedAt?: string;
    promoteFull?: boolean;
    controllerPause?: boolean;
    pauseConditions?: ArgoPauseCondition[] | null;
    currentStepIndex?: number;
    currentPodHash?: string;
    stableRS?: string;
    canary?: {
      weights?: {
        canary?: { weight: number; podTemplateHash?: string };
        stable?: { weight: number; podTemplateHash?: string };
      };
      [key: string]: unknown;
    };
    conditions?: ArgoCondition[];
    [key: string]: unknown;
  };
}

export interface ReplicaSet {
  metadata: ObjectMeta;
  spec?: { template?: PodTemplate; [key: string]: unknown };
}
