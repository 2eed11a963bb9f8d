import { createBackend } from '@backstage/backend-defaults';
import { permissionPolicyModule } from './permissionPolicy';

const backend = createBackend();

backend.add(import('@backstage/plugin-app-backend'));
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(permissionPolicyModule);
backend.add(import('@backstage/plugin-notifications-backend'));
backend.add(import('@backstage/plugin-signals-backend'));
backend.add(import('@backstage/plugin-events-backend'));
// MCP server for agents at /api/mcp-actions/v1, serving the actions of the
// plugins listed in backend.actions.pluginSources (app-config.yaml).
backend.add(import('@backstage/plugin-mcp-actions-backend'));

// Tollgate
backend.add(import('@tollgate/plugin-rollouts-backend'));
backend.add(import('@tollgate/plugin-rollouts-backend-module-simulator'));

backend.start();
