import type {
  AuditorService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  ACTIVE_ROLLOUT_STATUSES,
  actionRequestSchema,
  formatZodIssues,
  listRolloutsQuerySchema,
  rolloutReadPermission,
  type RolloutAction,
} from '@tollgate/plugin-rollouts-common';
import { randomUUID } from 'node:crypto';
import type { RolloutsStore, StoredRollout } from '../database/RolloutsStore';
import type { ActionService } from './ActionService';
import {
  decisionOutput,
  decisionView,
  rolloutInput,
  rolloutOutput,
  rolloutView,
} from './actionSchemas';
import {
  actionPermission,
  requirePermission,
  takeRolloutAction,
} from './rolloutAction';

/**
 * Tollgate's actions in Backstage's actions registry (ids `rollouts:<name>`),
 * for agents (through the MCP actions backend) and scripts. They take the
 * same path as the HTTP buttons: see ./rolloutAction.ts.
 */
export interface RolloutActionsOptions {
  registry: ActionsRegistryService;
  store: RolloutsStore;
  actions: ActionService;
  permissions: PermissionsService;
  auditor: AuditorService;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function quote(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/**
 * The rollout an input names: by id, or the active rollout of an entity
 * (`orLatest`: else its most recent one). Looking a service's rollouts up
 * by entity needs read permission on that entity.
 */
async function resolveRollout(
  store: RolloutsStore,
  permissions: PermissionsService,
  credentials: BackstageCredentials,
  input: { rolloutId?: string; entityRef?: string },
  orLatest: boolean,
): Promise<StoredRollout> {
  const { rolloutId, entityRef } = input;
  if (rolloutId !== undefined && entityRef !== undefined) {
    throw new InputError('rolloutId, entityRef: give one of them, not both');
  }
  if (rolloutId !== undefined) {
    if (!UUID.test(rolloutId))
      throw new InputError(
        `rolloutId: must be a rollout id (a UUID), got ${quote(rolloutId)}`,
      );
    const rollout = await store.getRollout(rolloutId);
    if (!rollout)
      throw new NotFoundError(`rolloutId: no rollout with id ${rolloutId}`);
    return rollout;
  }
  if (entityRef === undefined) {
    throw new InputError(
      "rolloutId: is required (or give entityRef to act on that service's active rollout)",
    );
  }
  const parsed = listRolloutsQuerySchema.safeParse({ entityRef });
  if (!parsed.success)
    throw new InputError(formatZodIssues(parsed.error).join('; '));
  const ref = stringifyEntityRef(
    parseEntityRef(entityRef, { defaultNamespace: 'default' }),
  );
  await requirePermission(permissions, credentials, rolloutReadPermission, ref);
  const active = await store.listRollouts({
    entityRefs: [ref],
    status: [...ACTIVE_ROLLOUT_STATUSES],
    limit: 10,
  });
  if (active.length > 1) {
    throw new InputError(
      `entityRef: ${ref} has ${active.length} active rollouts (${active.map(r => r.id).join(', ')}); give rolloutId instead`,
    );
  }
  let [found] = active;
  if (!found && orLatest)
    [found] = await store.listRollouts({ entityRefs: [ref], limit: 1 });
  if (!found)
    throw new NotFoundError(
      `entityRef: ${ref} has no ${orLatest ? '' : 'active '}rollout`,
    );
  // Lists leave the evidence out: read the full row.
  return (await store.getRollout(found.id)) ?? found;
}

/** The mutating actions: what they do and how the registry should describe them. */
const ACTIONS: Array<{
  action: RolloutAction;
  title: string;
  description: string;
  destructive: boolean;
  idempotent: boolean;
}> = [
  {
    action: 'promote',
    title: 'Promote a rollout',
    description:
      'Moves a rollout to its next step now (from the last step: to 100%), whatever the gate says; the decision log records it as an override when the gate had not said promote. Calling it again moves it another step, unless the same idempotencyKey is given.',
    destructive: true,
    idempotent: false,
  },
  {
    action: 'pause',
    title: 'Pause a rollout',
    description:
      'Pauses a rollout at its current step: the gate loop stops moving it until it is resumed. Pausing a paused rollout does nothing.',
    destructive: false,
    idempotent: true,
  },
  {
    action: 'resume',
    title: 'Resume a rollout',
    description:
      'Resumes a paused rollout: the gate loop moves it again. Resuming a progressing rollout does nothing.',
    destructive: false,
    idempotent: true,
  },
  {
    action: 'rollback',
    title: 'Roll a rollout back',
    description:
      'Rolls a rollout back at its deploy system: all traffic returns to the previous version. Rolling back a rolled-back rollout does nothing. For a rollout another controller drives (Flagger, Argo Rollouts judging through Tollgate) the rollback is handed to that controller at its next call.',
    destructive: true,
    idempotent: true,
  },
  {
    action: 'approve',
    title: 'Approve a rollout step',
    description:
      'Approves a rollout that waits for manual approval (status awaiting-approval) and moves it to its next step. Fails with a conflict when the rollout is not waiting for approval.',
    destructive: true,
    idempotent: false,
  },
];

/** Registers `rollouts:get-status` and one action per {@link RolloutAction}. */
export function registerRolloutActions(options: RolloutActionsOptions): void {
  const { registry, store, actions, permissions, auditor } = options;

  registry.register({
    name: 'get-status',
    title: 'Get the status of a rollout',
    description:
      "Returns a rollout's status, current step and traffic weight, the gate's latest verdict with its reasons, its last error, and the latest entry of its decision log. Give rolloutId, or entityRef for the service's active rollout (else its most recent one). Needs the rollouts.rollout.read permission on the service.",
    attributes: { readOnly: true, idempotent: true, destructive: false },
    schema: {
      input: z => z.object(rolloutInput(z)),
      output: z =>
        z.object({
          rollout: rolloutOutput(z),
          lastDecision: decisionOutput(z)
            .optional()
            .describe('The newest entry of its decision log'),
        }),
    },
    action: async ({ input, credentials }) => {
      const rollout = await resolveRollout(
        store,
        permissions,
        credentials,
        input,
        true,
      );
      await requirePermission(
        permissions,
        credentials,
        rolloutReadPermission,
        rollout.entityRef,
      );
      const { items } = await store.listDecisions({
        rolloutId: rollout.id,
        limit: 1,
      });
      return {
        output: {
          rollout: rolloutView(rollout),
          lastDecision: decisionView(items[0]),
        },
      };
    },
  });

  for (const spec of ACTIONS) {
    registry.register({
      name: spec.action,
      title: spec.title,
      description: `${spec.description} Needs the ${actionPermission[spec.action].name} permission on the service. Written to the decision log with the caller as actor and the reason given.`,
      attributes: {
        readOnly: false,
        destructive: spec.destructive,
        idempotent: spec.idempotent,
      },
      schema: {
        input: z =>
          z.object({
            ...rolloutInput(z),
            reason: z
              .string()
              .describe(
                'Why: written to the decision log (1 to 2000 characters)',
              ),
            idempotencyKey: z
              .string()
              .optional()
              .describe(
                "Optional, 8 to 128 letters, digits or _ . : - . A second call with the same key answers the first call's result without acting again. Without it every call is a new request.",
              ),
          }),
        output: z =>
          z.object({
            rollout: rolloutOutput(z),
            decision: decisionOutput(z)
              .optional()
              .describe('The decision log entry this call wrote'),
            alreadyInState: z
              .boolean()
              .describe(
                'True when nothing had to be done (e.g. rolling back a rolled-back rollout)',
              ),
            replayed: z
              .boolean()
              .describe(
                'True when this is the stored answer of an earlier call with the same idempotencyKey',
              ),
          }),
      },
      action: async ({ input, credentials }) => {
        // The HTTP route's own body schema, so both name the same fields the same way.
        const parsed = actionRequestSchema.safeParse({
          reason: input.reason,
          idempotencyKey: input.idempotencyKey ?? `action-${randomUUID()}`,
        });
        if (!parsed.success)
          throw new InputError(
            `invalid input: ${formatZodIssues(parsed.error).join('; ')}`,
          );
        const rollout = await resolveRollout(
          store,
          permissions,
          credentials,
          input,
          false,
        );
        const result = await takeRolloutAction(
          { actions, permissions, auditor },
          {
            rollout,
            action: spec.action,
            reason: parsed.data.reason,
            idempotencyKey: parsed.data.idempotencyKey,
            credentials,
            via: 'actions-registry',
          },
        );
        // As over HTTP, a replay answers the first call's stored result.
        return {
          output: {
            rollout: rolloutView(result.rollout),
            decision: decisionView(result.decision),
            alreadyInState: Boolean(result.alreadyInState),
            replayed: Boolean(result.replayed),
          },
        };
      },
    });
  }
}
