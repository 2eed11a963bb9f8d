export { RolloutSummary } from './RolloutSummary';
