export { PipelineView, countdown } from './PipelineView';
export { PipelineCard } from './PipelineCard';
