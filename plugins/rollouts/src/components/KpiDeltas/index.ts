export { KpiDeltas } from './KpiDeltas';
