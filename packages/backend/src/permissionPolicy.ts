import { createBackendModule } from '@backstage/backend-plugin-api';
import {
  catalogConditions,
  createCatalogConditionalDecision,
} from '@backstage/plugin-catalog-backend/alpha';
import {
  AuthorizeResult,
  isPermission,
  isResourcePermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  type PermissionPolicy,
  type PolicyQuery,
  type PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import {
  rolloutApprovePermission,
  rolloutJudgePermission,
  rolloutPromotePermission,
  rolloutRegisterPermission,
  rolloutRollbackPermission,
  rolloutStagePromotePermission,
} from '@tollgate/plugin-rollouts-common';

const ACT = [
  rolloutPromotePermission,
  rolloutRollbackPermission,
  rolloutApprovePermission,
  rolloutStagePromotePermission,
];

/**
 * The demo's permission policy: everyone may read; a service's rollouts
 * may be promoted, rolled back and approved (and their pipeline's next
 * stage promoted early) only by members of the
 * service's owning group (the catalog's `isEntityOwner` rule on the
 * user's ownership refs); CI registers rollouts and Argo Rollouts or
 * Flagger ask for verdicts with service tokens.
 */
export class DemoRolloutsPolicy implements PermissionPolicy {
  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    if (
      ACT.some(p => isPermission(request.permission, p)) &&
      isResourcePermission(request.permission, 'catalog-entity')
    ) {
      const claims = user?.info.ownershipEntityRefs ?? [];
      return createCatalogConditionalDecision(
        request.permission,
        catalogConditions.isEntityOwner({ claims }),
      );
    }
    if (
      isPermission(request.permission, rolloutRegisterPermission) ||
      isPermission(request.permission, rolloutJudgePermission)
    ) {
      // Users never register or judge rollouts; service principals (CI, Argo, Flagger) do.
      return { result: user ? AuthorizeResult.DENY : AuthorizeResult.ALLOW };
    }
    return { result: AuthorizeResult.ALLOW };
  }
}

export const permissionPolicyModule = createBackendModule({
  pluginId: 'permission',
  moduleId: 'tollgate-demo-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint },
      async init({ policy }) {
        policy.setPolicy(new DemoRolloutsPolicy());
      },
    });
  },
});
