// The one evidence reader lives in @tollgate/plugin-rollouts-common (the
// backend's figures and the post-rollout report read with it too).
export {
  readBurnRows,
  readKeyNumbers,
  readSignals,
  type BurnRow,
  type KeyNumbers,
} from '@tollgate/plugin-rollouts-common';
