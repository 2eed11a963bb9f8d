/**
 * Tollgate's backend plugin.
 *
 * @packageDocumentation
 */
export { rolloutsPlugin as default } from './plugin';
