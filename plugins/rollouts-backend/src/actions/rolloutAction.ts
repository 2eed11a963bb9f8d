import type {
  AuditorService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  type BasicPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  rolloutApprovePermission,
  rolloutPromotePermission,
  rolloutRollbackPermission,
  type RolloutAction,
} from '@tollgate/plugin-rollouts-common';
import type { Request } from 'express';
import type { StoredRollout } from '../database/RolloutsStore';
import type { ActionResult, ActionService } from './ActionService';

/**
 * The one path a person's action on a rollout takes, whether it comes from
 * the HTTP buttons (`POST /v1/rollouts/:id/actions/:action`) or from the
 * actions registry (agents, scripts, MCP): auditor event, permission check
 * on the rollout's entity, then {@link ActionService.act} (idempotency key,
 * provider call, decision log).
 */

/** The permission each action checks, on the catalog entity that owns the rollout. */
export const actionPermission: Record<
  RolloutAction,
  ResourcePermission<'catalog-entity'>
> = {
  promote: rolloutPromotePermission,
  pause: rolloutPromotePermission,
  resume: rolloutPromotePermission,
  approve: rolloutApprovePermission,
  rollback: rolloutRollbackPermission,
};

/** Who the decision log names: the user's entity ref, or `service:<subject>`. */
export function actorOf(credentials: BackstageCredentials): string {
  const principal = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  return principal.type === 'user'
    ? principal.userEntityRef!
    : `service:${principal.subject ?? 'unknown'}`;
}

/** Throws NotAllowedError naming the permission (and the entity) unless the policy allows it. */
export async function requirePermission(
  permissions: PermissionsService,
  credentials: BackstageCredentials,
  permission: ResourcePermission<'catalog-entity'> | BasicPermission,
  resourceRef?: string,
): Promise<void> {
  const [decision] = await permissions.authorize(
    [
      resourceRef
        ? {
            permission: permission as ResourcePermission<'catalog-entity'>,
            resourceRef,
          }
        : { permission: permission as BasicPermission },
    ],
    { credentials },
  );
  if (decision.result !== AuthorizeResult.ALLOW) {
    throw new NotAllowedError(
      `you lack the ${permission.name} permission${resourceRef ? ` on ${resourceRef}` : ''}`,
    );
  }
}

export interface RolloutActionDeps {
  actions: ActionService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

export interface RolloutActionRequest {
  rollout: StoredRollout;
  action: RolloutAction;
  /** Already validated (`actionRequestSchema`). */
  reason: string;
  idempotencyKey: string;
  credentials: BackstageCredentials;
  /** The HTTP request, when the action came over HTTP (the auditor reads the caller from it). */
  request?: Request;
  /** Where the action came from when it is not an HTTP request, for the audit log (e.g. `actions-registry`). */
  via?: string;
}

/** Audits, authorizes and takes one action on one rollout. */
export async function takeRolloutAction(
  deps: RolloutActionDeps,
  req: RolloutActionRequest,
): Promise<ActionResult> {
  const { rollout, action, credentials } = req;
  const principalType = (credentials.principal as { type: string }).type;
  if (principalType !== 'user' && principalType !== 'service') {
    throw new NotAllowedError(
      'credentials: a user or a service must take actions on rollouts, not an anonymous caller',
    );
  }
  const event = await deps.auditor.createEvent({
    eventId: 'rollout-action',
    severityLevel:
      action === 'rollback' || action === 'promote' ? 'high' : 'medium',
    request: req.request,
    meta: {
      action,
      rolloutId: rollout.id,
      entityRef: rollout.entityRef,
      reason: req.reason,
      ...(req.request
        ? {}
        : { actor: actorOf(credentials), via: req.via ?? 'backend' }),
    },
  });
  try {
    await requirePermission(
      deps.permissions,
      credentials,
      actionPermission[action],
      rollout.entityRef,
    );
    const result = await deps.actions.act({
      rolloutId: rollout.id,
      action,
      reason: req.reason,
      idempotencyKey: req.idempotencyKey,
      actor: actorOf(credentials),
    });
    await event.success({
      meta: {
        status: result.rollout.status,
        replayed: Boolean(result.replayed),
        alreadyInState: Boolean(result.alreadyInState),
      },
    });
    return result;
  } catch (error) {
    await event.fail({ error: error as Error });
    throw error;
  }
}
