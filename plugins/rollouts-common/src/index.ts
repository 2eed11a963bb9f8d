/**
 * Shared types, annotations, permissions and the gate engine of Tollgate.
 *
 * @packageDocumentation
 */
export * from './annotations';
export * from './permissions';
export * from './types';
export * from './schemas';
export * from './engine';
export * from './telemetry';
