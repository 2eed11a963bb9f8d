import { createPermission } from '@backstage/plugin-permission-common';

/**
 * Tollgate's permissions. They are resource permissions on catalog
 * entities: the resource is the entity that owns the rollout, so a policy
 * can use the catalog's own rules (e.g. `isEntityOwner`) to let a service's
 * owners act on its rollouts.
 */
const RESOURCE_TYPE_CATALOG_ENTITY = 'catalog-entity';

/** See a rollout, its evidence and its decision log. @public */
export const rolloutReadPermission = createPermission({
  name: 'rollouts.rollout.read',
  attributes: { action: 'read' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Promote, pause and resume a rollout. @public */
export const rolloutPromotePermission = createPermission({
  name: 'rollouts.rollout.promote',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Roll a rollout back. @public */
export const rolloutRollbackPermission = createPermission({
  name: 'rollouts.rollout.rollback',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Approve a step that waits for manual approval. @public */
export const rolloutApprovePermission = createPermission({
  name: 'rollouts.rollout.approve',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Start the next stage of a multi-stage promotion before the current
 * stage's ladder and soak are done (`POST /v1/pipelines/:id/promote`).
 *
 * @public
 */
export const rolloutStagePromotePermission = createPermission({
  name: 'rollouts.stage.promote',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Register a rollout from CI (service credentials). @public */
export const rolloutRegisterPermission = createPermission({
  name: 'rollouts.rollout.register',
  attributes: { action: 'create' },
});

/**
 * Ask for gate verdicts and report progress as an external controller
 * (Argo Rollouts' `web` metric, Flagger webhooks). Service credentials only.
 * The resource is the catalog entity that claims the target, so a token
 * granted one service's entities cannot judge or register another's.
 *
 * @public
 */
export const rolloutJudgePermission = createPermission({
  name: 'rollouts.judge',
  attributes: { action: 'read' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Re-verify the whole decision log's hash chain (`GET /v1/decisions/verify`).
 * It reads every entry, so a policy may keep it to auditors and services.
 *
 * @public
 */
export const decisionLogVerifyPermission = createPermission({
  name: 'rollouts.decisions.verify',
  attributes: { action: 'read' },
});

/** Every Tollgate permission. @public */
export const rolloutsPermissions = [
  rolloutReadPermission,
  rolloutPromotePermission,
  rolloutRollbackPermission,
  rolloutApprovePermission,
  rolloutStagePromotePermission,
  rolloutRegisterPermission,
  rolloutJudgePermission,
  decisionLogVerifyPermission,
];
