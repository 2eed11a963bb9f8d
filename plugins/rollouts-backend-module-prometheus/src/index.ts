/**
 * Tollgate's Prometheus telemetry provider module: cohort telemetry from PromQL.
 *
 * @packageDocumentation
 */
export {
  rolloutsModulePrometheus as default,
  rolloutsModulePrometheus,
} from './module';
export { PrometheusTelemetryProvider } from './PrometheusTelemetryProvider';
export { PrometheusQueryError } from './PrometheusClient';
export type {
  PrometheusTelemetryProviderOptions,
  CohortLabels,
} from './config';
export { PLACEHOLDERS, type Placeholder } from './templates';
