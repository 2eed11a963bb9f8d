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
  const batches: string[][] = [];
  // In batches: the permission backend refuses requests over 100 KB (413),
  // which one question per service passes at about 1,000 services. The
  // batches are asked at the same time, so the dashboard's wait for them is
  // one round trip, not one per 250 services.
  for (let i = 0; i < unique.length; i += AUTHORIZE_BATCH)
    batches.push(unique.slice(i, i + AUTHORIZE_BATCH));
  const answers = await Promise.all(
    batches.map(batch =>
      permissions.authorize(
        batch.map(resourceRef => ({
          permission: rolloutReadPermission,
          resourceRef,
        })),
        { credentials },
      ),
    ),
  );
  const allowed = new Set<string>();
  batches.forEach((batch, b) =>
    batch.forEach((ref, j) => {
      if (answers[b][j].result === AuthorizeResult.ALLOW) allowed.add(ref);
    }),
  );
  return allowed;
}
