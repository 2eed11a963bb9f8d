/**
 * The backend's internals, for tests and benchmarks: this repository's
 * (test/bench, test/reliability) and those of adopters who test against the
 * real store, gate loop and policy resolver rather than a fake.
 *
 * Not a stable API: these are the plugin's own classes and helpers, re-exported
 * as they are, and they change with the plugin without notice. Import them as
 * `@tollgate/plugin-rollouts-backend/testUtils`, never by a path into `src/`.
 *
 * @packageDocumentation
 */

// The store, its migrations and the decision log's hash chain.
export {
  DatabaseRolloutsStore,
  decisionHash,
  decisionRow,
  JsonOnce,
  migrateRolloutsDatabase,
  sealDecision,
  type DecisionRow,
} from '../database/DatabaseRolloutsStore';
export type { RolloutsStore } from '../database/RolloutsStore';
export { GENESIS_HASH } from '../database/canonical';
export { figureColumns } from '../database/figures';
export { preferSqliteWal } from '../database/sqliteJournal';
export { discoveredRollout } from './rollouts';

// The gate loop and what it is built from.
export { GateLoop, type GateLoopRunResult } from '../loop/GateLoop';
export { ProviderRegistry } from '../providers/ProviderRegistry';
export { RolloutEvents } from '../events/RolloutEvents';
export { EntityIndex, type EntityLookup } from '../catalog/EntityIndex';

// Policies and the engine's inputs built from them.
export { PolicyResolver } from '../policy/PolicyResolver';
export { validatePolicyObject, validatePolicyYaml } from '../policy/policy';
export { gateContextFor, gatePolicyFor } from '../evaluation/gateInputs';

// The summary the API serves.
export { computeSummary } from '../summary/summary';
