export { FakeDeployProvider, FakeTelemetryProvider } from './fakes';
