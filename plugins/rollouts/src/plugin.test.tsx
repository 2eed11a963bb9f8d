// @vitest-environment jsdom
// material-ui-popup-state (used by plugin-catalog-react's peek-ahead popover) does not load as native ESM under vitest
vi.mock('material-ui-popup-state/HoverPopover', () => ({
  default: () => null,
}));
import * as legacy from './index';
import alphaPlugin, {
  entityRolloutsCard,
  entityRolloutsContent,
  rolloutsApi,
  rolloutsPage,
} from './alpha';
import { entity, entityWithoutAnnotation } from './__testUtils__/fixtures';

describe('plugin exports', () => {
  it('exposes the legacy plugin, its extensions and the API', () => {
    expect(legacy.rolloutsPlugin.getId()).toBe('rollouts');
    expect(legacy.rolloutsApiRef.id).toBe('plugin.rollouts.service');
    expect(legacy.rootRouteRef).toBeDefined();
    expect(typeof legacy.RolloutsPage).toBe('function');
    expect(typeof legacy.EntityRolloutsContent).toBe('function');
    expect(typeof legacy.EntityRolloutsCard).toBe('function');
    expect([...legacy.rolloutsPlugin.getApis()].map(f => f.api.id)).toEqual([
      'plugin.rollouts.service',
    ]);
  });

  it('tells which entities have rollouts', () => {
    expect(legacy.isRolloutsAvailable(entity)).toBe(true);
    expect(legacy.isRolloutsAvailable(entityWithoutAnnotation)).toBe(false);
  });

  it('builds the new-frontend-system plugin', () => {
    // `kind` is not part of the public type, but it is what the app uses to attach the extensions
    const kindOf = (e: unknown) => (e as { kind?: string }).kind;
    expect(alphaPlugin.pluginId).toBe('rollouts');
    expect(kindOf(rolloutsApi)).toBe('api');
    expect(kindOf(rolloutsPage)).toBe('page');
    expect(kindOf(entityRolloutsContent)).toBe('entity-content');
    expect(kindOf(entityRolloutsCard)).toBe('entity-card');
  });
});
