export { DecisionTimeline } from './DecisionTimeline';
