export {
  ShadowPoliciesPanel,
  DISAGREEMENT_LABELS,
} from './ShadowPoliciesPanel';
export { ShadowVerdicts } from './ShadowVerdicts';
