export { RolloutHistory } from './RolloutHistory';
