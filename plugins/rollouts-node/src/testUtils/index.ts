export { FakeDeployProvider, FakeTelemetryProvider } from './fakes';
export {
  FaultInjector,
  faultPlans,
  type Fault,
  type FaultPlan,
  type ProviderCall,
} from './faults';
export {
  catalogComponent,
  fakeProvidersModule,
  rolloutsPermissionsMock,
  type PermissionQuestion,
} from './backend';
