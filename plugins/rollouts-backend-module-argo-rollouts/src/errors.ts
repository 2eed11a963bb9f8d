/**
 * A Kubernetes API call of the Argo Rollouts provider failed, or Argo's
 * state does not allow what was asked. The message says what to do about it;
 * the fields let callers branch without parsing it.
 *
 * @public
 */
export class ArgoRolloutsError extends Error {
  override readonly name = 'ArgoRolloutsError';
  /** HTTP status of the Kubernetes API answer, when there was one. */
  readonly statusCode?: number;
  /** The Kubernetes Status `reason` (`Forbidden`, `NotFound`, `Conflict`…), or `Timeout`, `Unreachable`, `InvalidState`. */
  readonly reason: string;
  readonly cluster: string;

  constructor(
    message: string,
    options: {
      cluster: string;
      reason: string;
      statusCode?: number;
      cause?: unknown;
    },
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.cluster = options.cluster;
    this.reason = options.reason;
    this.statusCode = options.statusCode;
  }
}

/** A Kubernetes `Status` object, as the API returns it with an error. */
export interface KubernetesStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ reason?: string; message?: string; field?: string }>;
  };
}
