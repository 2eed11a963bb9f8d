import type { ReactNode } from 'react';
import { renderInTestApp, TestApiProvider, mockApis } from '@backstage/test-utils';
import { EntityProvider, catalogApiRef } from '@backstage/plugin-catalog-react';
import { permissionApiRef, type PermissionApi } from '@backstage/plugin-permission-react';
import type { Entity } from '@backstage/catalog-model';
import { rolloutsApiRef, type RolloutsApi } from '../api';

/** A permission API that denies the listed permission names and allows the rest. */
export function permissionApi(deny: string[] = []): PermissionApi {
  return {
    authorize: async (req: { permission: { name: string } }) =>
      ({ result: deny.includes(req.permission.name) ? 'DENY' : 'ALLOW' }) as any,
  } as unknown as PermissionApi;
}

export async function renderWithApis(
  ui: ReactNode,
  options: { api: RolloutsApi; entity?: Entity; deny?: string[]; catalogApi?: unknown },
) {
  const apis: any[] = [
    [rolloutsApiRef, options.api],
    [permissionApiRef, options.deny ? permissionApi(options.deny) : mockApis.permission()],
  ];
  if (options.catalogApi) apis.push([catalogApiRef, options.catalogApi]);
  return renderInTestApp(
    <TestApiProvider apis={apis as any}>
      {options.entity ? <EntityProvider entity={options.entity}>{ui}</EntityProvider> : ui}
    </TestApiProvider>,
  );
}
