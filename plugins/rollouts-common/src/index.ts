/**
 * Shared types, annotations, permissions, API schemas, and the telemetry and evidence types of
 * Tollgate (the gate engine itself is `@tollgate/plugin-rollouts-engine`).
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './attention';
export * from './permissions';
export * from './types';
export * from './schemas';
export * from './shadow';
export * from './stages';
export * from './evidence';
export * from './evidenceReader';
export * from './format';
export * from './report';
export * from './telemetry';
export * from './timeseries';
