export { RolloutActions, ActionDialog, permissionHint } from './RolloutActions';
export type { ActionOutcome } from './RolloutActions';
