export { MetricsOverTime, TargetCohort } from './MetricsOverTime';
