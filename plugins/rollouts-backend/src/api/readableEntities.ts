import type {
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { rolloutReadPermission } from '@tollgate/plugin-rollouts-common';

/** Resources per permission request (each question is ~200 bytes of JSON). */
const AUTHORIZE_BATCH = 250;

/** The entity refs, of those given, whose rollouts the caller may read. */
export async function readableEntityRefs(
  permissions: PermissionsService,
  credentials: BackstageCredentials,
  refs: string[],
): Promise<Set<string>> {
  const unique = [...new Set(refs)];
  const allowed = new Set<string>();
  // In batches: the permission backend refuses requests over 100 KB (413),
  // which one question per service passes at about 1,000 services.
  for (let i = 0; i < unique.length; i += AUTHORIZE_BATCH) {
    const batch = unique.slice(i, i + AUTHORIZE_BATCH);
    const decisions = await permissions.authorize(
      batch.map(resourceRef => ({
        permission: rolloutReadPermission,
        resourceRef,
      })),
      { credentials },
    );
    batch.forEach((ref, j) => {
      if (decisions[j].result === AuthorizeResult.ALLOW) allowed.add(ref);
    });
  }
  return allowed;
}
