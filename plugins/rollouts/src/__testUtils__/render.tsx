import type { ReactNode } from 'react';
import { SWRConfig } from 'swr';
import {
  renderInTestApp,
  TestApiProvider,
  mockApis,
} from '@backstage/test-utils';
import { EntityProvider, catalogApiRef } from '@backstage/plugin-catalog-react';
import {
  permissionApiRef,
  type PermissionApi,
} from '@backstage/plugin-permission-react';
import type { Entity } from '@backstage/catalog-model';
import { identityApiRef } from '@backstage/core-plugin-api';
import { rolloutsApiRef, type RolloutsApi } from '../api';

/** A permission API that denies the listed permission names and allows the rest. */
export function permissionApi(deny: string[] = []): PermissionApi {
  return {
    authorize: async (req: { permission: { name: string } }) =>
      ({
        result: deny.includes(req.permission.name) ? 'DENY' : 'ALLOW',
      }) as any,
  } as unknown as PermissionApi;
}

export async function renderWithApis(
  ui: ReactNode,
  options: {
    api: RolloutsApi;
    entity?: Entity;
    deny?: string[];
    catalogApi?: unknown;
    /** The page's URL, e.g. `/?rollout=ro-1&decision=2`. */
    route?: string;
    /** The signed-in user's ownership refs (user and groups), for views that put "yours" first. */
    ownership?: string[];
  },
) {
  const apis: any[] = [
    [rolloutsApiRef, options.api],
    [
      permissionApiRef,
      options.deny ? permissionApi(options.deny) : mockApis.permission(),
    ],
  ];
  if (options.catalogApi) apis.push([catalogApiRef, options.catalogApi]);
  if (options.ownership)
    apis.push([
      identityApiRef,
      mockApis.identity({
        userEntityRef: options.ownership[0],
        ownershipEntityRefs: options.ownership,
      }),
    ]);
  // usePermission caches answers in SWR's global cache: a fresh cache per render keeps one
  // test's permissions from answering the next one's
  return renderInTestApp(
    <SWRConfig value={{ provider: () => new Map() }}>
      <TestApiProvider apis={apis as any}>
        {options.entity ? (
          <EntityProvider entity={options.entity}>{ui}</EntityProvider>
        ) : (
          ui
        )}
      </TestApiProvider>
    </SWRConfig>,
    options.route ? { routeEntries: [options.route] } : undefined,
  );
}
