export { StepLadder } from './StepLadder';
