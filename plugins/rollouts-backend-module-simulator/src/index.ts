/**
 * Tollgate's simulator provider module.
 *
 * @packageDocumentation
 */
export {
  rolloutsModuleSimulator as default,
  rolloutsModuleSimulator,
} from './module';
export {
  Simulation,
  DEFAULT_STEPS,
  type SimulatedService,
  type Scenario,
  type SimulationOptions,
} from './Simulation';
export { DEMO_SERVICES } from './demoServices';
export type { SimulatorCall } from './stateFile';
