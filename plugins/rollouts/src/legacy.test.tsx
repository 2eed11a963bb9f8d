// @vitest-environment jsdom
/**
 * The legacy frontend system keeps working: a legacy app (`@backstage/app-defaults`'
 * `createApp`, routes in JSX) mounts the legacy exports — `rolloutsPlugin`, `RolloutsPage`,
 * `EntityRolloutsContent`, `EntityRolloutsCard`, `isRolloutsAvailable` — as README's legacy
 * install section shows, and they render the rollouts from the API.
 */
import { useEffect } from 'react';
import { Route } from 'react-router-dom';
import { render, screen } from '@testing-library/react';
import { createApp } from '@backstage/app-defaults';
import { AppRouter, FlatRoutes } from '@backstage/core-app-api';
import {
  createApiFactory,
  type SignInPageProps,
} from '@backstage/core-plugin-api';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  EntityRolloutsCard,
  EntityRolloutsContent,
  OnCallPage,
  RolloutsPage,
  isRolloutsAvailable,
  rolloutsApiRef,
  rolloutsPlugin,
} from './index';
import { createMockApi, entity } from './__testUtils__/fixtures';
import { permissionApi } from './__testUtils__/render';

const guest = {
  getBackstageIdentity: async () => ({
    type: 'user' as const,
    userEntityRef: 'user:default/guest',
    ownershipEntityRefs: [],
  }),
  getCredentials: async () => ({}),
  getProfileInfo: async () => ({ displayName: 'Guest' }),
  signOut: async () => {},
};

const SignIn = (props: SignInPageProps) => {
  useEffect(() => props.onSignInSuccess(guest), [props]);
  return null;
};

function legacyApp(api: ReturnType<typeof createMockApi>) {
  // the legacy config loader reads process.env.APP_CONFIG as an array (a real process.env
  // would turn it into a string), as create-app's App.test does
  process.env = {
    ...process.env,
    APP_CONFIG: [
      {
        context: 'test',
        data: {
          app: { title: 'Legacy', baseUrl: 'http://localhost:3000' },
          backend: { baseUrl: 'http://localhost:7007' },
        },
      },
    ] as any,
  };
  const app = createApp({
    apis: [
      createApiFactory(rolloutsApiRef, api),
      createApiFactory(permissionApiRef, permissionApi()),
    ],
    plugins: [rolloutsPlugin],
    components: { SignInPage: SignIn },
  });
  const Root = app.createRoot(
    <AppRouter>
      <FlatRoutes>
        <Route path="/rollouts" element={<RolloutsPage />} />
        <Route path="/on-call" element={<OnCallPage />} />
        <Route
          path="/service"
          element={
            <EntityProvider entity={entity}>
              {isRolloutsAvailable(entity) && <EntityRolloutsCard />}
              <EntityRolloutsContent />
            </EntityProvider>
          }
        />
      </FlatRoutes>
    </AppRouter>,
  );
  return <Root />;
}

describe('legacy frontend system', () => {
  it('mounts the Rollouts page from the legacy exports', async () => {
    const api = createMockApi();
    window.history.pushState({}, '', '/rollouts');
    render(legacyApp(api));
    expect(
      (
        await screen.findAllByText('checkout-api', undefined, {
          timeout: 10_000,
        })
      ).length,
    ).toBeGreaterThan(0);
    expect(api.getSummary).toHaveBeenCalled();
  });

  it('mounts the On call page from the legacy exports', async () => {
    const api = createMockApi();
    window.history.pushState({}, '', '/on-call');
    render(legacyApp(api));
    expect(
      await screen.findByText('Nothing needs a person', undefined, {
        timeout: 10_000,
      }),
    ).toBeInTheDocument();
    expect(api.getAttention).toHaveBeenCalled();
  });

  it('mounts the entity card and tab from the legacy exports', async () => {
    const api = createMockApi();
    window.history.pushState({}, '', '/service');
    render(legacyApp(api));
    expect(
      await screen.findByRole(
        'link',
        { name: /View rollouts/ },
        { timeout: 10_000 },
      ),
    ).toBeInTheDocument();
    expect(
      await screen.findByRole('button', { name: 'Roll back' }),
    ).toBeInTheDocument();
    expect(api.listRollouts).toHaveBeenCalled();
  });
});
