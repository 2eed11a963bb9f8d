export { StatusChip, VerdictChip, RubricChip } from './RolloutChips';
