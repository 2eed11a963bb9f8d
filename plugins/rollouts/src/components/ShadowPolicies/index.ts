export {
  ShadowPoliciesPanel,
  DISAGREEMENT_LABELS,
} from './ShadowPoliciesPanel';
