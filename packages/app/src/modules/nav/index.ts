import { createFrontendModule } from '@backstage/frontend-plugin-api';
import { SidebarContent } from './Sidebar';
import { homeRedirect } from './HomeRedirect';

export const navModule = createFrontendModule({
  pluginId: 'app',
  extensions: [SidebarContent, homeRedirect],
});
