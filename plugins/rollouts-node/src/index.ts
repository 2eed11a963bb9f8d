/**
 * Extension points and provider interfaces for Tollgate backend modules.
 *
 * @packageDocumentation
 */
export * from './providers';
export * from './extensions';
